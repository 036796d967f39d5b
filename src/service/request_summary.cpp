#include "service/request_summary.h"

#include <charconv>

#include "protocol/pkt_line.h"
#include "util/error.h"

namespace gsh {

void count_fetch_line(RequestSummary &s, std::string_view line) {
    if (line.starts_with("want ") || line.starts_with("want-ref ")) {
        ++s.wants;
    } else if (line.starts_with("have ")) {
        ++s.haves;
    } else if (line.starts_with("deepen ")) {
        std::string_view n = line.substr(7);
        long long depth = -1;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), depth);
        s.depth = (ec == std::errc() && end == n.data() + n.size() && depth >= 0) ? depth : -1;
    } else if (line.starts_with("filter ")) {
        s.filter = std::string(line.substr(7));
    }
}

RequestSummary summarize_v2(const proto::V2Request &req) {
    RequestSummary s;
    if (req.command == "ls-refs" || req.command == "object-info")
        s.command = req.command;
    if (req.command != "fetch")
        return s;
    s.command = "fetch";
    s.wants = s.haves = 0;
    for (const std::string &arg : req.args)
        count_fetch_line(s, arg);
    return s;
}

RequestSummary summarize_v0(std::string_view body) {
    RequestSummary s;
    s.command = "fetch";
    s.wants = s.haves = 0;
    proto::PktReader reader(body);
    try {
        for (proto::Pkt pkt = reader.next(); pkt.kind != proto::PktKind::End; pkt = reader.next())
            if (pkt.kind == proto::PktKind::Data)
                count_fetch_line(s, pkt.data);
    } catch (const Error &) {
        // A malformed body is answered elsewhere (400).
    }
    return s;
}

} // namespace gsh

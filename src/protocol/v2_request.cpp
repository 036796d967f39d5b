#include "protocol/v2_request.h"

#include "util/error.h"

namespace gsh::proto {

V2Request parse_v2_request(std::string_view body) {
    PktReader reader(body);
    return parse_v2_request(reader);
}

V2Request parse_v2_request(PktReader &reader, const ArgStop &stop) {
    V2Request req;
    Pkt pkt = reader.next();
    if (pkt.kind == PktKind::End || pkt.kind == PktKind::Flush)
        return req;
    bool in_args = false;
    for (;; pkt = reader.next()) {
        if (pkt.kind == PktKind::Flush)
            break;
        if (pkt.kind == PktKind::End)
            throw Error("protocol error: expected flush after the request", 400);
        if (pkt.kind == PktKind::ResponseEnd)
            throw Error("protocol error: unexpected response-end packet", 400);
        if (pkt.kind == PktKind::Delim) {
            if (in_args)
                throw Error("protocol error: unexpected delim packet", 400);
            in_args = true;
            continue;
        }
        std::string line(pkt.data);
        if (in_args) {
            req.args.push_back(std::move(line));
            if (stop && !req.command.empty() && stop(req, req.args.back())) {
                req.cut = true;
                return req;
            }
        } else if (line.starts_with("command=")) {
            if (!req.command.empty())
                throw Error("command supplied twice", 400);
            req.command = line.substr(8);
        } else {
            req.capabilities.push_back(std::move(line));
        }
    }
    if (!reader.at_end())
        throw Error("protocol error: data after the request's flush packet", 400);
    if (req.command.empty())
        throw Error("no command requested", 400);
    return req;
}

int protocol_version(std::string_view value) {
    int version = 0;
    while (!value.empty()) {
        size_t colon = value.find(':');
        std::string_view item = value.substr(0, colon);
        value = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
        if (!item.starts_with("version="))
            continue;
        std::string_view num = item.substr(8);
        if (num.size() == 1 && num[0] >= '0' && num[0] <= '2' && num[0] - '0' > version)
            version = num[0] - '0';
    }
    return version;
}

} // namespace gsh::proto

#include "service/client_note.h"

#include "protocol/pkt_line.h"
#include "util/error.h"

namespace gsh {

namespace {

void add(std::string &note, std::string_view key, std::string_view value) {
    if (!note.empty())
        note += ", ";
    note.append(key);
    note += " \"";
    note.append(value);
    note += '"';
}

} // namespace

std::string client_note_v2(const proto::V2Request &req) {
    std::string note;
    for (const std::string &cap : req.capabilities) {
        std::string_view c = cap;
        if (c.starts_with("session-id="))
            add(note, "session-id", c.substr(11));
        else if (c.starts_with("server-option="))
            add(note, "server-option", c.substr(14));
    }
    return note;
}

bool note_v0_line(std::string_view line, std::string *note) {
    if (!line.starts_with("want "))
        return false;
    size_t pos = line.find(" session-id=");
    if (pos == std::string_view::npos)
        return false;
    std::string_view value = line.substr(pos + 12);
    add(*note, "session-id", value.substr(0, value.find(' ')));
    return true;
}

std::string client_note_v0(std::string_view body) {
    proto::PktReader reader(body);
    try {
        std::string note;
        for (proto::Pkt pkt = reader.next(); pkt.kind == proto::PktKind::Data; pkt = reader.next())
            if (note_v0_line(pkt.data, &note))
                return note;
    } catch (const Error &) {
        // A malformed body is answered elsewhere; there is nothing to note.
    }
    return std::string();
}

} // namespace gsh

// Request bodies and answers written as lists of pkt-line payloads.
#pragma once

#include <string>
#include <vector>

#include "protocol/pkt_line.h"

namespace gsh::test {

// Each line as one pkt-line, "FLUSH" as a flush-pkt, "DELIM" as a delim-pkt.
inline std::string pkts(const std::vector<std::string> &lines) {
    std::string out;
    for (const std::string &l : lines)
        if (l == "FLUSH")
            proto::pkt_flush(out);
        else if (l == "DELIM")
            proto::pkt_delim(out);
        else
            proto::pkt_write_line(out, l);
    return out;
}

} // namespace gsh::test

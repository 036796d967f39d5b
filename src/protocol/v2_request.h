// A protocol v2 command request (gitprotocol-v2): command, capabilities, args.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gsh::proto {

struct V2Request {
    std::string command;                   // "ls-refs", "fetch"; empty: no command
    std::vector<std::string> capabilities; // "agent=...", "object-format=sha1", ...
    std::vector<std::string> args;         // lines after the delimiter
};

// Parses one request from a stateless-rpc body. A body that is only a flush
// (or empty) gives an empty command. Malformed input throws gsh::Error (400).
V2Request parse_v2_request(std::string_view body);

// The highest "version=N" in a Git-Protocol header value ("version=2:k=v").
int protocol_version(std::string_view git_protocol);

} // namespace gsh::proto

// A protocol v2 command request (gitprotocol-v2): command, capabilities, args.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pkt_line.h"

namespace gsh::proto {

struct V2Request {
    std::string command;                   // "ls-refs", "fetch"; empty: no command
    std::vector<std::string> capabilities; // "agent=...", "object-format=sha1", ...
    std::vector<std::string> args;         // lines after the delimiter
    // The parse stopped after the last of args (see ArgStop): the rest of
    // the body was not read.
    bool cut = false;
};

// Called with each argument line as it is read, the request so far holding
// the command: true stops the parse after that line, which the answer then
// refuses (a limit passed, a want we lack), so the rest of the body is never
// read, however large or malformed.
using ArgStop = std::function<bool(const V2Request &so_far, std::string_view arg)>;

// Parses one request from a stateless-rpc body, reading it no further than
// it needs. A body that is only a flush (or empty) gives an empty command.
// Malformed input throws gsh::Error (400).
V2Request parse_v2_request(PktReader &reader, const ArgStop &stop = {});
V2Request parse_v2_request(std::string_view body);

// The version a Git-Protocol header value asks for, as git's
// determine_protocol_version_server() reads GIT_PROTOCOL: the highest of the
// ':'-separated items that are exactly "version=0", "=1" or "=2"; other items
// ("version=23", "version=02", "k=v") are ignored. 0 when none.
int protocol_version(std::string_view git_protocol);

} // namespace gsh::proto

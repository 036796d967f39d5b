// What a request asked for, in the terms of an access log: the command, how
// many wants and haves it sent, the depth and filter of a shallow or partial
// fetch. Counted from the request as sent, before anything is refused, so
// that a refused or malformed fetch is logged with what it asked.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/v2_request.h"

namespace gsh {

struct RequestSummary {
    std::string command;               // "advertise", "ls-refs", "fetch", "object-info"; ""
    long long wants = -1, haves = -1;  // -1: not a fetch
    long long depth = -1;              // N of "deepen N"; -1: none
    std::optional<std::string> filter; // the spec of "filter <spec>"
};

// A command git does not have gives an empty command: the client's text is
// not worth a log field.
RequestSummary summarize_v2(const proto::V2Request &req);
// A v0/v1 POST is always a fetch (upload-pack has no other command there).
// A malformed body gives the counts up to where it breaks.
RequestSummary summarize_v0(std::string_view body);
// Adds one line of a fetch (v0 and v2 share these words) to s: for a v0
// request counted as it is read, up to where the reading stops (a limit, a
// want we lack).
void count_fetch_line(RequestSummary &s, std::string_view line);

} // namespace gsh

// The session-id a server advertises when transfer.advertiseSID is true.
#pragma once

#include <string>

namespace gsh {

// git's trace2 session id: UTC time to the microsecond, a hash of the host
// name and the process id ("20240102T030405.123456Z-H1a2b3c4d-P00001234").
// One nginx worker answers many requests, so a sequence number follows to
// keep the id unique per request.
std::string new_session_id();

} // namespace gsh

// What a client tells about itself that upload-pack only records (git
// writes it to trace2): its session-id and its v2 server-option lines.
// The text is for the error log; "" when the client said nothing.
#pragma once

#include <string>
#include <string_view>

#include "protocol/v2_request.h"

namespace gsh {

std::string client_note_v2(const proto::V2Request &req);
// From the "session-id=" feature of the want lines of a v0/v1 request.
std::string client_note_v0(std::string_view body);
// The same for one line as it is read: true when it noted the session-id (a
// want line's "session-id=" feature) in *note.
bool note_v0_line(std::string_view line, std::string *note);

} // namespace gsh

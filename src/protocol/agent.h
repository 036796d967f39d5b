// The agent this server names itself with, in both services' capabilities.
#pragma once

namespace gsh {

inline constexpr const char *kAgent = "git-smart-http/0.1";

} // namespace gsh

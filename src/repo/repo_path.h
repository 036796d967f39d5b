// Finding a repository under the root from the name in the URI.
#pragma once

#include <string>
#include <string_view>

namespace gsh {

// The git directory that `name` (the decoded URI after the location prefix)
// names under root, tried as git's enter_repo() does: name/.git, name,
// name.git/.git, name.git. Throws gsh::Error(404) when there is none, when
// it is not exported (no git-daemon-export-ok unless export_all), or when the
// name or a symlink would lead outside the root: the same answer for all, so
// that the response never says which.
std::string resolve_repository(std::string_view root, std::string_view name, bool export_all);

} // namespace gsh

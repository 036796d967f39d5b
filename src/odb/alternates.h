// objects/info/alternates: the object folders a repository borrows from.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gsh {

// The entries of an alternates file as git 2.39 parses them: one a line,
// lines starting with '#' skipped, a line starting with '"' C-unquoted
// (broken quoting is taken as it is), empty entries skipped. Unresolved.
std::vector<std::string> parse_alternates(std::string_view text);

// Every alternate object folder of objects_dir as git links them: depth
// first, in file order, a relative entry taken from the folder whose file
// names it, each made canonical (realpath), missing ones and repeats (of
// objects_dir too) skipped, no deeper than git goes. objects_dir excluded.
std::vector<std::string> list_alternates(const std::string &objects_dir);

} // namespace gsh

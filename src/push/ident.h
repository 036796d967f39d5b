// The committer identity of a push, as git writes it into reflogs.
#pragma once

#include <string>
#include <string_view>

namespace gsh {

// git's ident rule for a name or an e-mail address (ident.c, "without
// crud"): leading and trailing bytes up to space, and , : ; < > " \ ', go;
// '\n', '<' and '>' go wherever they are, since they delimit the fields of
// an ident line. A user name comes from an HTTP header, so this is what
// keeps it from forging reflog fields.
std::string ident_without_crud(std::string_view s);

} // namespace gsh

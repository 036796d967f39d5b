// git's rules for a ref name (git-check-ref-format(1)), as git 2.39's
// check_refname_format applies them, byte for byte. libgit2's own check is
// looser (it lets DEL through, among others), and a name git's other tools
// cannot read breaks them: `git gc` dies on a ref named refs/heads/a<DEL>b.
#pragma once

#include <string_view>

namespace gsh {

// The flags of check_refname_format.
enum RefnameFlags : unsigned {
    kRefnameAllowOnelevel = 1u,  // one component is enough ("HEAD", "main")
    kRefnameRefspecPattern = 2u, // one '*' may stand anywhere in the name
};

// Whether git would take name as a ref name under flags: components split
// by '/', none empty, none starting with '.' or ending in ".lock"; no "..",
// no "@{", no byte below 0x20, no DEL, none of " :?[\^~" nor '*' (but for
// one with kRefnameRefspecPattern); not ending in '.'; not the name "@";
// at least two components unless kRefnameAllowOnelevel. Bytes 0x80 and up
// are taken as they are. A NUL byte, which no C string git is given can
// hold, makes any name invalid.
bool refname_format_ok(std::string_view name, unsigned flags = 0);

// Whether receive-pack takes name as the target of a pushed command: it
// starts with "refs/" and what follows passes refname_format_ok with no
// flag (so refs/HEAD, refs/FETCH_HEAD and refs/main, one component after
// "refs/", are refused too). Anything else git refuses as "funny refname".
bool pushable_refname(std::string_view name);

} // namespace gsh

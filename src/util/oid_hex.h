// An object id as the 40 hex digits git prints, and read back.
#pragma once

#include <git2.h>

#include <string>
#include <string_view>

namespace gsh {

inline std::string oid_hex(const git_oid &oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    return buf;
}

// Exactly 40 hex digits, either case.
inline bool parse_oid(std::string_view hex, git_oid *out) {
    if (hex.size() != GIT_OID_HEXSZ)
        return false;
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    return git_oid_fromstrn(out, hex.data(), hex.size()) == 0;
}

} // namespace gsh

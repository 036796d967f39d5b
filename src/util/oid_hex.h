// An object id as the 40 hex digits git prints.
#pragma once

#include <git2.h>

#include <string>

namespace gsh {

inline std::string oid_hex(const git_oid &oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    return buf;
}

} // namespace gsh

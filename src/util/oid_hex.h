// An object id as the 40 hex digits git prints, and read back.
#pragma once

#include <git2.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gsh {

inline std::string oid_hex(const git_oid &oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    return buf;
}

namespace detail {
// The value of a hex digit, or 0xff: one table look-up per digit, as a
// request may name 50,000 ids.
constexpr std::array<uint8_t, 256> kHexValue = [] {
    std::array<uint8_t, 256> t{};
    t.fill(0xff);
    for (int c = 0; c < 10; c++)
        t['0' + c] = uint8_t(c);
    for (int c = 0; c < 6; c++)
        t['a' + c] = t['A' + c] = uint8_t(10 + c);
    return t;
}();
} // namespace detail

// Exactly 40 hex digits, either case.
inline bool parse_oid(std::string_view hex, git_oid *out) {
    if (hex.size() != GIT_OID_HEXSZ)
        return false;
    git_oid oid;
    uint8_t bad = 0;
    for (size_t i = 0; i < GIT_OID_RAWSZ; i++) {
        const uint8_t hi = detail::kHexValue[uint8_t(hex[2 * i])];
        const uint8_t lo = detail::kHexValue[uint8_t(hex[2 * i + 1])];
        bad |= hi | lo;
        oid.id[i] = uint8_t(hi << 4 | lo);
    }
    if (bad & 0xf0)
        return false;
    *out = oid;
    return true;
}

} // namespace gsh

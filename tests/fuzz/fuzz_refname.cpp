// Ref names: the core's check against git-check-ref-format(1)'s rules
// written out again the plain way (split at '/', test each rule on its
// own), both ways: nothing the rules forbid passes, nothing they allow is
// refused. Input: a flags byte (its low two bits), then the name.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "repo/refname.h"

namespace {

bool rules_allow(std::string_view name, unsigned flags) {
    if (name.empty() || name == "@" || name.find('\0') != std::string_view::npos)
        return false;
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f || std::string_view(" :?[\\^~").find(char(c)) != name.npos)
            return false;
    if (name.find("..") != name.npos || name.find("@{") != name.npos || name.back() == '.')
        return false;
    const auto stars = std::count(name.begin(), name.end(), '*');
    if (stars > (flags & gsh::kRefnameRefspecPattern ? 1 : 0))
        return false;
    std::vector<std::string_view> parts;
    for (size_t pos = 0;;) {
        const size_t slash = name.find('/', pos);
        parts.push_back(name.substr(pos, slash == name.npos ? name.npos : slash - pos));
        if (slash == name.npos)
            break;
        pos = slash + 1;
    }
    for (std::string_view p : parts)
        if (p.empty() || p.front() == '.' || p.ends_with(".lock"))
            return false;
    return parts.size() >= 2 || (flags & gsh::kRefnameAllowOnelevel);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    const unsigned flags = data[0] & 3u;
    const std::string_view name(reinterpret_cast<const char *>(data + 1), size - 1);
    const bool ok = gsh::refname_format_ok(name, flags);
    if (ok != rules_allow(name, flags))
        abort();
    // A flag only ever lets more names through.
    if (ok && !gsh::refname_format_ok(name, 3u))
        abort();
    // The push rule is the check behind "refs/" with no flag.
    if (gsh::pushable_refname("refs/" + std::string(name)) != gsh::refname_format_ok(name, 0))
        abort();
    if (gsh::pushable_refname(name) &&
        (!name.starts_with("refs/") || !gsh::refname_format_ok(name.substr(5), 0)))
        abort();
    return 0;
}

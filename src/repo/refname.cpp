#include "repo/refname.h"

#include <array>
#include <cstdint>

namespace gsh {

namespace {

// What a byte means inside a component.
enum class Byte : uint8_t {
    Plain,
    Slash, // ends the component
    Dot,   // bad after another dot
    Brace, // '{', bad after '@'
    Bad,   // never in a name
    Star,  // only in a refspec pattern, once
};

constexpr std::array<Byte, 256> make_table() {
    std::array<Byte, 256> t{};
    for (int c = 0; c < 0x20; c++)
        t[c] = Byte::Bad;
    for (unsigned char c : std::string_view(" :?[\\^~\x7f"))
        t[c] = Byte::Bad;
    t['/'] = Byte::Slash;
    t['.'] = Byte::Dot;
    t['{'] = Byte::Brace;
    t['*'] = Byte::Star;
    return t;
}

constexpr std::array<Byte, 256> kTable = make_table();

constexpr std::string_view kLock = ".lock";

// The component of name starting at pos: its length, or -1 when it breaks a
// rule. An empty component is a broken one. *flags loses
// kRefnameRefspecPattern once a '*' has used it up.
long component(std::string_view name, size_t pos, unsigned *flags) {
    size_t end = pos;
    unsigned char last = 0;
    for (; end < name.size(); end++) {
        const unsigned char c = static_cast<unsigned char>(name[end]);
        const Byte kind = kTable[c];
        if (kind == Byte::Slash)
            break;
        switch (kind) {
        case Byte::Bad:
            return -1;
        case Byte::Dot:
            if (last == '.')
                return -1;
            break;
        case Byte::Brace:
            if (last == '@')
                return -1;
            break;
        case Byte::Star:
            if (!(*flags & kRefnameRefspecPattern))
                return -1;
            *flags &= ~kRefnameRefspecPattern;
            break;
        default:
            break;
        }
        last = c;
    }
    const std::string_view comp = name.substr(pos, end - pos);
    if (comp.empty() || comp.front() == '.' || comp.ends_with(kLock))
        return -1;
    return static_cast<long>(comp.size());
}

} // namespace

bool refname_format_ok(std::string_view name, unsigned flags) {
    if (name == "@" || name.find('\0') != std::string_view::npos)
        return false;
    size_t pos = 0;
    size_t components = 0;
    for (;;) {
        const long len = component(name, pos, &flags);
        if (len < 0)
            return false;
        components++;
        const size_t end = pos + static_cast<size_t>(len);
        if (end == name.size())
            break;
        pos = end + 1; // past the '/'
    }
    if (name.back() == '.')
        return false;
    return components >= 2 || (flags & kRefnameAllowOnelevel);
}

bool pushable_refname(std::string_view name) {
    constexpr std::string_view kRefs = "refs/";
    return name.starts_with(kRefs) && refname_format_ok(name.substr(kRefs.size()), 0);
}

} // namespace gsh

#include "walk/sparse_patterns.h"

#include <cctype>
#include <cstring>

namespace gsh::pack {

namespace {

enum Result { kMatch, kNoMatch, kAbortAll, kAbortToStarStar };

bool glob_special(char c) {
    return c == '*' || c == '?' || c == '[' || c == '\\';
}

bool in_class(std::string_view name, unsigned char c) {
    if (name == "alnum")
        return std::isalnum(c);
    if (name == "alpha")
        return std::isalpha(c);
    if (name == "blank")
        return c == ' ' || c == '\t';
    if (name == "cntrl")
        return std::iscntrl(c);
    if (name == "digit")
        return std::isdigit(c);
    if (name == "graph")
        return std::isgraph(c);
    if (name == "lower")
        return std::islower(c);
    if (name == "print")
        return std::isprint(c);
    if (name == "punct")
        return std::ispunct(c);
    if (name == "space")
        return std::isspace(c);
    if (name == "upper")
        return std::isupper(c);
    return std::isxdigit(c);
}

// A bracket expression at p (just after '['): whether t matches it; p ends
// on its closing ']'. kAbortAll when the expression is malformed.
Result bracket(std::string_view pat, size_t &p, unsigned char t, bool pathname) {
    auto at = [&](size_t i) -> unsigned char { return i < pat.size() ? pat[i] : 0; };
    unsigned char c = at(p);
    bool negated = false;
    if (c == '!' || c == '^') {
        negated = true;
        c = at(++p);
    }
    unsigned char prev = 0;
    bool matched = false;
    do {
        if (!c)
            return kAbortAll;
        if (c == '\\') {
            c = at(++p);
            if (!c)
                return kAbortAll;
            if (t == c)
                matched = true;
        } else if (c == '-' && prev && at(p + 1) && at(p + 1) != ']') {
            c = at(++p);
            if (c == '\\') {
                c = at(++p);
                if (!c)
                    return kAbortAll;
            }
            if (t <= c && t >= prev)
                matched = true;
            c = 0;
        } else if (c == '[' && at(p + 1) == ':') {
            const size_t s = p + 2;
            size_t e = s;
            while (at(e) && at(e) != ']')
                e++;
            if (!at(e))
                return kAbortAll;
            if (e == s || at(e - 1) != ':') {
                // No ":]": an ordinary '['.
                if (t == '[')
                    matched = true;
            } else {
                static const char *const kClasses[] = {"alnum", "alpha", "blank", "cntrl",
                                                       "digit", "graph", "lower", "print",
                                                       "punct", "space", "upper", "xdigit"};
                const std::string_view name = pat.substr(s, e - 1 - s);
                bool known = false;
                for (const char *k : kClasses)
                    known |= name == k;
                if (!known)
                    return kAbortAll;
                if (in_class(name, t))
                    matched = true;
                p = e;
                c = 0;
            }
        } else if (t == c) {
            matched = true;
        }
        prev = c;
        c = at(++p);
    } while (c != ']');
    if (matched == negated || (pathname && t == '/'))
        return kNoMatch;
    return kMatch;
}

Result dowild(std::string_view pat, size_t p, std::string_view text, size_t t, bool pathname) {
    auto pc = [&](size_t i) -> unsigned char { return i < pat.size() ? pat[i] : 0; };
    auto tc = [&](size_t i) -> unsigned char { return i < text.size() ? text[i] : 0; };
    for (; pc(p); t++, p++) {
        unsigned char c = pc(p);
        const unsigned char ch = tc(t);
        if (!ch && c != '*')
            return kAbortAll;
        switch (c) {
        case '\\':
            c = pc(++p);
            [[fallthrough]];
        default:
            if (ch != c)
                return kNoMatch;
            continue;
        case '?':
            if (pathname && ch == '/')
                return kNoMatch;
            continue;
        case '[': {
            ++p;
            const Result r = bracket(pat, p, ch, pathname);
            if (r != kMatch)
                return r;
            continue;
        }
        case '*': {
            bool match_slash;
            if (pc(++p) == '*') {
                const bool at_start = p < 2 || pc(p - 2) == '/';
                while (pc(++p) == '*') {
                }
                if (at_start && (!pc(p) || pc(p) == '/' || (pc(p) == '\\' && pc(p + 1) == '/'))) {
                    // "**/" may match no directory at all.
                    if (pc(p) == '/' && dowild(pat, p + 1, text, t, pathname) == kMatch)
                        return kMatch;
                    match_slash = true;
                } else {
                    match_slash = false;
                }
            } else {
                match_slash = !pathname;
            }
            if (!pc(p)) {
                if (!match_slash && text.find('/', t) != std::string_view::npos)
                    return kNoMatch;
                return kMatch;
            }
            if (!match_slash && pc(p) == '/') {
                const size_t slash = text.find('/', t);
                if (slash == std::string_view::npos)
                    return kNoMatch;
                t = slash; // the loop consumes the slash
                break;
            }
            for (unsigned char cur = tc(t); cur; cur = tc(++t)) {
                if (!glob_special(char(pc(p)))) {
                    // A literal follows: skip to its next occurrence.
                    while (tc(t) && (match_slash || tc(t) != '/') && tc(t) != pc(p))
                        t++;
                    if (tc(t) != pc(p))
                        return kNoMatch;
                    cur = tc(t);
                }
                const Result r = dowild(pat, p, text, t, pathname);
                if (r != kNoMatch) {
                    if (!match_slash || r != kAbortToStarStar)
                        return r;
                } else if (!match_slash && cur == '/') {
                    return kAbortToStarStar;
                }
            }
            return kAbortAll;
        }
        }
    }
    return t < text.size() ? kNoMatch : kMatch;
}

// trim_trailing_spaces(): unescaped trailing spaces go.
void trim_trailing_spaces(std::string &s) {
    size_t last_space = std::string::npos;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == ' ') {
            if (last_space == std::string::npos)
                last_space = i;
        } else if (s[i] == '\\') {
            if (++i == s.size())
                return;
            last_space = std::string::npos;
        } else {
            last_space = std::string::npos;
        }
    }
    if (last_space != std::string::npos)
        s.resize(last_space);
}

size_t simple_length(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && !glob_special(s[i]))
        i++;
    return i;
}

} // namespace

bool wildmatch(std::string_view pattern, std::string_view text, bool pathname) {
    return dowild(pattern, 0, text, 0, pathname) == kMatch;
}

SparsePatterns::SparsePatterns(std::string_view text) {
    if (text.starts_with("\xef\xbb\xbf"))
        text.remove_prefix(3);
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string line(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty() || line[0] == '#')
            continue;
        if (line.back() == '\r')
            line.pop_back();
        trim_trailing_spaces(line);
        Pattern pat{};
        std::string_view p = line;
        if (p.starts_with('!')) {
            pat.negative = true;
            p.remove_prefix(1);
        }
        if (!p.empty() && p.back() == '/') {
            p.remove_suffix(1);
            pat.must_be_dir = true;
        }
        pat.no_dir = p.find('/') == std::string_view::npos;
        pat.no_wildcard_len = std::min(simple_length(p), p.size());
        pat.ends_with = p.starts_with('*') && simple_length(p.substr(1)) == p.size() - 1;
        pat.text = std::string(p);
        patterns_.push_back(std::move(pat));
    }
}

SparsePatterns::Match SparsePatterns::match(std::string_view path, bool is_dir) const {
    const size_t slash = path.rfind('/');
    const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
    for (auto it = patterns_.rbegin(); it != patterns_.rend(); ++it) {
        const Pattern &pat = *it;
        if (pat.must_be_dir && !is_dir)
            continue;
        std::string_view p = pat.text;
        bool hit;
        if (pat.no_dir) {
            if (pat.no_wildcard_len == p.size())
                hit = base == p;
            else if (pat.ends_with)
                hit = base.size() >= p.size() - 1 && base.ends_with(p.substr(1));
            else
                hit = wildmatch(p, base, false);
        } else {
            size_t prefix = pat.no_wildcard_len;
            if (p.starts_with('/')) {
                p.remove_prefix(1);
                prefix--;
            }
            std::string_view name = path;
            if (prefix) {
                if (prefix > name.size() || name.substr(0, prefix) != p.substr(0, prefix)) {
                    continue;
                }
                p.remove_prefix(prefix);
                name.remove_prefix(prefix);
                if (p.empty() && name.empty()) {
                    hit = true;
                    goto decided;
                }
            }
            hit = wildmatch(p, name, true);
        }
    decided:
        if (hit)
            return pat.negative ? Match::NotMatched : Match::Matched;
    }
    return Match::Undecided;
}

} // namespace gsh::pack

#include "odb/alternates.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>

namespace gsh {

namespace {

// git's link_alt_odb_entries stops reading files past this depth.
constexpr int kMaxAlternateDepth = 5;

std::optional<std::string> real_path(const std::string &path) {
    char *real = ::realpath(path.c_str(), nullptr);
    if (!real)
        return std::nullopt;
    std::string out = real;
    std::free(real);
    return out;
}

int octal(char c) {
    return c >= '0' && c <= '7' ? c - '0' : -1;
}

// One C-quoted string at the start of s (s[0] == '"'), as git's
// unquote_c_style reads it; *used is how many bytes it took, the closing
// quote included. nullopt when the quoting is broken.
std::optional<std::string> unquote_c(std::string_view s, size_t *used) {
    std::string out;
    for (size_t i = 1; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '"') {
            *used = i + 1;
            return out;
        }
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        if (++i >= s.size())
            return std::nullopt;
        static constexpr std::string_view kFrom = "abfnrtv\\\"", kTo = "\a\b\f\n\r\t\v\\\"";
        if (const size_t k = kFrom.find(s[i]); k != std::string_view::npos) {
            out.push_back(kTo[k]);
            continue;
        }
        if (s[i] < '0' || s[i] > '3' || i + 2 >= s.size() || octal(s[i + 1]) < 0 ||
            octal(s[i + 2]) < 0)
            return std::nullopt;
        out.push_back(char((s[i] - '0') << 6 | octal(s[i + 1]) << 3 | octal(s[i + 2])));
        i += 2;
    }
    return std::nullopt;
}

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_dir(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class Linker {
  public:
    explicit Linker(const std::string &objects_dir) {
        if (auto real = real_path(objects_dir))
            seen_.insert(*real);
    }

    void read(const std::string &dir, int depth) {
        if (depth > kMaxAlternateDepth)
            return;
        const std::string text = read_file(dir + "/info/alternates");
        if (text.empty())
            return;
        const std::string base = real_path(dir).value_or(dir);
        for (const std::string &entry : parse_alternates(text)) {
            std::optional<std::string> path =
                real_path(entry[0] == '/' ? entry : base + "/" + entry);
            // git reports a missing alternate and goes on without it.
            if (!path || !is_dir(*path) || !seen_.insert(*path).second)
                continue;
            out_.push_back(*path);
            read(*path, depth + 1);
        }
    }

    std::vector<std::string> take() { return std::move(out_); }

  private:
    std::set<std::string> seen_;
    std::vector<std::string> out_;
};

} // namespace

std::vector<std::string> parse_alternates(std::string_view text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        const std::string_view rest = text.substr(pos);
        size_t end = std::min(rest.find('\n'), rest.size());
        std::string entry;
        size_t used = 0;
        if (rest[0] == '#') {
            // a comment: nothing
        } else if (std::optional<std::string> q; rest[0] == '"' && (q = unquote_c(rest, &used))) {
            entry = std::move(*q);
            end = used;
        } else {
            entry = std::string(rest.substr(0, end));
        }
        // git steps over one byte after the entry, the '\n' when all is well.
        pos += std::min(end + 1, rest.size());
        if (!entry.empty())
            out.push_back(std::move(entry));
    }
    return out;
}

std::vector<std::string> list_alternates(const std::string &objects_dir) {
    Linker linker(objects_dir);
    linker.read(objects_dir, 0);
    return linker.take();
}

} // namespace gsh

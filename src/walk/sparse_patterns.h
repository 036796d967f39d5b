// The sparse-checkout patterns of a sparse:oid filter: gitignore syntax,
// matched as git matches a non-cone pattern list (the last matching pattern
// decides; '!' negates; a trailing '/' matches directories only; a pattern
// without '/' matches the base name, one with '/' the whole path).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gsh::pack {

class SparsePatterns {
  public:
    // The lines of a blob (a missing final newline is fine).
    explicit SparsePatterns(std::string_view text);

    enum class Match { Undecided, Matched, NotMatched };
    // path: the full path without a trailing slash ("" for the root tree).
    Match match(std::string_view path, bool is_dir) const;

  private:
    struct Pattern {
        std::string text;
        size_t no_wildcard_len;
        bool negative, must_be_dir, no_dir, ends_with;
    };
    std::vector<Pattern> patterns_;
};

// git's wildmatch(); with pathname, '*' and '?' do not match '/' and "**/"
// matches any number of directories.
bool wildmatch(std::string_view pattern, std::string_view text, bool pathname);

} // namespace gsh::pack

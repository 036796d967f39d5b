// A repository's config values as git reads them, for the keys a service
// honours.
#pragma once

#include <git2.h>

#include <string>
#include <vector>

namespace gsh {

struct ConfigEntry {
    git_config_level_t level;
    std::string name; // lower-cased section and key, as libgit2 gives it
    std::string value;
    bool implicit = false; // "[section] key" with no "=": true for a boolean

    // git_config_bool(), but a bad value is false instead of fatal.
    bool as_bool() const;
};

// Every value of the keys, ordered from the system file to the repository's
// so that, applied in order, the last one wins as in git. (libgit2 lists the
// most specific first; its whole-config iterator leaks pcre2 match data in
// 1.5, so the keys are asked one by one, and two keys in one file are not
// interleaved as git would.) Throws gsh::Error when the config is unreadable.
std::vector<ConfigEntry> read_config_entries(git_repository *repo,
                                             const std::vector<std::string> &keys);

} // namespace gsh

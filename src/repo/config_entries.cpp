#include "repo/config_entries.h"

#include <algorithm>

#include "util/git_ptr.h"

namespace gsh {

bool ConfigEntry::as_bool() const {
    int b = 0;
    return implicit || (git_config_parse_bool(&b, value.c_str()) == 0 && b);
}

std::vector<ConfigEntry> read_config_entries(git_repository *repo,
                                             const std::vector<std::string> &keys) {
    git_config *raw = nullptr;
    git_check(git_repository_config_snapshot(&raw, repo), "reading the repository config");
    ConfigPtr cfg(raw);
    std::vector<ConfigEntry> entries;
    for (const std::string &key : keys) {
        const int rc = git_config_get_multivar_foreach(
            cfg.get(), key.c_str(), nullptr,
            [](const git_config_entry *e, void *payload) {
                static_cast<std::vector<ConfigEntry> *>(payload)->push_back(
                    {e->level, e->name, e->value ? e->value : "", !e->value});
                return 0;
            },
            &entries);
        if (rc != GIT_ENOTFOUND)
            git_check(rc, "reading the repository config");
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const ConfigEntry &a, const ConfigEntry &b) { return a.level < b.level; });
    return entries;
}

} // namespace gsh

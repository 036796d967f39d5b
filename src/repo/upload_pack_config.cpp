#include "repo/upload_pack_config.h"

#include <algorithm>
#include <cstring>

#include "repo/git_ptr.h"

namespace gsh {

void HiddenRefs::add(std::string pattern) {
    while (!pattern.empty() && pattern.back() == '/')
        pattern.pop_back();
    patterns_.push_back(std::move(pattern));
}

bool HiddenRefs::hidden(std::string_view refname) const {
    for (auto it = patterns_.rbegin(); it != patterns_.rend(); ++it) {
        std::string_view pattern = *it;
        bool negated = pattern.starts_with('!');
        if (negated)
            pattern.remove_prefix(1);
        // Without namespaces the full name and the stripped name are the same.
        if (pattern.starts_with('^'))
            pattern.remove_prefix(1);
        if (refname.starts_with(pattern) &&
            (refname.size() == pattern.size() || refname[pattern.size()] == '/'))
            return !negated;
    }
    return false;
}

namespace {

struct Entry {
    git_config_level_t level;
    size_t order;
    std::string name;
    std::string value;
};

bool config_bool(const std::string &value) {
    int b = 0;
    return git_config_parse_bool(&b, value.c_str()) == 0 && b;
}

} // namespace

UploadPackConfig load_upload_pack_config(git_repository *repo) {
    git_config *raw = nullptr;
    git_check(git_repository_config_snapshot(&raw, repo), "reading the repository config");
    ConfigPtr cfg(raw);

    // git reads config files from the system one to the repository's, in file
    // order, and the last value wins; libgit2 iterates the most specific first.
    std::vector<Entry> entries;
    git_config_iterator *it_raw = nullptr;
    git_check(git_config_iterator_glob_new(&it_raw, cfg.get(), "^(uploadpack|transfer)\\."),
              "reading the repository config");
    std::unique_ptr<git_config_iterator, decltype(&git_config_iterator_free)> it(
        it_raw, &git_config_iterator_free);
    git_config_entry *e = nullptr;
    while (git_config_next(&e, it.get()) == 0)
        entries.push_back({e->level, entries.size(), e->name, e->value ? e->value : ""});
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry &a, const Entry &b) { return a.level < b.level; });

    UploadPackConfig conf;
    for (const Entry &entry : entries) {
        const std::string &n = entry.name;
        if (n == "uploadpack.hiderefs" || n == "transfer.hiderefs") {
            conf.hidden.add(entry.value);
            continue;
        }
        unsigned bit = 0;
        if (n == "uploadpack.allowtipsha1inwant")
            bit = kAllowTipSha1;
        else if (n == "uploadpack.allowreachablesha1inwant")
            bit = kAllowReachableSha1;
        else if (n == "uploadpack.allowanysha1inwant")
            bit = kAllowAnySha1;
        if (bit) {
            if (config_bool(entry.value))
                conf.allow_uor |= bit;
            else
                conf.allow_uor &= ~bit;
        }
    }
    return conf;
}

} // namespace gsh

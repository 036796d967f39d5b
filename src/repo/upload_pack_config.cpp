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
    bool implicit = false; // "[section] key" with no "=": true for a boolean
};

bool config_bool(const Entry &entry) {
    int b = 0;
    return entry.implicit || (git_config_parse_bool(&b, entry.value.c_str()) == 0 && b);
}

// git_config_ulong() (which would die on a bad value: refuse every depth).
uint64_t config_ulong(const std::string &value) {
    pack::ObjectFilter f;
    std::string error;
    if (pack::parse_filter("tree:" + value, &f, &error))
        return f.value;
    return 0;
}

} // namespace

UploadPackConfig load_upload_pack_config(git_repository *repo) {
    git_config *raw = nullptr;
    git_check(git_repository_config_snapshot(&raw, repo), "reading the repository config");
    ConfigPtr cfg(raw);

    // git reads config files from the system one to the repository's, in file
    // order, and the last value wins; libgit2 lists the most specific first.
    // (Its whole-config iterator leaks pcre2 match data in 1.5, so ask by key;
    // transfer.* and uploadpack.* in one file are not interleaved as git would.)
    std::vector<Entry> entries;
    std::vector<std::string> keys = {"http.uploadpack",
                                     "transfer.hiderefs",
                                     "uploadpack.hiderefs",
                                     "uploadpack.allowtipsha1inwant",
                                     "uploadpack.allowreachablesha1inwant",
                                     "uploadpack.allowanysha1inwant",
                                     "uploadpack.allowfilter",
                                     "uploadpackfilter.allow",
                                     "uploadpackfilter.tree.maxdepth",
                                     "uploadpack.allowrefinwant",
                                     "uploadpack.allowsidebandall",
                                     "transfer.advertisesid"};
    // Subsections are case-sensitive: the names git compares them with.
    for (const char *name :
         {"blob:none", "blob:limit", "tree", "sparse:oid", "object:type", "combine"})
        keys.push_back(std::string("uploadpackfilter.") + name + ".allow");
    for (const std::string &key : keys) {
        int rc = git_config_get_multivar_foreach(
            cfg.get(), key.c_str(), nullptr,
            [](const git_config_entry *e, void *payload) {
                auto *out = static_cast<std::vector<Entry> *>(payload);
                out->push_back(
                    {e->level, out->size(), e->name, e->value ? e->value : "", !e->value});
                return 0;
            },
            &entries);
        if (rc != GIT_ENOTFOUND)
            git_check(rc, "reading the repository config");
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry &a, const Entry &b) { return a.level < b.level; });

    UploadPackConfig conf;
    for (const Entry &entry : entries) {
        const std::string &n = entry.name;
        if (n == "http.uploadpack") {
            conf.http_uploadpack = config_bool(entry);
            continue;
        }
        if (n == "uploadpack.hiderefs" || n == "transfer.hiderefs") {
            conf.hidden.add(entry.value);
            continue;
        }
        if (n == "uploadpack.allowfilter") {
            conf.allow_filter = config_bool(entry);
            continue;
        }
        if (n == "uploadpackfilter.allow") {
            conf.filter_policy.fallback = config_bool(entry);
            continue;
        }
        if (n == "uploadpackfilter.tree.maxdepth") {
            // As git: a depth limit allows tree filters (up to it).
            conf.filter_policy.allowed.emplace_back("tree", true);
            conf.filter_policy.tree_max_depth = config_ulong(entry.value);
            continue;
        }
        if (n.starts_with("uploadpackfilter.") && n.ends_with(".allow")) {
            const size_t first = n.find('.') + 1;
            conf.filter_policy.allowed.emplace_back(n.substr(first, n.size() - 6 - first),
                                                    config_bool(entry));
            continue;
        }
        if (n == "uploadpack.allowrefinwant") {
            conf.allow_ref_in_want = config_bool(entry);
            continue;
        }
        if (n == "uploadpack.allowsidebandall") {
            conf.allow_sideband_all = config_bool(entry);
            continue;
        }
        if (n == "transfer.advertisesid") {
            conf.advertise_sid = config_bool(entry);
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
            if (config_bool(entry))
                conf.allow_uor |= bit;
            else
                conf.allow_uor &= ~bit;
        }
    }
    return conf;
}

} // namespace gsh

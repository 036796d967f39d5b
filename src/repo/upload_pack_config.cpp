#include "repo/upload_pack_config.h"

#include <algorithm>
#include <cstring>

#include "repo/config_entries.h"

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
    std::vector<std::string> keys = {"http.uploadpack",
                                     "http.getanyfile",
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
                                     "transfer.advertisesid",
                                     "uploadpack.keepalive"};
    // Subsections are case-sensitive: the names git compares them with.
    for (const char *name :
         {"blob:none", "blob:limit", "tree", "sparse:oid", "object:type", "combine"})
        keys.push_back(std::string("uploadpackfilter.") + name + ".allow");
    const std::vector<ConfigEntry> entries = read_config_entries(repo, keys);

    UploadPackConfig conf;
    for (const ConfigEntry &entry : entries) {
        const std::string &n = entry.name;
        if (n == "http.uploadpack") {
            conf.http_uploadpack = entry.as_bool();
            continue;
        }
        if (n == "http.getanyfile") {
            conf.http_getanyfile = entry.as_bool();
            continue;
        }
        if (n == "uploadpack.hiderefs" || n == "transfer.hiderefs") {
            conf.hidden.add(entry.value);
            continue;
        }
        if (n == "uploadpack.allowfilter") {
            conf.allow_filter = entry.as_bool();
            continue;
        }
        if (n == "uploadpackfilter.allow") {
            conf.filter_policy.fallback = entry.as_bool();
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
                                                    entry.as_bool());
            continue;
        }
        if (n == "uploadpack.allowrefinwant") {
            conf.allow_ref_in_want = entry.as_bool();
            continue;
        }
        if (n == "uploadpack.allowsidebandall") {
            conf.allow_sideband_all = entry.as_bool();
            continue;
        }
        if (n == "transfer.advertisesid") {
            conf.advertise_sid = entry.as_bool();
            continue;
        }
        if (n == "uploadpack.keepalive") {
            // git dies on a value it cannot read; keeping the last one
            // serves the request instead.
            int32_t seconds = 0;
            if (git_config_parse_int32(&seconds, entry.value.c_str()) == 0)
                conf.keepalive = seconds;
            else
                git_error_clear();
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
            if (entry.as_bool())
                conf.allow_uor |= bit;
            else
                conf.allow_uor &= ~bit;
        }
    }
    return conf;
}

} // namespace gsh

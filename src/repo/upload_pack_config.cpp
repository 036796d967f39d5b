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

// The boolean keys that set one member each, the last value winning.
constexpr struct {
    const char *name;
    bool UploadPackConfig::*member;
} kBoolKeys[] = {
    {"http.uploadpack", &UploadPackConfig::http_uploadpack},
    {"http.getanyfile", &UploadPackConfig::http_getanyfile},
    {"uploadpack.allowfilter", &UploadPackConfig::allow_filter},
    {"uploadpack.allowrefinwant", &UploadPackConfig::allow_ref_in_want},
    {"uploadpack.allowsidebandall", &UploadPackConfig::allow_sideband_all},
    {"transfer.advertisesid", &UploadPackConfig::advertise_sid},
};

// uploadpack.allow*SHA1InWant: each sets or clears its own bits.
constexpr struct {
    const char *name;
    unsigned bit;
} kUorKeys[] = {
    {"uploadpack.allowtipsha1inwant", kAllowTipSha1},
    {"uploadpack.allowreachablesha1inwant", kAllowReachableSha1},
    {"uploadpack.allowanysha1inwant", kAllowAnySha1},
};

std::vector<std::string> upload_pack_keys() {
    std::vector<std::string> keys = {"transfer.hiderefs", "uploadpack.hiderefs",
                                     "uploadpackfilter.allow", "uploadpackfilter.tree.maxdepth",
                                     "uploadpack.keepalive"};
    for (const auto &k : kBoolKeys)
        keys.push_back(k.name);
    for (const auto &k : kUorKeys)
        keys.push_back(k.name);
    // Subsections are case-sensitive: the names git compares them with.
    for (const char *name :
         {"blob:none", "blob:limit", "tree", "sparse:oid", "object:type", "combine"})
        keys.push_back(std::string("uploadpackfilter.") + name + ".allow");
    return keys;
}

// uploadpackfilter.*: false when the entry is none of them.
bool apply_filter_entry(UploadPackConfig &conf, const ConfigEntry &entry) {
    const std::string &n = entry.name;
    if (n == "uploadpackfilter.allow") {
        conf.filter_policy.fallback = entry.as_bool();
        return true;
    }
    if (n == "uploadpackfilter.tree.maxdepth") {
        // As git: a depth limit allows tree filters (up to it).
        conf.filter_policy.allowed.emplace_back("tree", true);
        conf.filter_policy.tree_max_depth = config_ulong(entry.value);
        return true;
    }
    if (n.starts_with("uploadpackfilter.") && n.ends_with(".allow")) {
        const size_t first = n.find('.') + 1;
        conf.filter_policy.allowed.emplace_back(n.substr(first, n.size() - 6 - first),
                                                entry.as_bool());
        return true;
    }
    return false;
}

void apply_entry(UploadPackConfig &conf, const ConfigEntry &entry) {
    const std::string &n = entry.name;
    for (const auto &k : kBoolKeys)
        if (n == k.name) {
            conf.*k.member = entry.as_bool();
            return;
        }
    for (const auto &k : kUorKeys)
        if (n == k.name) {
            if (entry.as_bool())
                conf.allow_uor |= k.bit;
            else
                conf.allow_uor &= ~k.bit;
            return;
        }
    if (n == "uploadpack.hiderefs" || n == "transfer.hiderefs") {
        conf.hidden.add(entry.value);
        return;
    }
    if (n == "uploadpack.keepalive") {
        // git dies on a value it cannot read; keeping the last one
        // serves the request instead.
        int32_t seconds = 0;
        if (git_config_parse_int32(&seconds, entry.value.c_str()) == 0)
            conf.keepalive = seconds;
        else
            git_error_clear();
        return;
    }
    apply_filter_entry(conf, entry);
}

} // namespace

UploadPackConfig load_upload_pack_config(git_repository *repo) {
    UploadPackConfig conf;
    for (const ConfigEntry &entry : read_config_entries(repo, upload_pack_keys()))
        apply_entry(conf, entry);
    return conf;
}

} // namespace gsh

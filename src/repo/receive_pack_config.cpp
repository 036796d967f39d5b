#include "repo/receive_pack_config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "repo/git_ptr.h"

namespace gsh {

namespace {

struct Entry {
    git_config_level_t level;
    std::string name;
    std::string value;
    bool implicit; // "[section] key" with no "=": true for a boolean
};

bool as_bool(const Entry &e) {
    int b = 0;
    return e.implicit || (git_config_parse_bool(&b, e.value.c_str()) == 0 && b);
}

// git's parse_deny_action(): a boolean, or ignore/warn/refuse/updateInstead.
DenyAction as_deny(const Entry &e) {
    std::string v = e.value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (v == "ignore")
        return DenyAction::Ignore;
    if (v == "warn")
        return DenyAction::Warn;
    if (v == "refuse")
        return DenyAction::Refuse;
    if (v == "updateinstead")
        return DenyAction::UpdateInstead;
    return as_bool(e) ? DenyAction::Refuse : DenyAction::Ignore;
}

} // namespace

ReceivePackConfig load_receive_pack_config(git_repository *repo) {
    git_config *raw = nullptr;
    git_check(git_repository_config_snapshot(&raw, repo), "reading the repository config");
    ConfigPtr cfg(raw);
    // As load_upload_pack_config(): asked key by key, ordered from the system
    // file to the repository's so that the last value wins as in git.
    std::vector<Entry> entries;
    for (const char *key :
         {"http.receivepack", "transfer.hiderefs", "receive.hiderefs", "receive.denydeletes",
          "receive.denynonfastforwards", "receive.denycurrentbranch", "receive.denydeletecurrent",
          "transfer.fsckobjects", "receive.fsckobjects", "receive.advertiseatomic",
          "receive.advertisepushoptions"}) {
        const int rc = git_config_get_multivar_foreach(
            cfg.get(), key, nullptr,
            [](const git_config_entry *e, void *payload) {
                static_cast<std::vector<Entry> *>(payload)->push_back(
                    {e->level, e->name, e->value ? e->value : "", !e->value});
                return 0;
            },
            &entries);
        if (rc != GIT_ENOTFOUND)
            git_check(rc, "reading the repository config");
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry &a, const Entry &b) { return a.level < b.level; });
    ReceivePackConfig conf;
    std::optional<bool> receive_fsck, transfer_fsck;
    for (const Entry &e : entries) {
        const std::string &n = e.name;
        if (n == "http.receivepack")
            conf.http_receivepack = as_bool(e);
        else if (n == "transfer.hiderefs" || n == "receive.hiderefs")
            conf.hidden.add(e.value);
        else if (n == "receive.denydeletes")
            conf.deny_deletes = as_bool(e);
        else if (n == "receive.denynonfastforwards")
            conf.deny_non_fast_forwards = as_bool(e);
        else if (n == "receive.denycurrentbranch")
            conf.deny_current_branch = as_deny(e);
        else if (n == "receive.denydeletecurrent")
            conf.deny_delete_current = as_deny(e);
        else if (n == "receive.fsckobjects")
            receive_fsck = as_bool(e);
        else if (n == "transfer.fsckobjects")
            transfer_fsck = as_bool(e);
        else if (n == "receive.advertiseatomic")
            conf.advertise_atomic = as_bool(e);
        else if (n == "receive.advertisepushoptions")
            conf.advertise_push_options = as_bool(e);
    }
    conf.fsck_objects = receive_fsck.value_or(transfer_fsck.value_or(false));
    return conf;
}

bool receive_pack_enabled(const ReceivePackConfig &config, bool has_remote_user) {
    return config.http_receivepack.value_or(has_remote_user);
}

} // namespace gsh

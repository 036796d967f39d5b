#include "repo/receive_pack_config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "repo/config_entries.h"

namespace gsh {

namespace {

// git's parse_deny_action(): a boolean, or ignore/warn/refuse/updateInstead.
DenyAction as_deny(const ConfigEntry &e) {
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
    return e.as_bool() ? DenyAction::Refuse : DenyAction::Ignore;
}

} // namespace

ReceivePackConfig load_receive_pack_config(git_repository *repo) {
    const std::vector<ConfigEntry> entries = read_config_entries(
        repo, {"http.receivepack", "transfer.hiderefs", "receive.hiderefs", "receive.denydeletes",
               "receive.denynonfastforwards", "receive.denycurrentbranch",
               "receive.denydeletecurrent", "transfer.fsckobjects", "receive.fsckobjects",
               "receive.advertiseatomic", "receive.advertisepushoptions"});
    ReceivePackConfig conf;
    std::optional<bool> receive_fsck, transfer_fsck;
    for (const ConfigEntry &e : entries) {
        const std::string &n = e.name;
        if (n == "http.receivepack")
            conf.http_receivepack = e.as_bool();
        else if (n == "transfer.hiderefs" || n == "receive.hiderefs")
            conf.hidden.add(e.value);
        else if (n == "receive.denydeletes")
            conf.deny_deletes = e.as_bool();
        else if (n == "receive.denynonfastforwards")
            conf.deny_non_fast_forwards = e.as_bool();
        else if (n == "receive.denycurrentbranch")
            conf.deny_current_branch = as_deny(e);
        else if (n == "receive.denydeletecurrent")
            conf.deny_delete_current = as_deny(e);
        else if (n == "receive.fsckobjects")
            receive_fsck = e.as_bool();
        else if (n == "transfer.fsckobjects")
            transfer_fsck = e.as_bool();
        else if (n == "receive.advertiseatomic")
            conf.advertise_atomic = e.as_bool();
        else if (n == "receive.advertisepushoptions")
            conf.advertise_push_options = e.as_bool();
    }
    conf.fsck_objects = receive_fsck.value_or(transfer_fsck.value_or(false));
    return conf;
}

bool receive_pack_enabled(const ReceivePackConfig &config, bool has_remote_user) {
    return config.http_receivepack.value_or(has_remote_user);
}

} // namespace gsh

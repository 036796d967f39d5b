#include "repo/receive_pack_config.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repo/config_entries.h"
#include "repo/ref_store.h"

namespace gsh {

namespace {

// git 2.39's fsck message ids (fsck.h), as its config keys are compared:
// lower case, without the underscores.
constexpr const char *kFsckMsgIds[] = {
    "nulinheader",
    "unterminatedheader",
    "baddate",
    "baddateoverflow",
    "bademail",
    "badname",
    "badtimezone",
    "badtree",
    "badtype",
    "duplicateentries",
    "missingauthor",
    "missingcommitter",
    "missingemail",
    "missingnamebeforeemail",
    "missingobject",
    "missingspacebeforedate",
    "missingspacebeforeemail",
    "missingtag",
    "missingtagentry",
    "missingtree",
    "missingtype",
    "missingtypeentry",
    "multipleauthors",
    "treenotsorted",
    "unknowntype",
    "zeropaddeddate",
    "gitmodulesmissing",
    "gitmodulesblob",
    "gitmoduleslarge",
    "gitmodulesname",
    "gitmodulessymlink",
    "gitmodulesurl",
    "gitmodulespath",
    "gitmodulesupdate",
    "gitattributesmissing",
    "gitattributeslarge",
    "gitattributeslinelength",
    "gitattributesblob",
    "emptyname",
    "fullpathname",
    "hasdot",
    "hasdotdot",
    "hasdotgit",
    "zeropaddedfilemode",
    "nulincommit",
    "badfilemode",
    "gitmodulesparse",
    "gitignoresymlink",
    "gitattributessymlink",
    "mailmapsymlink",
    "badtagname",
    "missingtaggerentry",
    "extraheaderentry",
};

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

// The unpack limit and how loose objects are written: git's
// receive/transfer.unpackLimit (a negative one counts as unset), its
// core.looseCompression (else core.compression; -1 is zlib's default, a
// level out of 0..9 is ignored where git dies) and core.fsync (or the older
// core.fsyncObjectFiles) for "loose-object".
void load_unpack_settings(git_repository *repo, ReceivePackConfig &conf) {
    std::optional<int32_t> receive_limit, transfer_limit, loose_level, level;
    std::optional<bool> fsync_files, fsync_loose;
    auto as_level = [](const ConfigEntry &e) -> std::optional<int32_t> {
        int32_t n = 0;
        if (git_config_parse_int32(&n, e.value.c_str()) != 0 || n < -1 || n > 9)
            return std::nullopt;
        return n == -1 ? Z_DEFAULT_COMPRESSION : n;
    };
    for (const ConfigEntry &e : read_config_entries(
             repo, {"receive.unpacklimit", "transfer.unpacklimit", "core.compression",
                    "core.loosecompression", "core.fsync", "core.fsyncobjectfiles"})) {
        int32_t n = 0;
        const bool is_int = git_config_parse_int32(&n, e.value.c_str()) == 0;
        if (e.name == "receive.unpacklimit" && is_int)
            receive_limit = n;
        else if (e.name == "transfer.unpacklimit" && is_int)
            transfer_limit = n;
        else if (e.name == "core.loosecompression" && as_level(e))
            loose_level = as_level(e);
        else if (e.name == "core.compression" && as_level(e))
            level = as_level(e);
        else if (e.name == "core.fsync" && !e.implicit)
            fsync_loose = fsync_component(e.value, "loose-object");
        else if (e.name == "core.fsyncobjectfiles")
            fsync_files = e.as_bool();
    }
    git_error_clear();
    if (receive_limit && *receive_limit >= 0)
        conf.unpack_limit = uint32_t(*receive_limit);
    else if (transfer_limit && *transfer_limit >= 0)
        conf.unpack_limit = uint32_t(*transfer_limit);
    conf.loose.level = loose_level.value_or(level.value_or(Z_BEST_SPEED));
    conf.loose.fsync = fsync_files.value_or(false) || fsync_loose.value_or(false);
}

} // namespace

ReceivePackConfig load_receive_pack_config(git_repository *repo) {
    const std::vector<ConfigEntry> entries = read_config_entries(
        repo,
        {"http.receivepack", "transfer.hiderefs", "receive.hiderefs", "receive.denydeletes",
         "receive.denynonfastforwards", "receive.denycurrentbranch", "receive.denydeletecurrent",
         "transfer.fsckobjects", "receive.fsckobjects", "receive.advertiseatomic",
         "receive.advertisepushoptions", "receive.maxinputsize", "receive.keepalive"});
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
        else if (n == "receive.keepalive") {
            // git dies on a value it cannot read; keeping the last one
            // serves the push instead.
            int32_t seconds = 0;
            if (git_config_parse_int32(&seconds, e.value.c_str()) == 0)
                conf.keepalive_seconds = seconds;
            else
                git_error_clear();
        } else if (n == "receive.maxinputsize") {
            int64_t v = 0;
            conf.max_input_size =
                git_config_parse_int64(&v, e.value.c_str()) == 0 && v > 0 ? uint64_t(v) : 0;
        }
    }
    conf.fsck_objects = receive_fsck.value_or(transfer_fsck.value_or(false));
    load_unpack_settings(repo, conf);
    if (conf.fsck_objects) {
        // What git's receive-pack hands index-pack as --strict=<this>: its
        // receive.fsck.* settings, an unknown message id left out (git warns
        // on its own stderr), the skiplist path expanded as git does.
        std::vector<std::string> keys = {"receive.fsck.skiplist"};
        for (const char *id : kFsckMsgIds)
            keys.push_back(std::string("receive.fsck.") + id);
        for (const ConfigEntry &e : read_config_entries(repo, keys)) {
            std::string item;
            if (e.name == "receive.fsck.skiplist") {
                git_buf path = GIT_BUF_INIT;
                if (git_config_parse_path(&path, e.value.c_str()) == 0)
                    item = std::string("skiplist=") + path.ptr;
                git_buf_dispose(&path);
                if (item.empty())
                    continue;
            } else {
                item = e.name.substr(sizeof("receive.fsck.") - 1) + "=" + e.value;
            }
            conf.fsck_msg_types += (conf.fsck_msg_types.empty() ? "=" : ",") + item;
        }
    }
    return conf;
}

bool receive_pack_enabled(const ReceivePackConfig &config, bool has_remote_user) {
    return config.http_receivepack.value_or(has_remote_user);
}

} // namespace gsh

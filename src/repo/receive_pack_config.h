// The repository configuration receive-pack obeys.
#pragma once

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>

#include "odb/loose_writer.h"
#include "repo/upload_pack_config.h"

namespace gsh {

// receive.denyCurrentBranch and receive.denyDeleteCurrent (git's deny_action).
enum class DenyAction { Unconfigured, Ignore, Warn, Refuse, UpdateInstead };

struct ReceivePackConfig {
    std::optional<bool> http_receivepack; // unset: enabled for authenticated users
    HiddenRefs hidden;                    // receive.hideRefs and transfer.hideRefs
    bool deny_deletes = false;            // receive.denyDeletes
    bool deny_non_fast_forwards = false;  // receive.denyNonFastForwards
    DenyAction deny_current_branch = DenyAction::Unconfigured;
    DenyAction deny_delete_current = DenyAction::Unconfigured;
    bool fsck_objects = false;           // receive.fsckObjects, else transfer.fsckObjects
    bool advertise_atomic = true;        // receive.advertiseAtomic
    bool advertise_push_options = false; // receive.advertisePushOptions
    uint64_t max_input_size = 0;         // receive.maxInputSize; 0: none
    // receive.keepAlive: seconds of silence, once the pack is read, before
    // git's receive-pack sends an empty side-band 1 pkt-line; 0 or less:
    // none.
    int keepalive_seconds = 5;
    // With fsck_objects: what git's receive-pack appends to index-pack's
    // --strict, "" or "=<msg-id>=<severity>,skiplist=<path>,..." from
    // receive.fsck.*.
    std::string fsck_msg_types;
    // receive.unpackLimit, else transfer.unpackLimit, else 100: a pack whose
    // header counts fewer objects is kept as loose objects, written as loose.
    uint32_t unpack_limit = 100;
    LooseWriteOptions loose;
};

ReceivePackConfig load_receive_pack_config(git_repository *repo);

// Whether receive-pack is served, as git http-backend decides: http.receivepack
// when set, else whether the request has a REMOTE_USER.
bool receive_pack_enabled(const ReceivePackConfig &config, bool has_remote_user);

} // namespace gsh

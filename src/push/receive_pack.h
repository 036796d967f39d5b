// git-receive-pack over Smart HTTP (stateless RPC): the advertisement, and a
// push from its request body to the report.
#pragma once

#include <git2.h>

#include <cstdint>
#include <string>

#include "repo/receive_pack_config.h"
#include "util/request_body.h"

namespace gsh {

// What receive-pack --advertise-refs writes after HTTP's "# service=" lines:
// "version 1" first when v1 was asked for, the refs (no HEAD, hidden ones
// left out) with the capabilities on the first line, or the
// "capabilities^{}" line of an empty repository.
std::string advertise_receive_pack(git_repository *repo, const ReceivePackConfig &config, bool v1);

struct PushContext {
    std::string git_dir; // absolute
    std::string remote_user, remote_addr;
    bool run_hooks = false;
    std::string content_encoding;
    size_t max_request_size = 0; // of the inflated commands (and a gzip body)
    // Every pushed object's declared size and every delta's declared result
    // size (git_smart_http_max_object_size); 0: no limit.
    uint64_t max_object_size = 0;
};

struct PushOutcome {
    std::string response; // the whole response body
    bool refused = false; // an "ng" or a failed unpack
    unsigned long long objects = 0, bytes = 0;
    size_t commands = 0;
};

// Reads the request (commands, push options, the pack streamed into a
// quarantine), checks every command as git's receive-pack does, runs the
// hooks when asked, moves the objects in and the refs under their locks,
// and returns the report. repo must be a handle of its own for this push.
// A request that breaks the protocol throws gsh::Error(400) (413 past the
// size limits) before anything is changed.
PushOutcome receive_pack(git_repository *repo, const ReceivePackConfig &config,
                         const PushContext &ctx, const RequestBody &body);

} // namespace gsh

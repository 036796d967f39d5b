// git-receive-pack over Smart HTTP (stateless RPC): the advertisement, and a
// push from its request body to the report.
#pragma once

#include <git2.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "repo/receive_pack_config.h"
#include "util/git_ptr.h"
#include "util/phase_times.h"
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
    // Where the push's phases (receive, index, check, hooks, refs) are
    // timed; none when null.
    PhaseTimes *times = nullptr;
};

struct PushOutcome {
    std::string response; // the response body, but for what went out live
    bool refused = false; // an "ng" or a failed unpack
    unsigned long long objects = 0, bytes = 0;
    size_t commands = 0;
};

// Where a push's band-2 output goes while the push goes on, for a caller
// that sends it before the push ends (as git's receive-pack relays
// index-pack's and the hooks' stderr). Both may be called from the thread
// that runs the push or from the indexer's (never two at once); either may
// be empty.
struct PushLive {
    // Whole side-band pkt-lines: progress, hook output, error and warning
    // lines.
    std::function<void(std::string_view pkts)> post;
    // The pack has been read to its end (or there is none): from now on git's
    // receive-pack sends keepalives while it is silent (receive.keepAlive).
    std::function<void()> input_done;
};

// One push, in two steps as Smart HTTP answers it: the constructor reads
// what decides the HTTP status (the commands and push options); run() does
// the work whose outcome is in the 200 response (unpack, checks, hooks, ref
// updates, report), as git http-backend has sent its headers before git's
// receive-pack starts.
class ReceivePack {
  public:
    // Reads the commands and push options from body, which must outlive
    // this. A request that breaks the protocol throws gsh::Error(400) (413
    // past the size limits) before anything is changed. repo must be a
    // handle of its own for this push.
    ReceivePack(RepoPtr repo, ReceivePackConfig config, PushContext ctx, const RequestBody &body);
    ~ReceivePack();
    ReceivePack(const ReceivePack &) = delete;
    ReceivePack &operator=(const ReceivePack &) = delete;

    size_t commands() const;
    // The client asked for side-band-64k: there is band-2 output to send
    // live (with quiet, hook output and keepalives still).
    bool side_band() const;
    // receive.keepAlive of the repository.
    int keepalive_seconds() const;

    // Reads the pack (streamed into a quarantine), checks every command as
    // git's receive-pack does, runs the hooks when asked, moves the objects
    // in and the refs under their locks, and returns the rest of the
    // response: what live.post did not take, then the report. Once. A body
    // that cannot be read on (a corrupt or too large gzip stream) throws
    // gsh::Error; nothing is changed then.
    PushOutcome run(const PushLive &live = {});

  private:
    struct State;
    std::unique_ptr<State> s_;
};

} // namespace gsh

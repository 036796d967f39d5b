// One HTTP request to upload-pack or receive-pack, from the request body to the last byte.
#pragma once

#include <git2.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "git_smart_http.h"
#include "protocol/v2_request.h"
#include "push/receive_pack.h"
#include "repo/repo_access.h"
#include "service/interim.h"
#include "service/pack_section.h"
#include "service/request_summary.h"
#include "util/git_ptr.h"
#include "util/phase_times.h"
#include "util/request_body.h"

namespace gsh {

class Session {
  public:
    explicit Session(const gsh_request &req);

    RequestBody &body() { return body_; }
    // Returns the HTTP status; throws gsh::Error (which carries one).
    int open() { return open(false); }
    // open() for a request answered from memory with no blocking I/O: the
    // advertisement or ls-refs of a repository whose snapshot is cached and
    // current. Returns 0, having done nothing that matters, for any other.
    int open_on_loop() { return open(true); }
    // GSH_AGAIN / GSH_DONE / GSH_ERROR as in git_smart_http.h. With
    // pieces, pack bytes may go out as ranges of pack files; the read then
    // ends when pieces has no room for another.
    int read(uint8_t *buf, size_t cap, size_t *written, ResponsePieces *pieces = nullptr);

    const char *content_type() const { return content_type_; }
    // Known after an open of a dumb kind, else -1.
    long long content_length() const { return content_length_; }
    // The git directory, once found.
    const std::string &repo_path() const { return repo_path_; }
    // Where a dumb or published file is read from, once found.
    const std::string &file_dir() const { return file_dir_; }
    // What went wrong that the response survives, for the error log.
    const std::string &warning() const { return warning_; }
    std::string message;
    // The client's session-id and server options, for the log; "" if none.
    const std::string &client_note() const { return client_note_; }
    // Sent, or for a push received.
    unsigned long long pack_objects() const;
    unsigned long long pack_bytes() const;
    // What the request asked, as far as it was read; for the access log.
    const RequestSummary &summary() const { return summary_; }
    // Seconds per phase so far.
    const PhaseTimes &times() const { return times_; }
    // The response is a refusal the client shows (an ERR line).
    bool refused() const { return refused_; }
    // A pack is part of the response.
    bool sends_pack() const { return pack_ != nullptr; }
    // "advertise", "ls-refs", "fetch", "object-info", "receive-pack" or
    // "unknown".
    const char *command() const { return command_; }
    int protocol_version() const { return protocol_version_; }
    // After open(), for a response that the module's pack cache may keep
    // and replay: a fetch's pack that does not depend on what the client
    // has (no haves), not refused, not begun. key names the repository and
    // everything the response's bytes follow from; stamp (see
    // RepoSnapshot::stamp()) the repository's state. False for any other.
    bool cache_key(uint8_t key[20], uint8_t stamp[20]) const;
    // Thread-safe: the pack ends at the next check in read(), or in the
    // count or the plan.
    void stop_pack() { stop_pack_.store(true, std::memory_order_relaxed); }
    // Thread-safe: output to send while a read counts objects and plans
    // the pack (see InterimOutput::take()).
    size_t interim(uint8_t *buf, size_t cap);

  private:
    int open(bool on_loop);
    // The receive-pack kinds, always on a thread: the push's commands.
    int open_receive_pack();
    // The push's work, in the first read, with interim output allowed.
    void run_push();
    // The repository's cached snapshot (on the loop: false when there is
    // none yet, or it is stale), or a fresh one.
    bool open_repository(const std::string &path, bool on_loop);
    // The dumb kinds (dumb_http.h).
    int open_dumb(bool on_loop);
    // The published kinds (publish.h), on a thread.
    int open_published();
    // On the loop, a small v2 request: parses it and keeps it when it is
    // ls-refs (true); false leaves the request to a thread.
    bool parse_ls_refs_on_loop();
    // The pack, once made, adds its count, plan and writing to times_.
    void set_pack_times();
    // The upload-pack kinds once the repository is open.
    void advertise_upload_pack();
    void answer_upload_pack();
    // The pack's long start, with interim output allowed.
    void count_and_plan();
    // Throws when stop_pack() was called.
    void check_stop() const;

    gsh_request_kind kind_;
    std::string root_, repo_name_, git_protocol_, content_encoding_;
    bool export_all_;
    bool allow_filter_;
    size_t max_request_size_, max_wants_, max_haves_;
    size_t max_object_size_;
    PublishConfig publish_;
    std::string file_dir_, warning_;
    RequestBody body_;
    std::optional<proto::V2Request> v2_request_; // parsed on the loop
    // Before pack_, which reads through it: destroyed after.
    std::unique_ptr<RepoAccess> repo_;
    const char *content_type_ = "text/plain";
    long long content_length_ = -1;
    std::string pending_;
    size_t pending_pos_ = 0;
    std::unique_ptr<PackSection> pack_;
    bool failed_ = false;
    std::string client_note_;
    RequestSummary summary_;
    PhaseTimes times_;
    bool refused_ = false;
    const char *command_ = "unknown";
    int protocol_version_ = 0;
    std::string repo_path_;
    std::atomic<bool> stop_pack_{false};
    InterimOutput interim_;
    // Push.
    std::string remote_user_, remote_addr_;
    bool has_remote_user_ = false;
    bool run_hooks_ = false;
    std::unique_ptr<ReceivePack> push_; // read, not yet run
    unsigned long long received_objects_ = 0, received_bytes_ = 0;
};

} // namespace gsh

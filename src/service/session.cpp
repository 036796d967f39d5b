#include "service/session.h"

#include <cstring>
#include <ctime>
#include <functional>
#include <optional>

#include "odb/object_db.h"
#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "push/receive_pack.h"
#include "repo/receive_pack_config.h"
#include "repo/repo_cache.h"
#include "repo/repo_path.h"
#include "repo/upload_pack_config.h"
#include "service/client_note.h"
#include "service/dumb_http.h"
#include "service/publish.h"
#include "service/upload_pack_v0.h"
#include "service/upload_pack_v2.h"
#include "util/error.h"
#include "util/test_hook.h"

namespace gsh {

namespace {

// Largest request body accepted after gzip inflation, unless told otherwise.
constexpr size_t kDefaultMaxRequestSize = 64u << 20;
// Request bodies parsed on the event loop: an ls-refs request is a few
// hundred bytes; anything larger or compressed waits for a thread.
constexpr size_t kLoopBodySize = 16 * 1024;

const char *command_label(const std::string &command) {
    if (command == "ls-refs")
        return "ls-refs";
    if (command == "fetch")
        return "fetch";
    if (command == "object-info")
        return "object-info";
    return "unknown";
}

} // namespace

Session::Session(const gsh_request &req)
    : kind_(req.kind), root_(req.root, req.root_len), repo_name_(req.repo, req.repo_len),
      git_protocol_(req.git_protocol ? std::string(req.git_protocol, req.git_protocol_len) : ""),
      content_encoding_(
          req.content_encoding ? std::string(req.content_encoding, req.content_encoding_len) : ""),
      export_all_(req.export_all != 0), allow_filter_(req.allow_filter != 0),
      max_request_size_(req.max_request_size ? req.max_request_size : kDefaultMaxRequestSize),
      max_wants_(req.max_wants), max_haves_(req.max_haves), max_object_size_(req.max_object_size),
      remote_user_(req.remote_user ? std::string(req.remote_user, req.remote_user_len) : ""),
      remote_addr_(req.remote_addr ? std::string(req.remote_addr, req.remote_addr_len) : ""),
      has_remote_user_(req.remote_user && req.remote_user_len > 0), run_hooks_(req.run_hooks != 0) {
    if (req.publish_dir && req.publish_dir_len > 0) {
        publish_.dir.assign(req.publish_dir, req.publish_dir_len);
        publish_.interval = req.publish_interval;
        publish_.grace = req.publish_grace;
        if (req.publish_url)
            publish_.url.assign(req.publish_url, req.publish_url_len);
        publish_.packfile_uris = req.packfile_uris != 0;
        publish_.bundle_uri = req.bundle_uri != 0;
    }
    if (kind_ == GSH_ADVERTISE_UPLOAD_PACK || kind_ == GSH_ADVERTISE_RECEIVE_PACK)
        summary_.command = "advertise";
}

int Session::open_receive_pack() {
    const std::string path = resolve_repository(root_, repo_name_, export_all_);
    repo_path_ = path;
    // A handle of its own, not the cache's: libgit2 caches the refdb, and a
    // push must read the refs as they are under their locks.
    git_repository *raw = nullptr;
    git_check(git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr),
              "opening the repository");
    RepoPtr repo(raw);
    use_own_object_db(repo.get());
    const ReceivePackConfig config = load_receive_pack_config(repo.get());
    // git http-backend answers both the advertisement and the POST so.
    if (!receive_pack_enabled(config, has_remote_user_))
        throw Error("Service not enabled: 'receive-pack'", 403);
    if (kind_ == GSH_ADVERTISE_RECEIVE_PACK) {
        content_type_ = "application/x-git-receive-pack-advertisement";
        proto::pkt_write_line(pending_, "# service=git-receive-pack");
        proto::pkt_flush(pending_);
        // Protocol v2 has no push: a v2 request gets v0, as from git.
        pending_ += advertise_receive_pack(repo.get(), config, protocol_version_ == 1);
        return 200;
    }
    content_type_ = "application/x-git-receive-pack-result";
    summary_.command = "receive-pack";
    PushContext ctx;
    ctx.git_dir = path;
    ctx.remote_user = remote_user_;
    ctx.remote_addr = remote_addr_;
    ctx.run_hooks = run_hooks_;
    ctx.content_encoding = content_encoding_;
    ctx.max_request_size = max_request_size_;
    ctx.max_object_size = max_object_size_;
    ctx.times = &times_;
    // The commands decide the status; the work is the first read's, with
    // its outcome in the 200 response.
    PhaseTimes::Scope parse(&times_, Phase::parse);
    push_ = std::make_unique<ReceivePack>(std::move(repo), config, std::move(ctx), body_);
    return 200;
}

void Session::run_push() {
    // Once, even when it throws.
    const std::unique_ptr<ReceivePack> push = std::move(push_);
    PushLive live;
    const bool interim = push->side_band();
    if (interim) {
        // Band 2 as it is made, and keepalives once the pack is read, as
        // git's receive-pack relays them.
        const int keepalive = push->keepalive_seconds();
        interim_.set_keepalive(0);
        interim_.open(InterimOutput::Clock::now());
        live.post = [this](std::string_view pkts) { interim_.post(pkts); };
        live.input_done = [this, keepalive] { interim_.set_keepalive(keepalive); };
    }
    PushOutcome outcome;
    try {
        outcome = push->run(live);
    } catch (...) {
        if (interim)
            pending_ += interim_.close();
        throw;
    }
    if (interim)
        pending_ += interim_.close();
    received_objects_ = outcome.objects;
    received_bytes_ = outcome.bytes;
    refused_ = outcome.refused;
    pending_ += outcome.response;
}

bool Session::open_repository(const std::string &path, bool on_loop) {
    if (!on_loop) {
        repo_ = std::make_unique<RepoAccess>(RepoCache::process(), path);
        return true;
    }
    std::shared_ptr<const RepoSnapshot> cached = RepoCache::process().get_cached(path);
    if (!cached)
        return false;
    repo_ = std::make_unique<RepoAccess>(RepoCache::process(), std::move(cached));
    return true;
}

// As git http-backend: the repository (404), then http.getanyfile (403).
int Session::open_dumb(bool on_loop) {
    command_ = "dumb";
    const std::string path = resolve_repository(root_, repo_name_, export_all_);
    repo_path_ = path;
    if (!open_repository(path, on_loop))
        return 0;
    const RepoSnapshot &snapshot = repo_->snapshot();
    if (!snapshot.config().http_getanyfile)
        throw Error("Unsupported service: getanyfile", 403);
    switch (kind_) {
    case GSH_DUMB_FILE:
        file_dir_ = path;
        return 200;
    case GSH_DUMB_HEAD:
        pending_ = dumb_head(snapshot.refs());
        break;
    case GSH_DUMB_INFO_PACKS:
        content_type_ = "text/plain; charset=utf-8";
        pending_ = snapshot.memo(RepoSnapshot::kDumbInfoPacks,
                                 [&] { return dumb_info_packs(path + "/objects"); });
        break;
    default:
        // Dumb HTTP hides nothing (every object file is there to take), and
        // git http-backend lists hidden refs too.
        if (snapshot.config().hidden.empty()) {
            pending_ = snapshot.memo(RepoSnapshot::kDumbInfoRefs,
                                     [&] { return dumb_info_refs(snapshot.refs()); });
        } else if (on_loop) {
            repo_.reset();
            return 0;
        } else {
            pending_ = dumb_info_refs(list_refs(repo_->git(), HiddenRefs()));
        }
        break;
    }
    content_length_ = static_cast<long long>(pending_.size());
    return 200;
}

int Session::open(bool on_loop) {
    const int version = proto::protocol_version(git_protocol_);
    protocol_version_ = version;
    if (kind_ == GSH_PUBLISHED_FILE || kind_ == GSH_PUBLISHED_LIST)
        return on_loop ? 0 : open_published();
    if (kind_ >= GSH_DUMB_INFO_REFS)
        return open_dumb(on_loop);
    if (kind_ == GSH_ADVERTISE_RECEIVE_PACK || kind_ == GSH_RPC_RECEIVE_PACK) {
        command_ = kind_ == GSH_ADVERTISE_RECEIVE_PACK ? "advertise" : "receive-pack";
        return on_loop ? 0 : open_receive_pack();
    }
    if (kind_ == GSH_ADVERTISE_UPLOAD_PACK)
        command_ = "advertise";
    else if (version != 2)
        command_ = "fetch";
    if (on_loop && kind_ == GSH_RPC_UPLOAD_PACK && !parse_ls_refs_on_loop())
        return 0;
    std::string path = resolve_repository(root_, repo_name_, export_all_);
    repo_path_ = path;
    if (!open_repository(path, on_loop))
        return 0;
    if (!repo_->snapshot().config().http_uploadpack)
        throw Error("Service not enabled: 'upload-pack' (http.uploadpack is false)", 403);
    repo_->set_limits(max_wants_, max_haves_);
    repo_->set_filter_directive(allow_filter_);
    repo_->set_publish(publish_);
    if (kind_ == GSH_ADVERTISE_UPLOAD_PACK)
        advertise_upload_pack();
    else
        answer_upload_pack();
    warning_ = repo_->warning;
    return 200;
}

// The published files of a repository that is served (export rules), and
// the bundle list, which publishes a base first when one is due.
int Session::open_published() {
    command_ = "published";
    const std::string path = resolve_repository(root_, repo_name_, export_all_);
    repo_path_ = path;
    if (publish_.dir.empty())
        throw Error("publishing is off here", 404);
    open_repository(path, false);
    // What clones take: refused where upload-pack is.
    if (!repo_->snapshot().config().http_uploadpack)
        throw Error("Service not enabled: 'upload-pack' (http.uploadpack is false)", 403);
    if (kind_ == GSH_PUBLISHED_FILE) {
        file_dir_ = publish_folder(publish_.dir, path);
        return 200;
    }
    repo_->set_publish(publish_);
    const std::optional<PublishedBase> base = current_base(
        *repo_, publish_, std::time(nullptr), clone_refs(repo_->snapshot()), &warning_);
    if (!base)
        throw Error("no base is published for the repository", 404);
    content_type_ = "text/plain; charset=utf-8";
    pending_ = bundle_list_config(*base, publish_.url);
    content_length_ = static_cast<long long>(pending_.size());
    return 200;
}

bool Session::parse_ls_refs_on_loop() {
    if (protocol_version_ != 2 || !content_encoding_.empty() || body_.in_file() ||
        body_.size() > kLoopBodySize)
        return false;
    // Only ls-refs is answered here. Another command is parsed on the
    // thread, with the repository's limits, which stop the parse.
    const std::string body = body_.read("", max_request_size_);
    proto::PktReader reader(body);
    PhaseTimes::Scope parse(&times_, Phase::parse);
    proto::V2Request req = proto::parse_v2_request(
        reader, [](const proto::V2Request &r, std::string_view) { return r.command != "ls-refs"; });
    summary_ = summarize_v2(req);
    command_ = command_label(req.command);
    if (req.command != "ls-refs")
        return false;
    v2_request_ = std::move(req);
    return true;
}

void Session::advertise_upload_pack() {
    content_type_ = "application/x-git-upload-pack-advertisement";
    const RepoSnapshot &snapshot = repo_->snapshot();
    const bool filter = repo_->config().allow_filter;
    if (protocol_version_ == 2) {
        pending_ = advertise_v2(repo_->config());
        return;
    }
    // Smart HTTP's own header, which git http-backend leaves out for v2.
    proto::pkt_write_line(pending_, "# service=git-upload-pack");
    proto::pkt_flush(pending_);
    const bool v1 = protocol_version_ == 1;
    // A session-id is new for every request: nothing to share then.
    if (snapshot.config().advertise_sid) {
        pending_ += advertise_v0(snapshot, v1, filter);
        return;
    }
    const RepoSnapshot::Memo slot =
        v1 ? (filter ? RepoSnapshot::kAdvertisementV1Filter : RepoSnapshot::kAdvertisementV1)
           : (filter ? RepoSnapshot::kAdvertisementV0Filter : RepoSnapshot::kAdvertisementV0);
    pending_ += snapshot.memo(slot, [&] { return advertise_v0(snapshot, v1, filter); });
}

void Session::answer_upload_pack() {
    content_type_ = "application/x-git-upload-pack-result";
    interim_.set_keepalive(repo_->config().keepalive);
    if (v2_request_) {
        client_note_ = client_note_v2(*v2_request_);
        pending_ = answer_v2(*repo_, *v2_request_, &pack_, &refused_, &times_);
        set_pack_times();
        return;
    }
    if (protocol_version_ == 2) {
        // Read (and inflated) only as far as the parse goes: a limit passed
        // stops it there.
        body_.check_size(max_request_size_);
        BodyReader in(body_, content_encoding_, max_request_size_);
        proto::PktReader reader([&in](char *buf, size_t cap) { return in.read(buf, cap); });
        std::optional<PhaseTimes::Scope> parse(std::in_place, &times_, Phase::parse);
        FetchPrecheck checked;
        proto::V2Request req = proto::parse_v2_request(reader, fetch_refusal_stop(*repo_, checked));
        parse.reset();
        summary_ = summarize_v2(req);
        command_ = command_label(req.command);
        client_note_ = client_note_v2(req);
        pending_ = answer_v2(*repo_, req, &pack_, &refused_, &times_, &checked);
        set_pack_times();
        return;
    }
    // v0/v1: the body is read (and inflated) only as far as the answer
    // needs; what it asked is logged as far as it was read.
    summary_ = summarize_v0(std::string_view());
    BodyReader in(body_, content_encoding_, max_request_size_);
    proto::PktReader reader([&in](char *buf, size_t cap) { return in.read(buf, cap); });
    pending_ = answer_v0(*repo_, reader, &pack_, &refused_, &summary_, &client_note_, &times_);
    set_pack_times();
}

bool Session::cache_key(uint8_t key[20], uint8_t stamp[20]) const {
    if (kind_ != GSH_RPC_UPLOAD_PACK || !pack_ || pack_->started() || failed_ || refused_ ||
        pending_pos_ != 0)
        return false;
    pack::Sha1 h;
    const uint64_t sizes[] = {repo_path_.size(), uint64_t(protocol_version_), pending_.size()};
    h.update(sizes, sizeof sizes);
    h.update(repo_path_.data(), repo_path_.size());
    // What goes before the pack: NAK, shallow-info, "packfile".
    h.update(pending_.data(), pending_.size());
    if (!pack_->hash_request(h))
        return false;
    const pack::Sha1::Digest d = h.final();
    std::memcpy(key, d.data(), d.size());
    const std::string &s = repo_->snapshot().stamp();
    std::memcpy(stamp, s.data(), s.size());
    return true;
}

void Session::set_pack_times() {
    if (pack_)
        pack_->set_times(&times_);
}

int Session::read(uint8_t *buf, size_t cap, size_t *written, ResponsePieces *pieces) {
    size_t n = 0;
    try {
        while (n < cap) {
            if (pending_pos_ < pending_.size()) {
                size_t k = std::min(cap - n, pending_.size() - pending_pos_);
                std::memcpy(buf + n, pending_.data() + pending_pos_, k);
                pending_pos_ += k;
                n += k;
                continue;
            }
            pending_.clear();
            pending_pos_ = 0;
            if (push_) {
                // Interim output starts at a pkt-line boundary too.
                if (n > 0)
                    break;
                run_push();
                continue;
            }
            if (failed_ || !pack_ || pack_->finished())
                break;
            if (!pack_->started()) {
                // What precedes the pack goes out before the count, so
                // that interim output starts at a pkt-line boundary and
                // after it.
                if (n > 0)
                    break;
                count_and_plan();
                continue;
            }
            if (pieces && !pieces->room())
                break;
            check_stop();
            n += pack_->produce(buf + n, cap - n, &pending_, pieces);
        }
    } catch (const std::exception &e) {
        // The client shows side-band 3 as "remote error: ...".
        message = e.what();
        failed_ = true;
        pending_.erase(0, pending_pos_);
        pending_pos_ = 0;
        // A stop asked for by the server is no sign of corruption.
        const std::string why = stop_pack_.load(std::memory_order_relaxed)
                                    ? std::string(e.what()) + "\n"
                                    : std::string(e.what()) +
                                          "\naborting due to possible repository corruption on "
                                          "the remote side.\n";
        if (pack_)
            pack_->fail(&pending_, why);
    }
    *written = n;
    if (pending_pos_ < pending_.size())
        return GSH_AGAIN;
    if (failed_)
        return GSH_ERROR;
    return pack_ && !pack_->finished() ? GSH_AGAIN : GSH_DONE;
}

void Session::check_stop() const {
    if (stop_pack_.load(std::memory_order_relaxed))
        throw Error("pack generation made no progress within git_smart_http_timeout");
}

void Session::count_and_plan() {
    const auto checkpoint = [this] { check_stop(); };
    // A bare pack has no room for anything but pack bytes.
    if (!pack_->sideband()) {
        test_stall_hook("GSH_TEST_PACK_STALL", repo_path_, checkpoint);
        pack_->start(nullptr, checkpoint);
        return;
    }
    interim_.open(InterimOutput::Clock::now());
    try {
        test_stall_hook("GSH_TEST_PACK_STALL", repo_path_, checkpoint);
        pack_->start([this](std::string_view pkts) { interim_.post(pkts); }, checkpoint);
    } catch (...) {
        pending_ += interim_.close();
        throw;
    }
    pending_ += interim_.close();
}

size_t Session::interim(uint8_t *buf, size_t cap) {
    return interim_.take(buf, cap, InterimOutput::Clock::now());
}

unsigned long long Session::pack_objects() const {
    if (kind_ == GSH_RPC_RECEIVE_PACK)
        return received_objects_;
    const pack::PackStats *s = pack_ ? pack_->stats() : nullptr;
    return s ? s->objects : 0;
}

unsigned long long Session::pack_bytes() const {
    if (kind_ == GSH_RPC_RECEIVE_PACK)
        return received_bytes_;
    const pack::PackStats *s = pack_ ? pack_->stats() : nullptr;
    return s ? s->bytes : 0;
}

} // namespace gsh

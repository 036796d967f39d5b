#include "push/receive_pack.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "odb/frozen_odb.h"
#include "odb/object_db.h"
#include "protocol/agent.h"
#include "protocol/pkt_line.h"
#include "push/alternate_haves.h"
#include "push/hooks.h"
#include "push/ident.h"
#include "push/progress_meter.h"
#include "push/quarantine.h"
#include "push/receive_commands.h"
#include "push/ref_update.h"
#include "repo/refname.h"
#include "repo/refs.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"
#include "util/oid_set.h"

namespace gsh {

namespace {

using SignaturePtr = GitPtr<git_signature, git_signature_free>;

// Hook output kept for the client; a hook printing more is cut short.
constexpr size_t kMaxHookOutput = 1u << 20;

std::string zero_hex() {
    return std::string(GIT_OID_HEXSZ, '0');
}

// A status or reason on one pkt-line: no line breaks, no NUL.
std::string one_line(std::string_view s) {
    std::string out;
    for (char c : s)
        out.push_back(c == '\n' || c == '\r' || c == '\0' ? ' ' : c);
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out.substr(0, 1000);
}

// What goes to the client on side-band 2 (progress, hook output, git's
// "error:" and "warning:" lines) when it asked for side-band-64k; otherwise
// git writes it to the server's stderr, and so it is dropped here. It goes
// to live.post when there is one, else into the response; the indexer's
// progress may come from another thread, hence the lock.
class Messages {
  public:
    Messages(std::string &out, bool sideband, const PushLive &live)
        : out_(out), sideband_(sideband), live_(live) {}
    void raw(std::string_view text) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!sideband_ || text.empty())
            return;
        if (sent_ >= kMaxHookOutput)
            return;
        text = text.substr(0, kMaxHookOutput - sent_);
        sent_ += text.size();
        emit(text);
    }
    // Not counted with the hooks' output, which cannot push it out.
    void progress(std::string_view text) {
        std::lock_guard<std::mutex> lock(mu_);
        if (sideband_ && !text.empty())
            emit(text);
    }
    void error(const std::string &text) { raw("error: " + one_line(text) + "\n"); }
    // As git's receive-pack reports (rp_error): the text as it is, line
    // breaks and all, the whole line cut at 4095 bytes before its '\n'.
    void rp_error(std::string_view text) {
        constexpr size_t kMaxLine = 4095;
        std::string line = "error: ";
        line.append(text.substr(0, kMaxLine - line.size()));
        raw(line + "\n");
    }
    void warning(const std::string &text) { raw("warning: " + one_line(text) + "\n"); }

  private:
    void emit(std::string_view text) {
        if (!live_.post) {
            proto::sideband_write(out_, 2, text);
            return;
        }
        std::string pkts;
        proto::sideband_write(pkts, 2, text);
        live_.post(pkts);
    }

    std::mutex mu_;
    std::string &out_;
    bool sideband_;
    const PushLive &live_;
    size_t sent_ = 0;
};

// The progress git's receive-pack relays on band 2 when the client neither
// asked for quiet nor went without side-band: "Resolving deltas" as
// index-pack --show-resolving-progress prints it (nothing without deltas),
// and before it "Receiving objects" with its throughput, which git's
// index-pack prints only with -v, and receive-pack does not pass: here the
// client sees the pack being read too. Fed the indexer's counts, serialized.
class PackProgress {
  public:
    // read_bytes: the pack's bytes read so far, git's measure of throughput
    // (the indexer's received_bytes may stay 0).
    PackProgress(Messages &msg, const std::atomic<uint64_t> &read_bytes)
        : emit_([&msg](std::string_view line) { msg.progress(line); }), read_bytes_(read_bytes) {}

    void update(const git_indexer_progress &p) {
        last_ = p;
        const auto now = ProgressMeter::Clock::now();
        if (p.total_objects > 0 && !received_) {
            if (!receiving_)
                receiving_.emplace("Receiving objects", p.total_objects, now, emit_);
            receiving_->throughput(
                std::max<uint64_t>(p.received_bytes, read_bytes_.load(std::memory_order_relaxed)),
                now);
            if (p.received_objects > 0)
                receiving_->update(p.received_objects, now);
            if (p.received_objects >= p.total_objects) {
                receiving_->stop(now);
                received_ = true;
            }
        }
        if (p.total_deltas == 0)
            return;
        if (!resolving_) {
            resolving_.emplace("Resolving deltas", p.total_deltas, now, emit_);
            resolving_->update(0, now); // where git's progress starts
        }
        resolving_->update(p.indexed_deltas, now);
    }
    // After the indexing succeeded: the last lines, as git's index-pack
    // ends them (a thin pack's deltas "completed with N local objects").
    void finish() {
        const git_indexer_progress &p = last_;
        const auto now = ProgressMeter::Clock::now();
        if (receiving_ && !received_)
            receiving_->stop(now);
        if (!resolving_)
            return;
        resolving_->update(p.total_deltas, now);
        const unsigned local = p.local_objects;
        resolving_->stop(now, local == 0 ? std::string("done")
                                         : "completed with " + std::to_string(local) +
                                               (local == 1 ? " local object" : " local objects"));
    }

  private:
    ProgressMeter::Emit emit_;
    const std::atomic<uint64_t> &read_bytes_;
    std::optional<ProgressMeter> receiving_, resolving_;
    bool received_ = false;
    git_indexer_progress last_{};
};

bool is_branch(const std::string &ref) {
    return ref.starts_with("refs/heads/");
}

// The checks git's receive-pack makes in update() before a ref moves, on an
// object database holding the quarantined objects too.
class Checker {
  public:
    Checker(git_repository *repo, const ReceivePackConfig &config, git_odb *odb, Messages &msg)
        : config_(config), odb_(odb), msg_(msg) {
        git_reference *raw = nullptr;
        if (git_reference_lookup(&raw, repo, "HEAD") == 0) {
            RefPtr head(raw);
            if (git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC)
                head_name_ = git_reference_symbolic_target(head.get());
        }
        bare_ = git_repository_is_bare(repo) == 1;
        git_repository *wrapped = nullptr;
        git_check(git_repository_wrap_odb(&wrapped, odb), "opening the quarantined objects");
        objects_.reset(wrapped);
    }

    void check(RefUpdate &u) {
        const std::string &name = u.ref;
        const bool deleting = git_oid_is_zero(&u.new_id);
        if (config_.hidden.hidden(name)) {
            u.error = "deny updating a hidden ref";
            return;
        }
        if (!pushable_refname(name)) {
            msg_.rp_error("refusing to create funny ref '" + name + "' remotely");
            u.error = "funny refname";
            return;
        }
        if (!bare_ && name == head_name_) {
            switch (config_.deny_current_branch) {
            case DenyAction::Ignore:
                break;
            case DenyAction::Warn:
                msg_.warning("updating the current branch");
                break;
            default: // refuse, unconfigured, and updateInstead (not done here)
                msg_.error("refusing to update checked out branch: " + name);
                u.error = "branch is currently checked out";
                return;
            }
        }
        if (!deleting && !git_odb_exists(odb_, &u.new_id)) {
            msg_.error("unpack should have generated " + oid_hex(u.new_id) +
                       ", but I can't find it!");
            u.error = "bad pack";
            return;
        }
        if (deleting && !git_oid_is_zero(&u.old_id)) {
            if (config_.deny_deletes && is_branch(name)) {
                msg_.error("denying ref deletion for " + name);
                u.error = "deletion prohibited";
                return;
            }
            if (name == head_name_) {
                switch (config_.deny_delete_current) {
                case DenyAction::Ignore:
                    break;
                case DenyAction::Warn:
                    msg_.warning("deleting the current branch");
                    break;
                default:
                    msg_.error("refusing to delete the current branch: " + name);
                    u.error = "deletion of the current branch prohibited";
                    return;
                }
            }
        }
        if (deleting || !is_branch(name))
            return;
        if (type_of(u.new_id) != GIT_OBJECT_COMMIT) {
            msg_.error("trying to write non-commit object " + oid_hex(u.new_id) + " to branch '" +
                       name + "'");
            u.error = "failed to update ref";
            return;
        }
        if (config_.deny_non_fast_forwards && !git_oid_is_zero(&u.old_id) &&
            !git_oid_equal(&u.old_id, &u.new_id)) {
            if (type_of(u.old_id) != GIT_OBJECT_COMMIT) {
                msg_.error("bad sha1 objects for " + name);
                u.error = "bad ref";
                return;
            }
            if (git_graph_descendant_of(objects_.get(), &u.new_id, &u.old_id) != 1) {
                msg_.error("denying non-fast-forward " + name + " (you should pull first)");
                u.error = "non-fast-forward";
            }
        }
    }

  private:
    git_object_t type_of(const git_oid &id) {
        size_t len = 0;
        git_object_t type = GIT_OBJECT_INVALID;
        if (git_odb_read_header(&len, &type, odb_, &id) < 0)
            return GIT_OBJECT_INVALID;
        return type;
    }

    const ReceivePackConfig &config_;
    git_odb *odb_;
    Messages &msg_;
    std::string head_name_;
    bool bare_ = true;
    RepoPtr objects_;
};

// The most bytes the pack can be: the body's, or what a gzip body may
// inflate to.
size_t pack_size_bound(const PushContext &ctx, const RequestBody &body) {
    return ctx.content_encoding.empty() || ctx.content_encoding == "identity"
               ? body.size()
               : ctx.max_request_size;
}

// The reflog and hook identity git http-backend gives receive-pack.
std::pair<std::string, std::string> committer(const PushContext &ctx) {
    const std::string name = ctx.remote_user.empty() ? "anonymous" : ctx.remote_user;
    return {name,
            name + "@http." + (ctx.remote_addr.empty() ? std::string("(none)") : ctx.remote_addr)};
}

std::string command_lines(const std::vector<RefUpdate> &updates) {
    std::string out;
    for (const RefUpdate &u : updates)
        if (u.error.empty())
            out += oid_hex(u.old_id) + " " + oid_hex(u.new_id) + " " + u.ref + "\n";
    return out;
}

bool any_pending(const std::vector<RefUpdate> &updates) {
    for (const RefUpdate &u : updates)
        if (u.error.empty())
            return true;
    return false;
}

void fail_pending(std::vector<RefUpdate> &updates, const char *reason) {
    for (RefUpdate &u : updates)
        if (u.error.empty())
            u.error = reason;
}

// Whether git's connectivity walk (--not --all) would be limited by refs.
bool has_any_ref(git_repository *repo) {
    git_reference_iterator *raw = nullptr;
    if (git_reference_iterator_new(&raw, repo) < 0)
        return false;
    RefIterPtr refs(raw);
    const char *name = nullptr;
    return git_reference_next_name(&name, refs.get()) == 0;
}

// One push after its commands are read, phase by phase as git's
// receive-pack runs it: unpack into the quarantine, check the commands (and
// the pre-receive and update hooks), move the objects and refs in, run the
// post hooks, report. A command failed on the way keeps its reason in its
// RefUpdate's error and takes no further part.
class Push {
  public:
    Push(git_repository *repo, const ReceivePackConfig &config, const PushContext &ctx,
         const ReceiveRequest &req, PushOutcome &outcome, const PushLive &live)
        : repo_(repo), config_(config), ctx_(ctx), req_(req), outcome_(outcome), live_(live),
          msg_(outcome.response, req.side_band_64k, live) {
        for (const RefCommand &c : req.commands)
            updates_.push_back({c.ref, c.old_id, c.new_id, {}, {}});
        git_odb *odb_raw = nullptr;
        git_check(git_repository_odb(&odb_raw, repo), "opening the object database");
        // Thin-pack bases and the indexer's checks are looked up here.
        repo_odb_ = frozen_odb(OdbPtr(odb_raw));
    }

    // Indexes the pack that read() yields (at most max_bytes) into a
    // quarantine and checks it.
    void unpack(const std::function<size_t(void *, size_t)> &read, size_t max_bytes);
    bool unpacked() const { return unpack_status_ == "ok"; }
    // The hooks' environments, once the quarantine is known.
    void prepare_hooks();
    // git's checks of each command, then the pre-receive and update hooks.
    void check_commands();
    // Migrates the quarantine and updates the refs of the commands still
    // pending; returns those that moved.
    std::vector<const RefUpdate *> move_refs();
    void run_post_hooks(const std::vector<const RefUpdate *> &moved);
    // The report (when asked for) and the end of the response.
    void report();

  private:
    int hook(const char *name, const std::vector<std::string> &args, std::string_view input,
             const HookEnv &with);

    git_repository *repo_;
    const ReceivePackConfig &config_;
    const PushContext &ctx_;
    const ReceiveRequest &req_;
    PushOutcome &outcome_;
    const PushLive &live_;
    Messages msg_;
    std::vector<RefUpdate> updates_;
    OdbPtr repo_odb_;
    std::string unpack_status_ = "ok";
    std::optional<Quarantine> quarantine_;
    std::pair<std::string, std::string> committer_;
    HookEnv env_, quarantine_env_;
};

void Push::unpack(const std::function<size_t(void *, size_t)> &read, size_t max_bytes) {
    quarantine_.emplace(ctx_.git_dir);
    std::atomic<uint64_t> read_bytes{0};
    PackProgress progress(msg_, read_bytes);
    std::function<void(const git_indexer_progress &)> on_progress;
    if (req_.side_band_64k && !req_.quiet)
        on_progress = [&](const git_indexer_progress &p) { progress.update(p); };
    // As git's index-pack --report-end-of-input: the end of the pack opens
    // the time of keepalives.
    bool ended = false;
    // receive: from the first read to the pack's end (the indexer's first
    // pass goes along); index: the rest of index(), delta resolution, the
    // .idx and the connectivity walk, which index() does together.
    PhaseTimes *const times = ctx_.times;
    const double started = times ? times->now() : 0;
    double input_end = -1;
    auto read_pack = [&](void *buf, size_t cap) {
        const size_t n = read(buf, cap);
        read_bytes.fetch_add(n, std::memory_order_relaxed);
        if (n == 0 && !ended) {
            ended = true;
            if (times)
                input_end = times->now();
            if (live_.input_done)
                live_.input_done();
        }
        return n;
    };
    pack::PackCheckLimits limits;
    limits.max_object_size = ctx_.max_object_size;
    limits.max_input_size = config_.max_input_size;
    std::string err = quarantine_->index(repo_odb_.get(), read_pack, max_bytes, limits,
                                         has_any_ref(repo_), on_progress);
    if (times) {
        const double now = times->now();
        const double end = input_end < 0 ? now : input_end;
        times->add(Phase::receive, end - started);
        times->add(Phase::index, now - end);
    }
    // What failed shows what was shown so far, as git's index-pack dies.
    if (err.empty())
        progress.finish();
    if (err.empty() && config_.fsck_objects) {
        PhaseTimes::Scope check(times, Phase::check);
        err = quarantine_->fsck(config_.fsck_msg_types);
    }
    // receive.unpackLimit: git's unpack-objects instead of index-pack.
    if (err.empty() && quarantine_->missing().empty() &&
        quarantine_->header_objects() < config_.unpack_limit) {
        PhaseTimes::Scope index(times, Phase::index);
        quarantine_->explode_to_loose(repo_odb_.get(), config_.loose);
    }
    outcome_.objects = quarantine_->objects();
    outcome_.bytes = quarantine_->bytes();
    if (!err.empty()) {
        unpack_status_ = one_line(err);
        // git's index-pack dies with its reason on receive-pack's band 2.
        if (!quarantine_->fatal().empty())
            msg_.raw("fatal: " + one_line(quarantine_->fatal()) + "\n");
        else
            msg_.error(err);
        fail_pending(updates_, "unpacker error");
        quarantine_.reset();
    } else if (!quarantine_->missing().empty()) {
        // git's connectivity check: the pack was unpacked ("unpack ok"),
        // rev-list's complaint goes to the client, and every command that
        // names an object fails. What is left (deletions) needs none of
        // the pack, which is dropped rather than moved in as git would.
        msg_.raw(quarantine_->missing());
        for (RefUpdate &u : updates_)
            if (u.error.empty() && !git_oid_is_zero(&u.new_id))
                u.error = "missing necessary objects";
        quarantine_.reset();
    }
}

void Push::prepare_hooks() {
    committer_ = committer(ctx_);
    env_.vars = {{"GIT_DIR", ctx_.git_dir},
                 {"GIT_COMMITTER_NAME", committer_.first},
                 {"GIT_COMMITTER_EMAIL", committer_.second},
                 {"REMOTE_USER", ctx_.remote_user},
                 {"REMOTE_ADDR", ctx_.remote_addr}};
    if (req_.push_options) {
        env_.vars.push_back({"GIT_PUSH_OPTION_COUNT", std::to_string(req_.options.size())});
        for (size_t i = 0; i < req_.options.size(); i++)
            env_.vars.push_back({"GIT_PUSH_OPTION_" + std::to_string(i), req_.options[i]});
    }
    quarantine_env_ = env_;
    if (quarantine_) {
        quarantine_env_.vars.push_back({"GIT_QUARANTINE_PATH", quarantine_->path()});
        quarantine_env_.vars.push_back({"GIT_OBJECT_DIRECTORY", quarantine_->path()});
        quarantine_env_.vars.push_back(
            {"GIT_ALTERNATE_OBJECT_DIRECTORIES", ctx_.git_dir + "/objects"});
    }
}

// Returns the hook's status; 0 when hooks are off or it does not exist.
int Push::hook(const char *name, const std::vector<std::string> &args, std::string_view input,
               const HookEnv &with) {
    if (!ctx_.run_hooks)
        return 0;
    const std::string path = find_hook(ctx_.git_dir, name);
    if (path.empty())
        return 0;
    PhaseTimes::Scope hooks(ctx_.times, Phase::hooks);
    return run_hook(path, args, ctx_.git_dir, with, input,
                    [&](std::string_view text) { msg_.raw(text); });
}

void Push::check_commands() {
    // The quarantined objects and the repository's, for the checks.
    git_odb *check_raw = nullptr;
    git_check(git_odb_new(&check_raw), "opening the object database");
    OdbPtr check_odb(check_raw);
    add_object_dir(check_odb.get(), ctx_.git_dir + "/objects");
    if (quarantine_)
        add_object_dir(check_odb.get(), quarantine_->path());
    {
        PhaseTimes::Scope check(ctx_.times, Phase::check);
        Checker checker(repo_, config_, check_odb.get(), msg_);
        for (RefUpdate &u : updates_)
            if (u.error.empty())
                checker.check(u);
    }
    if (req_.atomic && !std::all_of(updates_.begin(), updates_.end(),
                                    [](const RefUpdate &u) { return u.error.empty(); }))
        fail_pending(updates_, "atomic push failure");

    // Hook call site: pre-receive, with every command still pending.
    if (any_pending(updates_) &&
        hook("pre-receive", {}, command_lines(updates_), quarantine_env_) != 0)
        fail_pending(updates_, "pre-receive hook declined");
    // Hook call site: update, once per ref.
    for (RefUpdate &u : updates_) {
        if (!u.error.empty())
            continue;
        if (hook("update", {u.ref, oid_hex(u.old_id), oid_hex(u.new_id)}, {}, quarantine_env_) !=
            0) {
            msg_.error("hook declined to update " + u.ref);
            u.error = "hook declined";
            if (req_.atomic) {
                fail_pending(updates_, "atomic push failure");
                break;
            }
        }
    }
}

std::vector<const RefUpdate *> Push::move_refs() {
    PhaseTimes::Scope refs(ctx_.times, Phase::refs);
    std::vector<const RefUpdate *> moved;
    if (any_pending(updates_)) {
        try {
            if (quarantine_)
                quarantine_->migrate();
        } catch (const Error &e) {
            msg_.error(e.what());
            fail_pending(updates_, "unable to migrate objects to permanent storage");
        }
    }
    quarantine_.reset(); // nothing of it stays unless migrated
    if (!any_pending(updates_))
        return moved;
    git_signature *sig_raw = nullptr;
    // Hooks get the user as it is, as from git http-backend; the reflog
    // gets it as git's ident code writes it.
    if (git_signature_now(&sig_raw, ident_without_crud(committer_.first).c_str(),
                          ident_without_crud(committer_.second).c_str()) < 0)
        git_check(git_signature_now(&sig_raw, "anonymous", "anonymous@http"),
                  "making the reflog identity");
    SignaturePtr sig(sig_raw);
    std::vector<bool> pending;
    for (const RefUpdate &u : updates_)
        pending.push_back(u.error.empty());
    update_refs(repo_, updates_, req_.atomic, sig.get(), "push");
    for (size_t i = 0; i < updates_.size(); i++) {
        if (!pending[i])
            continue;
        if (!updates_[i].detail.empty())
            msg_.rp_error(updates_[i].detail);
        if (updates_[i].error.empty())
            moved.push_back(&updates_[i]);
    }
    return moved;
}

void Push::run_post_hooks(const std::vector<const RefUpdate *> &moved) {
    if (moved.empty())
        return;
    // Hook call sites: post-receive and post-update, for what moved.
    std::string lines;
    std::vector<std::string> names;
    for (const RefUpdate *u : moved) {
        lines += oid_hex(u->old_id) + " " + oid_hex(u->new_id) + " " + u->ref + "\n";
        names.push_back(u->ref);
    }
    hook("post-receive", {}, lines, env_);
    hook("post-update", names, {}, env_);
}

void Push::report() {
    std::string report;
    if (req_.report_status || req_.report_status_v2) {
        proto::pkt_write_line(report, "unpack " + unpack_status_);
        for (const RefUpdate &u : updates_) {
            if (u.error.empty())
                proto::pkt_write_line(report, "ok " + u.ref);
            else
                proto::pkt_write_line(report, "ng " + u.ref + " " + u.error);
        }
        proto::pkt_flush(report);
    }
    for (const RefUpdate &u : updates_)
        outcome_.refused |= !u.error.empty();
    std::string &out = outcome_.response;
    if (req_.side_band_64k) {
        if (!report.empty())
            proto::sideband_write(out, 1, report);
        proto::pkt_flush(out);
    } else {
        out += report;
    }
}

} // namespace

std::string advertise_receive_pack(git_repository *repo, const ReceivePackConfig &config, bool v1) {
    std::string out;
    if (v1)
        proto::pkt_write_line(out, "version 1");
    std::string caps = "report-status report-status-v2 delete-refs side-band-64k quiet";
    if (config.advertise_atomic)
        caps += " atomic";
    caps += " ofs-delta";
    if (config.advertise_push_options)
        caps += " push-options";
    caps += " object-format=sha1 agent=";
    caps += kAgent;
    bool first = true;
    auto write_ref = [&](const git_oid &oid, const std::string &name) {
        std::string line = oid_hex(oid) + " " + name;
        if (first) {
            line.push_back('\0');
            line += caps;
            first = false;
        }
        proto::pkt_write_line(out, line);
    };
    // As git's write_head_info: an alternate's tip is a ".have" unless one
    // of our shown refs or an earlier ".have" already names it.
    pack::OidSet seen;
    for (const Ref &ref : list_refs(repo, config.hidden)) {
        if (ref.name == "HEAD" || ref.unborn)
            continue;
        seen.insert(ref.oid);
        write_ref(ref.oid, ref.name);
    }
    for (const git_oid &oid : alternate_ref_tips(repo))
        if (seen.insert(oid).second)
            write_ref(oid, ".have");
    if (first) {
        std::string line = zero_hex() + " capabilities^{}";
        line.push_back('\0');
        line += caps;
        proto::pkt_write_line(out, line);
    }
    proto::pkt_flush(out);
    return out;
}

struct ReceivePack::State {
    State(RepoPtr r, ReceivePackConfig conf, PushContext c, const RequestBody &body)
        : repo(std::move(r)), config(std::move(conf)), ctx(std::move(c)),
          pack_bound(pack_size_bound(ctx, body)),
          reader(body, ctx.content_encoding, ctx.max_request_size), pkts(reader),
          req(read_receive_request(pkts, config.advertise_push_options, ctx.max_request_size)) {}

    RepoPtr repo;
    const ReceivePackConfig config;
    const PushContext ctx;
    const size_t pack_bound;
    BodyReader reader;
    PktStream pkts; // reads through reader
    const ReceiveRequest req;
    bool ran = false;
};

ReceivePack::ReceivePack(RepoPtr repo, ReceivePackConfig config, PushContext ctx,
                         const RequestBody &body)
    : s_(std::make_unique<State>(std::move(repo), std::move(config), std::move(ctx), body)) {}

ReceivePack::~ReceivePack() = default;

size_t ReceivePack::commands() const {
    return s_->req.commands.size();
}

bool ReceivePack::side_band() const {
    return s_->req.side_band_64k;
}

int ReceivePack::keepalive_seconds() const {
    return s_->config.keepalive_seconds;
}

PushOutcome ReceivePack::run(const PushLive &live) {
    if (s_->ran)
        throw Error("receive-pack: the push has run already");
    s_->ran = true;
    const ReceiveRequest &req = s_->req;
    PushOutcome outcome;
    outcome.commands = req.commands.size();
    if (req.commands.empty())
        return outcome; // git answers nothing when told nothing

    Push push(s_->repo.get(), s_->config, s_->ctx, req, outcome, live);
    if (req.pack_expected())
        push.unpack([this](void *buf, size_t cap) { return s_->pkts.read_raw(buf, cap); },
                    s_->pack_bound);
    if (live.input_done)
        live.input_done();
    push.prepare_hooks();
    if (push.unpacked())
        push.check_commands();
    push.run_post_hooks(push.move_refs());
    push.report();
    return outcome;
}

} // namespace gsh

#include "walk/negotiation.h"

#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "odb/object_db.h"
#include "odb/pack_index.h"
#include "repo/commits.h"
#include "repo/upload_pack_config.h"
#include "util/git_ptr.h"
#include "util/oid_set.h"

namespace gsh {

namespace {

using OidSet = OidHashSet;

// Whether a walk from want, through commits not older than min_time,
// reaches a commit in they_have. Results are remembered across wants.
bool reaches(CommitCache &commits, const git_oid &want, const OidSet &they_have,
             git_time_t min_time, OidSet &reached, OidSet &stale, size_t &steps) {
    struct Frame {
        git_oid id;
        size_t next_parent;
    };
    std::vector<Frame> stack{{want, 0}};
    while (!stack.empty()) {
        ++steps;
        Frame &top = stack.back();
        if (they_have.count(top.id) || reached.count(top.id)) {
            git_oid done = top.id;
            stack.pop_back();
            reached.insert(done);
            if (!stack.empty())
                reached.insert(stack.back().id);
            continue;
        }
        const CommitInfo *info = commits.get(top.id);
        bool pushed = false;
        while (info && top.next_parent < info->parents.size()) {
            const git_oid &p = info->parents[top.next_parent++];
            if (they_have.count(p) || reached.count(p)) {
                reached.insert(top.id);
                break;
            }
            const CommitInfo *pinfo = commits.get(p);
            if (!stale.count(p) && pinfo && pinfo->time >= min_time) {
                stale.insert(p);
                stack.push_back({p, 0});
                pushed = true;
                break;
            }
        }
        if (pushed)
            continue;
        if (reached.count(top.id))
            continue; // handled at the top of the loop
        stale.insert(top.id);
        stack.pop_back();
    }
    return reached.count(want) > 0;
}

} // namespace

struct Negotiator::State {
    State(git_repository *repo, const pack::CommitGraph *graph) : commits(repo, graph) {}
    OdbPtr odb;
    CommitCache commits;
    OidSet they_have, seen_have;
    git_time_t oldest_have = 0;
    // The wants peeled to commits, once: not for every have.
    std::optional<std::vector<git_oid>> want_commits;
    // ok_to_give_up() depends only on they_have and oldest_have: remembered
    // until a have changes them, so that a run of haves we lack (each asks
    // again, as in git) costs one walk, not one each.
    std::optional<bool> give_up;
};

Negotiator::Negotiator(git_repository *repo, std::vector<git_oid> wants,
                       const pack::CommitGraph *graph)
    : repo_(repo), wants_(std::move(wants)), state_(std::make_unique<State>(repo, graph)) {
    git_odb *odb_raw = nullptr;
    git_check(git_repository_odb(&odb_raw, repo), "opening the object database");
    state_->odb.reset(odb_raw);
}

Negotiator::~Negotiator() = default;

Negotiator::Have Negotiator::got(const git_oid &h) {
    State &s = *state_;
    // A have the server lacks is common (the client's own commits): without
    // NO_REFRESH libgit2 would rescan the pack folder for each.
    if (!git_odb_exists_ext(s.odb.get(), &h, GIT_ODB_LOOKUP_NO_REFRESH))
        return Have::Missing;
    size_t len;
    git_object_t type;
    const CommitInfo *info = nullptr;
    if (git_odb_read_header(&len, &type, s.odb.get(), &h) == 0 && type == GIT_OBJECT_COMMIT)
        info = s.commits.get(h);
    if (!info) {
        have_objects_.push_back(h); // git records every non-commit have again
        return Have::New;
    }
    bool knew = !s.they_have.insert(h).second;
    if (!knew)
        s.give_up.reset();
    if (!s.oldest_have || info->time < s.oldest_have) {
        s.oldest_have = info->time;
        s.give_up.reset();
    }
    for (const git_oid &p : info->parents)
        if (s.they_have.insert(p).second)
            s.give_up.reset();
    if (knew)
        return Have::Known;
    have_objects_.push_back(h);
    return Have::New;
}

bool Negotiator::ok_to_give_up() {
    if (have_objects_.empty())
        return false;
    State &s = *state_;
    if (s.give_up)
        return *s.give_up;
    if (!s.want_commits) {
        // A want that is not a commit: git cannot tell, and counts it as reached.
        s.want_commits.emplace();
        for (const git_oid &w : wants_)
            if (std::optional<git_oid> commit = peel_to_commit(repo_, w))
                s.want_commits->push_back(*commit);
    }
    OidSet reached, stale;
    s.give_up = true;
    for (const git_oid &c : *s.want_commits) {
        if (!reaches(s.commits, c, s.they_have, s.oldest_have, reached, stale, walk_steps_)) {
            s.give_up = false;
            break;
        }
    }
    return *s.give_up;
}

std::optional<git_oid> first_missing(git_repository *repo, const pack::PackSet &packs,
                                     const std::vector<git_oid> &wants) {
    OdbPtr odb;
    for (const git_oid &w : wants)
        if (!object_exists(repo, packs, &odb, w))
            return w;
    return std::nullopt;
}

std::optional<git_oid> first_forbidden_want(git_repository *repo, const std::vector<git_oid> &wants,
                                            const std::vector<Tip> &tips, unsigned allow_uor) {
    if ((allow_uor & kAllowAnySha1) == kAllowAnySha1)
        return std::nullopt;
    bool hidden_ok = allow_uor & (kAllowTipSha1 | kAllowReachableSha1);
    pack::BasicOidSet<OidHash> ours(tips.size());
    for (const Tip &t : tips)
        if (!t.hidden || hidden_ok)
            ours.insert(t.oid);
    std::vector<git_oid> non_tip;
    for (const git_oid &w : wants)
        if (!ours.contains(w))
            non_tip.push_back(w);
    if (non_tip.empty())
        return std::nullopt;

    // A non-tip want is fine when no commit of it lies outside our history.
    git_revwalk *walk_raw = nullptr;
    git_check(git_revwalk_new(&walk_raw, repo), "starting a revision walk");
    RevwalkPtr walk(walk_raw);
    bool any_pushed = false;
    for (const git_oid &w : non_tip) {
        std::optional<git_oid> c = peel_to_commit(repo, w);
        if (c && git_revwalk_push(walk.get(), &*c) == 0)
            any_pushed = true;
    }
    if (!any_pushed)
        return std::nullopt;
    for (const git_oid &o : ours.oids())
        git_revwalk_hide(walk.get(), &o); // non-commit tips cannot be hidden; git skips them too
    git_oid next;
    if (git_revwalk_next(&next, walk.get()) != 0)
        return std::nullopt;
    return non_tip.front();
}

} // namespace gsh

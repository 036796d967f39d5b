// enumerate_objects(): the objects a fetch needs. With a reachability
// bitmap the counting is bitmap_walk.cpp's; this is the walk used without.
//
// Commits: with haves, git's own revision walk (enumerate_commits.cpp),
// which knows when to stop below the haves; without (a clone), a plain walk
// over every ancestor, reading commits straight from the packs.
//
// Trees and blobs are found by walking trees with one hash set of every
// object seen: first everything reachable from the uninteresting side (the
// haves, and the commits whose trees git's pack-objects counts as the
// client's) is inserted, then the trees of the wanted commits are walked,
// skipping subtrees already seen.
// Members inserted after the uninteresting phase are exactly the ones to
// send, so the set's insertion order gives the answer without flags.
//
// Objects are read with ObjectReader (pack files read directly, delta bases
// cached), which is several times faster than libgit2's object lookups here.
#include "walk/enumerate.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "odb/pack_index.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_set.h"
#include "walk/bitmap_walk.h"
#include "walk/clone_memo.h"
#include "walk/enumerate_commits.h"
#include "walk/filter_walk.h"
#include "walk/object_walk.h"
#include "walk/progress.h"

namespace gsh::pack {

// The walk. Not in an anonymous namespace: Enumeration names it a friend.
class Enumerator {
  public:
    Enumerator(git_repository *repo, std::shared_ptr<const PackSet> packs,
               const ProgressFn &progress)
        : repo_(repo), packs_(std::move(packs)), objects_(repo, *packs_), progress_(progress) {}

    Enumeration run(const EnumerateInput &in);
    // Every object reachable from roots, not following the parents of
    // parentless commits.
    OidSet reachable_from(const std::vector<git_oid> &roots,
                          const std::vector<git_oid> &parentless);

  private:
    // The client's side of the walk, by type; haves: those we have.
    struct Known {
        std::vector<git_oid> commits, trees, other, haves;
    };
    // The wanted side; pending: what is not a commit, in want order.
    struct Wanted {
        std::vector<git_oid> commits, trees, other;
        std::vector<std::pair<git_oid, git_object_t>> pending;
    };
    // The commits to send, with their trees.
    struct History {
        std::vector<git_oid> commits, trees;
    };
    // With a filter: what is sent, listed apart from the set.
    struct Sending {
        bool filtered = false;
        std::vector<git_oid> send;
        OidSet sent;
    };

    Known classify_haves(const std::vector<git_oid> &haves);
    Wanted classify_wants(const std::vector<git_oid> &wants);
    void walk_limited(const std::vector<git_oid> &want_commits, std::vector<git_oid> *known_commits,
                      History *history);
    void walk_all(const std::vector<git_oid> &want_commits, History *history);
    void insert_known(const Known &known);
    void insert_wanted(const ObjectFilter &filter, const Wanted &wanted, const History &history,
                       Sending *sending);
    bool is_sent(const Sending &sending, const git_oid &oid) const;
    void add_included_tags(const std::vector<git_oid> &include_tags, Sending *sending);
    Enumeration result(const EnumerateInput &in, Known &known, History &history, Sending &sending);

    git_object_t type_of(const git_oid &oid) { return objects_.type_of(oid); }
    void parse_commit(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents) {
        objects_.parse_commit(oid, tree, parents);
    }

    void insert(const git_oid &oid) {
        if (set_.insert(oid).second)
            tick();
    }
    void tick() {
        if (counting_)
            progress_.tick(set_.size() - boundary_);
        else
            progress_.check_in();
    }

    // Inserts tree and everything below it that is not in the set yet.
    void walk_tree(const git_oid &root) {
        if (!set_.insert(root).second)
            return;
        stack_.push_back(root);
        while (!stack_.empty()) {
            git_oid tree = stack_.back();
            stack_.pop_back();
            objects_.for_each_entry(tree, [&](const git_oid &id, bool is_tree) {
                if (!set_.insert(id).second)
                    return;
                tick();
                if (is_tree)
                    stack_.push_back(id);
            });
        }
    }

    // The history walk of a shallow fetch: parentless commits end it on both
    // sides, which libgit2's walk cannot be told.
    void walk_shallow(const std::vector<git_oid> &parentless, const std::vector<git_oid> &wants,
                      std::vector<git_oid> *known_commits, std::vector<git_oid> *commits,
                      std::vector<git_oid> *commit_trees);

    git_repository *repo_;
    std::shared_ptr<const PackSet> packs_;
    ObjectParser objects_;
    EnumerateProgress progress_;
    OidSet set_;
    size_t boundary_ = 0;   // members before this index are not sent
    bool counting_ = false; // past the uninteresting phase
    std::vector<git_oid> stack_;
};

void Enumerator::walk_shallow(const std::vector<git_oid> &parentless,
                              const std::vector<git_oid> &wants,
                              std::vector<git_oid> *known_commits, std::vector<git_oid> *commits,
                              std::vector<git_oid> *commit_trees) {
    OidSet grafted(parentless.size());
    for (const git_oid &c : parentless)
        grafted.insert(c);
    git_oid tree;
    std::vector<git_oid> parents;
    // Everything the client has, down to its boundary (a shallow client's
    // history is short by definition).
    OidSet have(4096);
    std::vector<git_oid> stack(known_commits->begin(), known_commits->end());
    while (!stack.empty()) {
        git_oid c = stack.back();
        stack.pop_back();
        if (!have.insert(c).second || grafted.contains(c))
            continue;
        parse_commit(c, &tree, &parents);
        stack.insert(stack.end(), parents.begin(), parents.end());
    }
    OidSet seen(4096);
    stack.assign(wants.rbegin(), wants.rend());
    while (!stack.empty()) {
        git_oid c = stack.back();
        stack.pop_back();
        if (have.contains(c)) {
            known_commits->push_back(c);
            continue;
        }
        if (!seen.insert(c).second)
            continue;
        parse_commit(c, &tree, &parents);
        commits->push_back(c);
        commit_trees->push_back(tree);
        if (!grafted.contains(c))
            for (size_t i = parents.size(); i-- > 0;)
                stack.push_back(parents[i]);
    }
}

Enumeration Enumerator::run(const EnumerateInput &in) {
    Known known = classify_haves(in.haves);
    const Wanted wanted = classify_wants(in.wants);
    History history;
    if (!in.parentless.empty())
        walk_shallow(in.parentless, wanted.commits, &known.commits, &history.commits,
                     &history.trees);
    else if (!known.commits.empty())
        walk_limited(wanted.commits, &known.commits, &history);
    else
        walk_all(wanted.commits, &history);
    insert_known(known);
    Sending sending;
    sending.filtered = in.filter.active();
    insert_wanted(in.filter, wanted, history, &sending);
    add_included_tags(in.include_tags, &sending);
    progress_.done(sending.filtered ? sending.send.size() : set_.size() - boundary_);
    return result(in, known, history, sending);
}

// The uninteresting side: haves classified by type; commits hidden.
Enumerator::Known Enumerator::classify_haves(const std::vector<git_oid> &haves) {
    Known known;
    for (const git_oid &have : haves) {
        if (!objects_.exists(have))
            continue; // the client has something we do not: irrelevant
        known.haves.push_back(have);
        git_oid oid = have;
        const git_object_t type = objects_.peel_tags(
            &oid, type_of(oid), [&](const git_oid &tag) { known.other.push_back(tag); });
        if (type == GIT_OBJECT_COMMIT) {
            known.commits.push_back(oid);
        } else if (type == GIT_OBJECT_TREE) {
            known.trees.push_back(oid);
        } else {
            known.other.push_back(oid);
        }
    }
    return known;
}

// The wanted side: tags peeled (and sent), commits to walk from; the rest
// in want order for a filter.
Enumerator::Wanted Enumerator::classify_wants(const std::vector<git_oid> &wants) {
    Wanted wanted;
    for (const git_oid &want : wants) {
        git_oid oid = want;
        const git_object_t type = objects_.peel_tags(&oid, type_of(oid), [&](const git_oid &tag) {
            wanted.other.push_back(tag);
            wanted.pending.emplace_back(tag, GIT_OBJECT_TAG);
        });
        if (type == GIT_OBJECT_COMMIT) {
            wanted.commits.push_back(oid);
            continue;
        }
        wanted.pending.emplace_back(oid, type);
        if (type == GIT_OBJECT_TREE)
            wanted.trees.push_back(oid);
        else
            wanted.other.push_back(oid);
    }
    return wanted;
}

// git's walk, so that no commit is new here that git knows the client has;
// the commits whose trees git leaves out join the client's side.
void Enumerator::walk_limited(const std::vector<git_oid> &want_commits,
                              std::vector<git_oid> *known_commits, History *history) {
    LimitedCommits limited =
        limit_commits(objects_, want_commits, *known_commits, [this] { progress_.check_in(); });
    history->commits = std::move(limited.commits);
    history->trees = std::move(limited.trees);
    known_commits->insert(known_commits->end(), limited.edge.begin(), limited.edge.end());
}

// Nothing hidden: every ancestor. A depth-first walk (first parents first)
// visits trees in history order, which suits delta bases.
void Enumerator::walk_all(const std::vector<git_oid> &want_commits, History *history) {
    OidSet seen(4096);
    std::vector<git_oid> parents;
    std::vector<git_oid> stack(want_commits.rbegin(), want_commits.rend());
    while (!stack.empty()) {
        git_oid c = stack.back();
        stack.pop_back();
        if (!seen.insert(c).second)
            continue;
        git_oid tree;
        parse_commit(c, &tree, &parents);
        history->commits.push_back(c);
        history->trees.push_back(tree);
        for (size_t i = parents.size(); i-- > 0;)
            if (!seen.contains(parents[i]))
                stack.push_back(parents[i]);
    }
}

// Phase 1: everything the client has.
void Enumerator::insert_known(const Known &known) {
    std::vector<git_oid> parents;
    for (const git_oid &c : known.commits) {
        if (set_.insert(c).second) {
            git_oid tree;
            parse_commit(c, &tree, &parents);
            walk_tree(tree);
        }
    }
    for (const git_oid &t : known.trees)
        walk_tree(t);
    for (const git_oid &o : known.other)
        set_.insert(o);
    boundary_ = set_.size();
    counting_ = true;
}

// Phase 2: everything the client needs. With a filter, the set holds what
// the walk is done with, and what is sent is listed apart.
void Enumerator::insert_wanted(const ObjectFilter &filter, const Wanted &wanted,
                               const History &history, Sending *sending) {
    set_.reserve(boundary_ + history.commits.size() * 8);
    if (sending->filtered) {
        OidSet want_commits(wanted.commits.size());
        for (const git_oid &c : wanted.commits)
            want_commits.insert(c);
        FilterWalk walk(repo_, objects_, filter, set_);
        walk.run({&history.commits, &history.trees, &want_commits, &wanted.pending}, &sending->send,
                 &sending->sent);
        return;
    }
    for (size_t i = 0; i < history.commits.size(); i++) {
        insert(history.commits[i]);
        walk_tree(history.trees[i]);
    }
    for (const git_oid &t : wanted.trees)
        walk_tree(t);
    for (const git_oid &o : wanted.other)
        insert(o);
}

bool Enumerator::is_sent(const Sending &sending, const git_oid &oid) const {
    if (sending.filtered)
        return sending.sent.contains(oid);
    const int64_t idx = set_.find(oid);
    return idx >= 0 && size_t(idx) >= boundary_;
}

// include-tag: a tag whose chain ends at an object being sent comes along
// with the tags it goes through.
void Enumerator::add_included_tags(const std::vector<git_oid> &include_tags, Sending *sending) {
    std::vector<git_oid> chain;
    for (const git_oid &tag : include_tags) {
        if (set_.contains(tag) || !objects_.exists(tag) || type_of(tag) != GIT_OBJECT_TAG)
            continue;
        chain.clear();
        git_oid cur = tag;
        objects_.peel_tags(&cur, GIT_OBJECT_TAG, [&](const git_oid &t) { chain.push_back(t); });
        if (!is_sent(*sending, cur))
            continue;
        for (const git_oid &t : chain) {
            if (!sending->filtered) {
                insert(t);
            } else if (set_.insert(t).second) {
                sending->sent.insert(t);
                sending->send.push_back(t);
            }
        }
    }
}

Enumeration Enumerator::result(const EnumerateInput &in, Known &known, History &history,
                               Sending &sending) {
    Enumeration out;
    out.packs_ = packs_;
    out.repo_ = repo_;
    if (boundary_ == 0) {
        out.objects = sending.filtered ? std::move(sending.send) : set_.take();
        return out;
    }
    // The members before the boundary are what the client has: kept for
    // thin packs.
    if (sending.filtered)
        out.objects = std::move(sending.send);
    else
        out.objects.assign(set_.oids().begin() + std::ptrdiff_t(boundary_), set_.oids().end());
    out.known_ = std::move(set_);
    out.known_count_ = boundary_;
    out.haves_ = std::move(known.haves);
    out.parentless_ = in.parentless;
    out.commits_ = std::move(history.commits);
    return out;
}

OidSet Enumerator::reachable_from(const std::vector<git_oid> &roots,
                                  const std::vector<git_oid> &parentless) {
    OidSet grafted(parentless.size());
    for (const git_oid &c : parentless)
        grafted.insert(c);
    std::vector<git_oid> commits, parents;
    for (const git_oid &root : roots) {
        git_oid oid = root;
        const git_object_t type =
            objects_.peel_tags(&oid, type_of(oid), [&](const git_oid &tag) { set_.insert(tag); });
        if (type == GIT_OBJECT_COMMIT)
            commits.push_back(oid);
        else if (type == GIT_OBJECT_TREE)
            walk_tree(oid);
        else
            set_.insert(oid);
    }
    while (!commits.empty()) {
        git_oid c = commits.back();
        commits.pop_back();
        if (!set_.insert(c).second)
            continue;
        git_oid tree;
        parse_commit(c, &tree, &parents);
        walk_tree(tree);
        if (!grafted.contains(c))
            for (const git_oid &p : parents)
                if (!set_.contains(p))
                    commits.push_back(p);
    }
    return std::move(set_);
}

Enumeration::Enumeration() = default;
Enumeration::Enumeration(std::vector<git_oid> objects) : objects(std::move(objects)) {}
Enumeration::Enumeration(const Enumeration &) = default;
Enumeration::Enumeration(Enumeration &&) noexcept = default;
Enumeration &Enumeration::operator=(Enumeration &&) noexcept = default;
Enumeration::~Enumeration() = default;

Enumeration Enumeration::copy_for(git_repository *repo,
                                  std::shared_ptr<const PackSet> packs) const {
    // Ranks are read through the order of the packs given, which the caller
    // knows to be the order counted on (the same checksum); a copy without
    // packs keeps no pointer into packs it does not hold.
    const BitmapOrder *order = nullptr;
    if (packs && (bitmap_ || have_) && !packs->bitmap(&order))
        throw Error("a bitmap count copied for packs without a bitmap");
    Enumeration out(*this);
    out.packs_ = std::move(packs);
    out.repo_ = repo;
    if (out.bitmap_)
        out.bitmap_->order = order;
    if (out.have_)
        out.have_->order = order;
    return out;
}

size_t Enumeration::memory_bytes() const {
    auto bits = [](const Bitmapped *b) {
        return b ? (b->send.word_count() + b->have.word_count()) * 8 +
                       b->have_extra.size() * 2 * sizeof(git_oid)
                 : 0;
    };
    const size_t oids = objects.size() + haves_.size() + parentless_.size() + commits_.size() +
                        2 * known_.size() + (reachable_ ? 2 * reachable_->size() : 0);
    return oids * sizeof(git_oid) + bits(bitmap_.get()) + bits(have_.get());
}

const Bitset *Enumeration::pack_objects(const BitmapOrder **order) const {
    if (!bitmap_)
        return nullptr;
    *order = bitmap_->order;
    return &bitmap_->send;
}

size_t Enumeration::count() const {
    return objects.size() + (bitmap_ ? bitmap_->send.count() : 0);
}

std::vector<git_oid> Enumeration::list() const {
    std::vector<git_oid> out = objects;
    if (bitmap_) {
        const BitmapOrder &order = *bitmap_->order;
        out.reserve(count());
        bitmap_->send.for_each([&](size_t r) {
            git_oid oid;
            std::memcpy(oid.id, order.oid_at_rank(r), GIT_OID_RAWSZ);
            out.push_back(oid);
        });
    }
    return out;
}

bool Enumeration::client_has(const git_oid &oid) const {
    for (const Bitmapped *b : {bitmap_.get(), have_.get()}) {
        if (!b)
            continue;
        const int64_t r = b->order->rank_of(oid);
        return r >= 0 ? b->have.test(size_t(r)) : b->have_extra.contains(oid);
    }
    if (reachable_)
        return reachable_->contains(oid);
    const int64_t i = known_count_ ? known_.find(oid) : -1;
    return i >= 0 && size_t(i) < known_count_;
}

bool Enumeration::client_has_any() const {
    if (bitmap_)
        return !bitmap_->have_extra.empty() ||
               std::any_of(bitmap_->have.words().begin(), bitmap_->have.words().end(),
                           [](uint64_t w) { return w != 0; });
    return known_count_ > 0;
}

std::vector<git_oid> Enumeration::sent_commits() const {
    if (!bitmap_)
        return commits_;
    std::vector<git_oid> out;
    const BitmapOrder *order = nullptr;
    const BitmapIndex *index = packs_->bitmap(&order);
    if (!index || order != bitmap_->order)
        return out;
    const Bitset &commits = index->type(BitmapIndex::kCommits);
    bitmap_->send.for_each([&](size_t r) {
        if (!commits.test(r))
            return;
        git_oid oid;
        std::memcpy(oid.id, order->oid_at_rank(r), GIT_OID_RAWSZ);
        out.push_back(oid);
    });
    if (objects.empty())
        return out;
    git_odb *odb = nullptr;
    git_check(git_repository_odb(&odb, repo_), "opening the object database");
    OdbPtr owned(odb);
    for (const git_oid &oid : objects) {
        size_t size;
        git_object_t type;
        if (git_odb_read_header(&size, &type, odb, &oid) == 0 && type == GIT_OBJECT_COMMIT)
            out.push_back(oid);
    }
    git_error_clear();
    return out;
}

std::vector<git_oid> Enumeration::deepened_commits() const {
    // Each costs a tree diff; a client that deepens has a few.
    constexpr size_t kMax = 256;
    if (parentless_.empty())
        return {};
    return std::vector<git_oid>(haves_.begin(),
                                haves_.begin() + std::ptrdiff_t(std::min(haves_.size(), kMax)));
}

void Enumeration::widen_known() {
    if (!can_widen())
        return;
    static const ProgressFn kSilent;
    Enumerator e(repo_, packs_, kSilent);
    reachable_ = std::make_unique<OidSet>(e.reachable_from(haves_, parentless_));
}

namespace {

// Commits outside every bitmap past which a fetch is counted by the walk.
// git counts with the bitmap when a have is in the bitmapped pack; on a
// repository with thousands of commits pushed since its last repack, a
// fetch 150 commits behind costs git about 1.2 s that way, and the walk
// about 0.3 s.
constexpr size_t kBitmapUncoveredLimit = 1000;

// The count itself, with the bitmap or by the walk.
Enumeration count_objects(git_repository *repo, std::shared_ptr<const PackSet> packs,
                          const EnumerateInput &in, const ProgressFn &progress) {
    // git counts shallow fetches by walking too: a bitmap knows nothing of
    // the client's boundary.
    if (in.parentless.empty() && BitmapEnumerator::can_filter(in.filter)) {
        const BitmapOrder *order = nullptr;
        if (const BitmapIndex *bitmap = packs->bitmap(&order)) {
            BitmapEnumerator e(repo, packs, *order, *bitmap, progress);
            if (!in.haves.empty() && !e.reaches_pack(in.haves)) {
                Enumerator w(repo, packs, progress);
                return w.run(in);
            }
            if (e.worth_it(in, kBitmapUncoveredLimit))
                return e.run(in);
            // The walk leaves out only what the trees at its edge hold;
            // git counts with the bitmap, which leaves out everything the
            // haves reach: so is the walk's answer narrowed, with the
            // haves' side counted by the bitmap (cheap: the client's
            // commits are old, and mostly covered).
            Enumerator w(repo, packs, progress);
            Enumeration out = w.run(in);
            if (!in.haves.empty())
                e.subtract_haves(in, &out);
            return out;
        }
    }
    Enumerator e(repo, std::move(packs), progress);
    return e.run(in);
}

} // namespace

Enumeration enumerate_objects(git_repository *repo, std::shared_ptr<const PackSet> packs,
                              const EnumerateInput &in, const ProgressFn &progress) {
    CloneMemo &memo = CloneMemo::process();
    if (std::optional<Enumeration> kept = memo.find(packs, in, repo)) {
        EnumerateProgress(progress).done(kept->count());
        return std::move(*kept);
    }
    Enumeration out = count_objects(repo, packs, in, progress);
    memo.keep(packs, in, out);
    return out;
}

Enumeration enumerate_objects(git_repository *repo, const EnumerateInput &in,
                              const ProgressFn &progress) {
    return enumerate_objects(repo, std::make_shared<const PackSet>(repo), in, progress);
}

} // namespace gsh::pack

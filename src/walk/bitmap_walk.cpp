#include "walk/bitmap_walk.h"

#include <algorithm>
#include <cstring>

namespace gsh::pack {

BitmapEnumerator::BitmapEnumerator(git_repository *repo, std::shared_ptr<const PackSet> packs,
                                   const BitmapOrder &order, const BitmapIndex &bitmap,
                                   const ProgressFn &progress)
    : repo_(repo), packs_(std::move(packs)), order_(order), bitmap_(bitmap),
      objects_(repo, *packs_), progress_(progress) {}

int64_t BitmapEnumerator::rank_of(const git_oid &oid, uint32_t *pos) const {
    const int64_t p = order_.find(oid);
    if (p < 0)
        return -1;
    *pos = uint32_t(p);
    return order_.rank_of_pos(uint32_t(p));
}

bool BitmapEnumerator::has(const Side &side, const git_oid &oid) const {
    uint32_t pos;
    const int64_t r = rank_of(oid, &pos);
    return r >= 0 ? side.bits.test(size_t(r)) : side.extra.contains(oid);
}

bool BitmapEnumerator::mark(Side &side, const git_oid &oid, const Side *stop) {
    uint32_t pos;
    const int64_t r = rank_of(oid, &pos);
    if (r >= 0) {
        if (side.bits.test(size_t(r)) || (stop && stop->bits.test(size_t(r))))
            return false;
        side.bits.set(size_t(r));
        return true;
    }
    if (stop && stop->extra.contains(oid))
        return false;
    return side.extra.insert(oid).second;
}

// Marks tree and what it reaches; a subtree already counted (by a bitmap,
// or by an earlier tree walk) is not entered: all below it is counted.
void BitmapEnumerator::walk_tree(const git_oid &root, Side &side, const Side *stop) {
    if (!mark(side, root, stop))
        return;
    stack_.assign(1, root);
    while (!stack_.empty()) {
        progress_.check_in();
        const git_oid tree = stack_.back();
        stack_.pop_back();
        objects_.for_each_entry(tree, [&](const git_oid &id, bool is_tree) {
            if (entries_met_)
                entries_met_->insert(id);
            if (drop_blobs_ && !is_tree)
                return;
            if (mark(side, id, stop) && is_tree)
                stack_.push_back(id);
        });
    }
}

void BitmapEnumerator::find_objects(const std::vector<git_oid> &roots, Side &side, const Side *stop,
                                    OidSet *demoted) {
    // Trees and blobs named by the roots, in order (after their tags).
    std::vector<std::pair<git_oid, bool>> pending;
    std::vector<git_oid> commits, trees;
    for (const git_oid &root : roots) {
        git_oid oid = root;
        const git_object_t type = objects_.peel_tags(
            &oid, objects_.type_of(oid), [&](const git_oid &tag) { mark(side, tag, stop); });
        if (type == GIT_OBJECT_COMMIT)
            commits.push_back(oid);
        else
            pending.emplace_back(oid, type == GIT_OBJECT_TREE);
    }
    // Commits first, so that every bitmap reached is in before the trees
    // are walked.
    while (!commits.empty()) {
        progress_.check_in();
        const git_oid c = commits.back();
        commits.pop_back();
        uint32_t pos;
        const int64_t r = rank_of(c, &pos);
        if (r >= 0) {
            if (side.bits.test(size_t(r)) || (stop && stop->bits.test(size_t(r))))
                continue;
            if (const Bitset *reach = bitmap_.reachable(pos)) {
                side.bits |= *reach;
                continue;
            }
            side.bits.set(size_t(r));
        } else if ((stop && stop->extra.contains(c)) || !side.extra.insert(c).second) {
            continue;
        }
        git_oid tree;
        objects_.parse_commit(c, &tree, &parents_);
        trees.push_back(tree);
        commits.insert(commits.end(), parents_.begin(), parents_.end());
    }
    // git walks what the bitmaps do not cover with the filter on, where a
    // named tree or blob met before as a tree entry or a commit's tree is no
    // longer the client's own want: it loses the protection of wants.
    OidSet met;
    const bool track = demoted && std::any_of(pending.begin(), pending.end(),
                                              [](const auto &p) { return p.second; });
    if (track)
        for (const git_oid &t : trees)
            met.insert(t);
    // A filter that skips the entries of the trees it is asked about meets
    // only the entries of the named trees themselves.
    entries_met_ = track && !skips_trees_ ? &met : nullptr;
    for (const auto &[oid, is_tree] : pending) {
        if (track && met.contains(oid))
            demoted->insert(oid);
        if (track && skips_trees_ && is_tree && !has(side, oid))
            objects_.for_each_entry(oid, [&](const git_oid &id, bool) { met.insert(id); });
        if (is_tree)
            walk_tree(oid, side, stop);
        else
            mark(side, oid, stop);
    }
    // The wants' side of a filter that keeps no tree or blob but those
    // named (tree:0, object:type=commit or tag): the trees of the commits
    // that no bitmap covers would all be taken out again.
    if (!(demoted && skips_trees_))
        for (const git_oid &t : trees)
            walk_tree(t, side, stop);
    entries_met_ = nullptr;
}

bool BitmapEnumerator::worth_it(const EnumerateInput &in, size_t limit) {
    if (in.haves.empty())
        return true; // a clone: the walk would go through everything
    std::vector<git_oid> commits;
    for (const auto *roots : {&in.haves, &in.wants})
        for (git_oid oid : *roots) {
            if (!objects_.exists(oid))
                continue;
            if (objects_.peel_tags(&oid, objects_.type_of(oid), [](const git_oid &) {}) ==
                GIT_OBJECT_COMMIT)
                commits.push_back(oid);
        }
    OidSet seen;
    size_t uncovered = 0;
    while (!commits.empty()) {
        progress_.check_in();
        const git_oid c = commits.back();
        commits.pop_back();
        if (!seen.insert(c).second)
            continue;
        uint32_t pos;
        if (rank_of(c, &pos) >= 0 && bitmap_.reachable(pos))
            continue;
        if (++uncovered > limit)
            return false;
        git_oid tree;
        objects_.parse_commit(c, &tree, &parents_);
        commits.insert(commits.end(), parents_.begin(), parents_.end());
    }
    return true;
}

bool BitmapEnumerator::reaches_pack(const std::vector<git_oid> &haves) {
    uint32_t pos;
    for (const git_oid &h : haves) {
        if (!objects_.exists(h))
            continue;
        bool found = rank_of(h, &pos) >= 0;
        git_oid oid = h;
        objects_.peel_tags(&oid, objects_.type_of(oid),
                           [&](const git_oid &tag) { found = found || rank_of(tag, &pos) >= 0; });
        if (found || rank_of(oid, &pos) >= 0)
            return true;
    }
    return false;
}

void BitmapEnumerator::subtract_haves(const EnumerateInput &in, Enumeration *out) {
    Side have{Bitset(order_.count()), OidSet()};
    std::vector<git_oid> haves;
    for (const git_oid &h : in.haves)
        if (objects_.exists(h))
            haves.push_back(h);
    if (haves.empty())
        return;
    find_objects(haves, have, nullptr, nullptr);
    std::vector<git_oid> &objects = out->objects;
    objects.erase(std::remove_if(objects.begin(), objects.end(),
                                 [&](const git_oid &oid) { return has(have, oid); }),
                  objects.end());
    // A partial clone lacks what its filter left out, however reachable.
    if (in.filter.active())
        return;
    out->have_ = std::make_unique<Enumeration::Bitmapped>();
    out->have_->order = &order_;
    out->have_->have = std::move(have.bits);
    out->have_->have_extra = std::move(have.extra);
}

bool BitmapEnumerator::can_filter(const ObjectFilter &filter) {
    switch (filter.kind) {
    case ObjectFilter::Kind::None:
    case ObjectFilter::Kind::BlobNone:
    case ObjectFilter::Kind::BlobLimit:
    case ObjectFilter::Kind::ObjectType:
        return true;
    case ObjectFilter::Kind::TreeDepth:
        return filter.value == 0;
    case ObjectFilter::Kind::Combine:
        for (const ObjectFilter &sub : filter.subs)
            if (!can_filter(sub))
                return false;
        return true;
    default:
        return false;
    }
}

bool BitmapEnumerator::skips_trees(const ObjectFilter &filter) {
    switch (filter.kind) {
    case ObjectFilter::Kind::TreeDepth:
        return filter.value == 0;
    case ObjectFilter::Kind::ObjectType:
        return filter.type == GIT_OBJECT_COMMIT || filter.type == GIT_OBJECT_TAG;
    case ObjectFilter::Kind::Combine:
        for (const ObjectFilter &sub : filter.subs)
            if (!skips_trees(sub))
                return false;
        return !filter.subs.empty();
    default:
        return false;
    }
}

bool BitmapEnumerator::drops_blobs(const ObjectFilter &filter) {
    switch (filter.kind) {
    case ObjectFilter::Kind::BlobNone:
        return true;
    case ObjectFilter::Kind::TreeDepth:
        return filter.value == 0;
    case ObjectFilter::Kind::ObjectType:
        return filter.type != GIT_OBJECT_BLOB;
    case ObjectFilter::Kind::Combine:
        // Each filter of a combination takes out what it omits.
        return std::any_of(filter.subs.begin(), filter.subs.end(),
                           [](const ObjectFilter &sub) { return drops_blobs(sub); });
    default:
        return false;
    }
}

template <typename Keep> void BitmapEnumerator::filter_extra(Side &want, Keep &&keep) {
    if (want.extra.empty())
        return;
    OidSet kept(want.extra.size());
    for (const git_oid &oid : want.extra.oids())
        if (keep(oid, objects_.type_of(oid)))
            kept.insert(oid);
    want.extra = std::move(kept);
}

void BitmapEnumerator::exclude_type(BitmapIndex::Type type, Side &want, const Side &tips) {
    static const git_object_t kTypes[] = {GIT_OBJECT_COMMIT, GIT_OBJECT_TREE, GIT_OBJECT_BLOB,
                                          GIT_OBJECT_TAG};
    Bitset mask = bitmap_.type(type);
    mask.and_not(tips.bits);
    want.bits.and_not(mask);
    filter_extra(want, [&](const git_oid &oid, git_object_t t) {
        return t != kTypes[type] || tips.extra.contains(oid);
    });
}

void BitmapEnumerator::apply_filter(const ObjectFilter &filter, Side &want, const Side &tips) {
    switch (filter.kind) {
    case ObjectFilter::Kind::BlobNone:
        exclude_type(BitmapIndex::kBlobs, want, tips);
        break;
    case ObjectFilter::Kind::BlobLimit: {
        Bitset blobs = bitmap_.type(BitmapIndex::kBlobs);
        blobs &= want.bits;
        blobs.and_not(tips.bits);
        blobs.for_each([&](size_t r) {
            git_oid oid;
            std::memcpy(oid.id, order_.oid_at_rank(r), GIT_OID_RAWSZ);
            if (objects_.size_of(oid) >= filter.value)
                want.bits.words()[r / 64] &= ~(uint64_t(1) << (r % 64));
        });
        filter_extra(want, [&](const git_oid &oid, git_object_t t) {
            return t != GIT_OBJECT_BLOB || tips.extra.contains(oid) ||
                   objects_.size_of(oid) < filter.value;
        });
        break;
    }
    case ObjectFilter::Kind::TreeDepth:
        exclude_type(BitmapIndex::kTrees, want, tips);
        exclude_type(BitmapIndex::kBlobs, want, tips);
        break;
    case ObjectFilter::Kind::ObjectType:
        if (filter.type != GIT_OBJECT_TAG)
            exclude_type(BitmapIndex::kTags, want, tips);
        if (filter.type != GIT_OBJECT_COMMIT)
            exclude_type(BitmapIndex::kCommits, want, tips);
        if (filter.type != GIT_OBJECT_TREE)
            exclude_type(BitmapIndex::kTrees, want, tips);
        if (filter.type != GIT_OBJECT_BLOB)
            exclude_type(BitmapIndex::kBlobs, want, tips);
        break;
    case ObjectFilter::Kind::Combine:
        for (const ObjectFilter &sub : filter.subs)
            apply_filter(sub, want, tips);
        break;
    default:
        break;
    }
}

Enumeration BitmapEnumerator::run(const EnumerateInput &in) {
    const size_t n = order_.count();
    Side have{Bitset(n), OidSet()}, want{Bitset(n), OidSet()};
    std::vector<git_oid> haves;
    for (const git_oid &h : in.haves)
        if (objects_.exists(h)) // the client may have what we do not
            haves.push_back(h);
    find_objects(haves, have, nullptr, nullptr);
    OidSet demoted;
    skips_trees_ = skips_trees(in.filter);
    drop_blobs_ = drops_blobs(in.filter);
    find_objects(in.wants, want, &have, in.filter.active() ? &demoted : nullptr);
    drop_blobs_ = false;
    want.bits.and_not(have.bits); // the bitmaps ORed on the wants' side
    if (in.filter.active()) {
        Side tips{Bitset(n), OidSet()};
        for (const git_oid &w : in.wants) {
            auto mark_tip = [&](const git_oid &oid) {
                if (!demoted.contains(oid))
                    mark(tips, oid, nullptr);
            };
            git_oid oid = w;
            objects_.peel_tags(&oid, objects_.type_of(oid), mark_tip);
            mark_tip(oid);
        }
        apply_filter(in.filter, want, tips);
    }

    // include-tag: a tag whose chain ends at an object being sent comes
    // along with the tags of the chain that the client lacks.
    std::vector<git_oid> chain;
    for (const git_oid &tag : in.include_tags) {
        if (has(want, tag) || has(have, tag) || !objects_.exists(tag) ||
            objects_.type_of(tag) != GIT_OBJECT_TAG)
            continue;
        chain.clear();
        git_oid cur = tag;
        objects_.peel_tags(&cur, GIT_OBJECT_TAG, [&](const git_oid &t) { chain.push_back(t); });
        if (!has(want, cur))
            continue;
        for (const git_oid &t : chain)
            if (!has(have, t))
                mark(want, t, nullptr);
    }

    Enumeration out;
    out.packs_ = packs_;
    out.repo_ = repo_;
    out.objects = want.extra.take();
    out.bitmap_ = std::make_unique<Enumeration::Bitmapped>();
    out.bitmap_->order = &order_;
    out.bitmap_->send = std::move(want.bits);
    out.bitmap_->have = std::move(have.bits);
    out.bitmap_->have_extra = std::move(have.extra);
    progress_.done(out.count());
    return out;
}

} // namespace gsh::pack

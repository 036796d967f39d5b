// enumerate_objects() with the repository's reachability bitmap.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "odb/bitmap_index.h"
#include "odb/bitmap_order.h"
#include "odb/pack_index.h"
#include "util/oid_set.h"
#include "walk/enumerate.h"
#include "walk/object_walk.h"
#include "walk/progress.h"

namespace gsh::pack {

// The objects the bitmap numbers, by rank in its order (one pack's, or a
// multi-pack-index's), and what the haves reach outside it.
struct Enumeration::Bitmapped {
    const BitmapOrder *order = nullptr; // the PackSet's
    Bitset send;                        // to send
    Bitset have;                        // reached by the haves
    OidSet have_extra;                  // reached by the haves, without a rank
};

// Wants minus haves, as git's find_objects() counts them: the bitmaps of
// the commits that have one are ORed; commits without one are walked until
// they reach a commit that has one (or one already counted), then their
// trees are walked, skipping what is already counted. Objects that have no
// rank in the bitmap's order (other packs, loose objects) are kept in a set.
class BitmapEnumerator {
  public:
    // bitmap and order are packs->bitmap()'s; both must outlive the
    // enumerator.
    BitmapEnumerator(git_repository *repo, std::shared_ptr<const PackSet> packs,
                     const BitmapOrder &order, const BitmapIndex &bitmap,
                     const ProgressFn &progress);

    Enumeration run(const EnumerateInput &in);
    // Whether counting with the bitmap beats the walk for in: not when the
    // haves and wants lead to more than limit commits that no bitmap covers
    // (pushed since the last repack): the bitmap count walks the trees of
    // every one of them, the walk only those between the wants and the
    // haves.
    bool worth_it(const EnumerateInput &in, size_t limit);
    // Whether one of the haves (or an object their tags lead to) is in the
    // bitmapped pack. When none is, git 2.39 counts without the bitmap (its
    // prepare_bitmap_walk() gives up): a client whose commits are newer than
    // the last repack would have all of them walked down to the bitmapped
    // ancestors, trees included, for nothing.
    bool reaches_pack(const std::vector<git_oid> &haves);
    // Takes out of a walk's answer (not shallow) everything the haves of in
    // reach, counted as run() counts them; without a filter, the client is
    // then known to have all of it (thin packs may use it as bases).
    void subtract_haves(const EnumerateInput &in, Enumeration *out);

    // Whether the filter can be applied to the bitmap's result (git's
    // can_filter_bitmap()): blob:none, blob:limit, tree:0, object:type and
    // their combinations.
    static bool can_filter(const ObjectFilter &filter);
    // Whether git's walk with this filter never enters a tree that was not
    // named by the client (tree:0, object:type=commit or tag).
    static bool skips_trees(const ObjectFilter &filter);
    // Whether the filter leaves out every blob that is not named.
    static bool drops_blobs(const ObjectFilter &filter);

  private:
    // What one side (the haves, the wants) reaches.
    struct Side {
        Bitset bits;
        OidSet extra;
    };
    // Rank of oid in the bitmap's order (and its position in the order's
    // oid table), or -1.
    int64_t rank_of(const git_oid &oid, uint32_t *pos) const;
    // Counts oid on side unless it or stop already has it; returns whether
    // it was new.
    bool mark(Side &side, const git_oid &oid, const Side *stop);
    bool has(const Side &side, const git_oid &oid) const;
    // With demoted: collects the named trees and blobs that git's filtered
    // walk no longer counts as wants (see the definition).
    void find_objects(const std::vector<git_oid> &roots, Side &side, const Side *stop,
                      OidSet *demoted);
    void walk_tree(const git_oid &root, Side &side, const Side *stop);
    // Takes out of want what filter omits, but never a tip (a want, or an
    // object a wanted tag leads to).
    void apply_filter(const ObjectFilter &filter, Side &want, const Side &tips);
    void exclude_type(BitmapIndex::Type type, Side &want, const Side &tips);
    // Keeps those of want.extra for which keep(oid, type) holds.
    template <typename Keep> void filter_extra(Side &want, Keep &&keep);

    git_repository *repo_;
    std::shared_ptr<const PackSet> packs_;
    const BitmapOrder &order_;
    const BitmapIndex &bitmap_;
    ObjectParser objects_;
    EnumerateProgress progress_;
    std::vector<git_oid> stack_, parents_;
    OidSet *entries_met_ = nullptr; // every tree entry walk_tree() meets
    bool skips_trees_ = false;
    // While the wants' side is counted with such a filter: walk_tree()
    // leaves blobs out rather than look each one up.
    bool drop_blobs_ = false;
};

} // namespace gsh::pack

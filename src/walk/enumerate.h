// Enumerating the objects a fetch needs: wants minus what the haves reach.
#pragma once

#include <git2.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "odb/bitmap_index.h"
#include "protocol/filter.h"
#include "util/copying_ptr.h"
#include "util/oid_set.h"

namespace gsh::pack {

class PackSet;
class BitmapOrder;

// Receives progress text as git's pack-objects prints it ("Enumerating
// objects: 12, done.\n", "Counting objects:  50% (6/12)\r", ...), and
// empty text now and then during a long count: it may throw to stop it.
using ProgressFn = std::function<void(std::string_view)>;

struct EnumerateInput {
    std::vector<git_oid> wants;
    // Objects the client has (only those present in the repository count);
    // everything reachable from them is left out of the pack.
    std::vector<git_oid> haves;
    // include-tag: annotated tag objects (ref targets under refs/tags/) that
    // are added, with the tags they chain through, when the object they
    // finally point at is in the pack.
    std::vector<git_oid> include_tags;
    // Shallow fetches: commits whose parents the walk does not follow, on
    // both sides (the client's boundary and the new one).
    std::vector<git_oid> parentless;
    // Partial clone: what the filter omits is not sent, except the wants
    // themselves (see filter_walk.h).
    ObjectFilter filter;
};

// What a fetch sends, and what the client is known to have: the objects a
// thin pack may use as delta bases without sending them.
class Enumeration {
  public:
    Enumeration();
    explicit Enumeration(std::vector<git_oid> objects);
    Enumeration(Enumeration &&) noexcept;
    Enumeration &operator=(Enumeration &&) noexcept;
    ~Enumeration();

    // Objects to send, each once: all of them after a walk; with a bitmap,
    // those that have no rank in its order (see pack_objects()).
    std::vector<git_oid> objects;

    // The packs the enumeration read; null when made from a list.
    const std::shared_ptr<const PackSet> &packs() const { return packs_; }
    // With a bitmap: the objects to send by rank in *order, the bitmap's
    // (one pack's, or a multi-pack-index's). nullptr after a walk.
    const Bitset *pack_objects(const BitmapOrder **order) const;
    // How many objects are sent.
    size_t count() const;
    // Every object sent: objects, then those of pack_objects() by rank.
    std::vector<git_oid> list() const;

    // Whether the client has oid. With a bitmap: everything the haves
    // reach. After a walk, until widen_known(), only what the walk looked
    // at: the haves and the trees of the commits at its edge (git's thin
    // packs use no more without bitmaps).
    bool client_has(const git_oid &oid) const;

    // Whether the client is known to have any object (not for a clone).
    bool client_has_any() const;
    // The commits sent (with a bitmap, those it numbers and those of
    // objects). Throws gsh::Error.
    std::vector<git_oid> sent_commits() const;

    // In a shallow fetch that deepens the client's history: the commits it
    // has whose parents may be sent (at most a bounded number).
    std::vector<git_oid> deepened_commits() const;

    // Widens client_has() to everything reachable from the haves: a walk of
    // their whole history, done when a thin pack would otherwise inflate
    // deltas whose base the edge does not hold. Throws gsh::Error.
    void widen_known();
    bool can_widen() const { return !haves_.empty() && !reachable_ && !have_; }

    // A copy that reads packs through repo (another request's handle on the
    // same repository); packs null: a copy that holds neither.
    Enumeration copy_for(git_repository *repo, std::shared_ptr<const PackSet> packs) const;
    // About what the enumeration holds in memory.
    size_t memory_bytes() const;

  private:
    friend class Enumerator;
    friend class BitmapEnumerator;

    // Every member, for copy_for(): a member added later is copied too.
    Enumeration(const Enumeration &);

    std::shared_ptr<const PackSet> packs_;
    git_repository *repo_ = nullptr;
    // After a walk: the haves the repository has and the shallow
    // boundaries, for widen_known(); a set whose first known_count_ members
    // the client has; what widen_known() found.
    std::vector<git_oid> haves_;
    std::vector<git_oid> parentless_;
    OidSet known_;
    size_t known_count_ = 0;
    CopyingPtr<OidSet> reachable_;
    std::vector<git_oid> commits_; // after a walk with haves: the commits sent
    // With a bitmap.
    struct Bitmapped;
    CopyingPtr<Bitmapped> bitmap_;
    // After a walk on a repository with a bitmap (BitmapEnumerator::
    // subtract_haves()): everything the haves reach, for client_has().
    CopyingPtr<Bitmapped> have_;
};

// Every object reachable from wants and not from haves, counted with the
// reachability bitmap when the repository has one (not for shallow
// fetches, nor for filters a bitmap cannot apply), else by walking the
// history. packs are repo's; the result keeps
// them, and repo must outlive it. Throws gsh::Error on a missing or corrupt
// object.
Enumeration enumerate_objects(git_repository *repo, std::shared_ptr<const PackSet> packs,
                              const EnumerateInput &in, const ProgressFn &progress);
// The same with repo's packs opened for it.
Enumeration enumerate_objects(git_repository *repo, const EnumerateInput &in,
                              const ProgressFn &progress);

} // namespace gsh::pack

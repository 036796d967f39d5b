// Enumerating the objects a fetch needs: wants minus what the haves reach.
#pragma once

#include <git2.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "pack/oid_set.h"

namespace gsh::pack {

// Receives progress text as git's pack-objects prints it ("Enumerating
// objects: 12, done.\n", "Counting objects:  50% (6/12)\r", ...).
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
};

// What a fetch sends, and what the client is known to have: the objects a
// thin pack may use as delta bases without sending them.
class Enumeration {
  public:
    Enumeration() = default;
    explicit Enumeration(std::vector<git_oid> objects) : objects(std::move(objects)) {}
    // known: a set whose first known_count members the client has. haves
    // (those the repository has) and parentless are what widen_known() walks
    // from, in repo, which must outlive this.
    Enumeration(std::vector<git_oid> objects, OidSet known, size_t known_count,
                git_repository *repo, std::vector<git_oid> haves, std::vector<git_oid> parentless)
        : objects(std::move(objects)), repo_(repo), haves_(std::move(haves)),
          parentless_(std::move(parentless)), known_(std::move(known)), known_count_(known_count) {}

    // Every object to send, each once.
    std::vector<git_oid> objects;

    // Whether the client has oid. Before widen_known(), only what the
    // enumeration looked at: the haves and the trees of the commits at the
    // walk's edge (git's thin packs use no more without bitmaps).
    bool client_has(const git_oid &oid) const {
        if (reachable_)
            return reachable_->contains(oid);
        const int64_t i = known_count_ ? known_.find(oid) : -1;
        return i >= 0 && size_t(i) < known_count_;
    }

    // Widens client_has() to everything reachable from the haves: a walk of
    // their whole history, done when a thin pack would otherwise inflate
    // deltas whose base the edge does not hold. Throws gsh::Error.
    void widen_known();
    bool can_widen() const { return !haves_.empty() && !reachable_; }

  private:
    git_repository *repo_ = nullptr;
    std::vector<git_oid> haves_;
    std::vector<git_oid> parentless_;
    OidSet known_;
    size_t known_count_ = 0;
    std::unique_ptr<OidSet> reachable_;
};

// Every object reachable from wants and not from haves.
// Throws gsh::Error on a missing or corrupt object.
Enumeration enumerate_objects(git_repository *repo, const EnumerateInput &in,
                              const ProgressFn &progress);

} // namespace gsh::pack

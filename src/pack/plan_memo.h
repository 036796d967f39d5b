// The plans of clones, kept with the packs they were made from: a repeat
// clone of the same count (the clone memo's, walk/clone_memo.h) on the same
// open packs shares its entries instead of planning them again (15 ms of a
// 30 ms clone of the nginx history kept as a server holds it: the headers of
// every entry read, bases found, cycles broken, bases ordered).
//
// A plan follows from the objects counted, the packs and the options alone,
// for a pack with nothing the client has: it is keyed by a digest of the
// count and the options, and lives in the PackSet (PackSet::memo()), so that
// its pack numbers and offsets are never read against other packs, and its
// bytes count in the repository cache's bound.
#pragma once

#include <git2.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "odb/pack_index.h"
#include "pack/pack_plan.h"
#include "util/sha1.h"

namespace gsh::pack {

class PlanMemo : public PackSet::Memo {
  public:
    static constexpr size_t kMemoSlot = PackSet::kPlanMemo;
    // The requests a repository is cloned by, over and over: a whole clone
    // (git's, and a thin one from other clients: their plans differ),
    // blobless, treeless, shallow, and a few more. With fewer slots than
    // kinds asked in turn, each evicted the next one asked for (a least
    // recently used cache under a cycle), and none was ever found.
    // kMaxBytes bounds the memory, not this.
    static constexpr size_t kSlots = 8;
    using Key = Sha1::Digest;
    struct Plan {
        // Shared, not copied, by the plans of the clones that find it: a
        // clone of a large repository would otherwise hold its own copy
        // (10 MB for 330k objects) for as long as it sends.
        std::shared_ptr<const std::vector<PlanEntry>> entries;
        std::vector<git_oid> loose;
        size_t whole_pack = SIZE_MAX, whole_file = SIZE_MAX;
        size_t bytes() const {
            return entries->size() * sizeof(PlanEntry) + loose.size() * sizeof(git_oid);
        }
    };

    // The key of a plan of objects with options; nullopt for a pack the
    // client has objects for (a fetch: its plan depends on them).
    static std::optional<Key> key_of(const Enumeration &objects, const PackOptions &options);

    std::shared_ptr<const Plan> find(const Key &key);
    // find(), and when key is not kept: while another request plans it
    // (claimed it), waits for that plan, calling checkpoint (which may throw,
    // to stop) now and then; else claims it, sets *claimed, and returns
    // nullptr: the caller plans, then calls keep() or, failing, release().
    // Identical clones that arrive together so plan once, not once each
    // (each plan of a large repository is seconds of CPU and 10 MB). A
    // waiter whose planner kept nothing returns nullptr unclaimed.
    std::shared_ptr<const Plan>
    find_or_claim(const Key &key, const std::function<void()> &checkpoint, bool *claimed);
    void keep(const Key &key, std::shared_ptr<const Plan> plan);
    // Whether the plan of a pack of count objects may be kept (a larger
    // one is planned by each request: it is not claimed, so that no one
    // waits for a plan it cannot share).
    static bool may_keep(size_t count) { return count <= kMaxBytes / sizeof(PlanEntry); }
    // Ends a claim (after keep(), or when planning failed or kept nothing):
    // the requests waiting for it look again.
    void release(const Key &key);
    size_t bytes() const override;
    uint64_t hits() const;

  private:
    // Together at most (about a million objects' plans: git's history of
    // 419k objects takes 13 MB); a larger plan is not kept.
    static constexpr size_t kMaxBytes = size_t(32) << 20;
    struct Slot {
        Key key{};
        std::shared_ptr<const Plan> plan;
        uint64_t used = 0;
    };
    // How often a waiter calls its checkpoint.
    static constexpr std::chrono::milliseconds kWaitTick{20};
    std::shared_ptr<const Plan> find_locked(const Key &key);
    mutable std::mutex mutex_;
    std::condition_variable planned_;
    struct Claim {
        Key key;
        uint64_t id; // a waiter waits for this claim, not for later ones
    };
    std::vector<Claim> claims_; // being planned
    uint64_t claim_ids_ = 0;
    std::vector<Slot> slots_;
    uint64_t clock_ = 0, hits_ = 0;
    size_t bytes_ = 0;
};

} // namespace gsh::pack

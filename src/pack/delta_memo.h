// Deltas the pack writer made (the Encode actions of pack_plan.h), kept
// deflated with the packs they were made from (PackSet::memo()): the
// fetches after a push send the same new versions of the same files, each
// a delta to be made against the version the client has, and making and
// deflating them again was two thirds of a fetch of the nginx history
// without a bitmap. A pair whose delta was not kept (not under half the
// object) is remembered too, so that it is not tried again.
//
// A delta between two objects follows from their ids alone, and the bytes
// from the compression level: an entry is never stale. Bounded by bytes,
// the oldest kept going first.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "odb/pack_index.h"

namespace gsh::pack {

class DeltaMemo : public PackSet::Memo {
  public:
    static constexpr size_t kMemoSlot = PackSet::kDeltaMemo;
    static constexpr size_t kMaxBytes = size_t(8) << 20;
    // Larger deflated deltas are not kept: a few such would push out the
    // many small ones that fetches share.
    static constexpr size_t kMaxDelta = size_t(64) << 10;

    struct Key {
        git_oid oid, base;
        int level;
        bool operator==(const Key &o) const {
            return git_oid_equal(&oid, &o.oid) && git_oid_equal(&base, &o.base) && level == o.level;
        }
    };
    struct Delta {
        uint64_t size = 0;    // inflated; 0 with no bytes: no delta was kept
        std::string deflated; // the zlib stream, as the pack holds it
        bool kept() const { return !deflated.empty(); }
    };

    std::shared_ptr<const Delta> find(const Key &key) const;
    void keep(const Key &key, std::shared_ptr<const Delta> delta);
    size_t bytes() const override;
    uint64_t hits() const;

  private:
    struct KeyHash {
        size_t operator()(const Key &k) const {
            size_t a, b;
            std::memcpy(&a, k.oid.id, sizeof a);
            std::memcpy(&b, k.base.id, sizeof b);
            return a ^ (b * 0x9e3779b97f4a7c15ull) ^ size_t(k.level);
        }
    };
    static size_t cost(const Delta &d) { return sizeof(Key) + 64 + d.deflated.size(); }

    mutable std::mutex mutex_;
    std::unordered_map<Key, std::shared_ptr<const Delta>, KeyHash> deltas_;
    std::deque<Key> order_; // oldest first
    size_t bytes_ = 0;
    mutable uint64_t hits_ = 0;
};

} // namespace gsh::pack

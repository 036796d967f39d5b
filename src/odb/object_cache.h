// Whole objects as read, shared by every request that reads one PackSet:
// - loose objects (inflated and checked against their id): those pushed
//   since the last repack, which each fetch of recent history reads in
//   every phase (count, plan, write);
// - the objects a pack writer encodes as deltas and their bases, which it
//   resolves through delta chains on disk.
// The fetches after a push ask for the same recent history, and read them
// again. An object never changes under its id, and a push leaves the pack
// folder, so the set and this cache, as they are. Bounded by bytes; the
// least recently used go first. Safe to use from several threads.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "util/oid_hash.h"

namespace gsh::pack {

// A PackSet's: the trees and small blobs of a few hundred pushes.
inline constexpr size_t kObjectCacheBytes = size_t(8) << 20;
inline constexpr size_t kObjectCacheObject = size_t(256) << 10;

class ObjectCache {
  public:
    struct Object {
        git_object_t type;
        std::vector<uint8_t> data;
    };
    // Objects larger than max_object are not kept.
    ObjectCache(size_t max_bytes, size_t max_object);

    // The object, or nullptr.
    std::shared_ptr<const Object> find(const git_oid &oid);
    void insert(const git_oid &oid, git_object_t type, const uint8_t *data, size_t size);
    size_t max_object() const { return max_object_; }
    // What it holds, counted as RepoSnapshot::memory_bytes counts.
    size_t bytes() const;

  private:
    using Entry = std::pair<git_oid, std::shared_ptr<const Object>>;
    static size_t cost(size_t size) { return size + sizeof(Object) + 96; } // nodes, counts
    const size_t max_bytes_, max_object_;
    mutable std::mutex mutex_;
    std::list<Entry> lru_; // most recently used first
    std::unordered_map<git_oid, std::list<Entry>::iterator, OidHash, OidEq> index_;
    size_t bytes_ = 0;
};

} // namespace gsh::pack

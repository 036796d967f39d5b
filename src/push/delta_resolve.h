// The second pass of push/index_pack.h: every delta of a received pack
// resolved against its base, read back from the pack file, on several
// threads.
//
// Why the core spawns threads here: git's index-pack resolves deltas on all
// cores, and a push of a large repository spends most of its time here. The
// nginx thread-pool thread that runs the push waits for these threads to
// end (resolve_all() joins them before it returns), so no work outlives the
// request and nginx's event loop is never blocked by it.
//
// Memory: the entry table (one PackObjectEntry per object), the links of
// the commits, trees and tags, and delta bases kept while their children are
// resolved. Kept bases count against cache_limit (git's
// core.deltaBaseCacheLimit, 96 MiB by default); past it, the bases lowest in
// each thread's chain are dropped and made again (inflated and applied once
// more) when another child needs them. Each thread also holds the base and
// result it works on, whatever their sizes: a base larger than the limit is
// still resolved. A whole object without deltas is never read back.
#pragma once

#include <git2.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "walk/object_links.h"

namespace gsh::pack {

// One entry of the received pack, in pack order.
struct PackObjectEntry {
    uint64_t offset = 0;
    uint64_t size = 0;        // declared: the object's, or the delta's
    uint64_t base_offset = 0; // an OFS delta's base
    git_oid oid{};            // the object's id, once known
    uint32_t crc = 0;         // of the entry's bytes in the pack
    uint8_t type = 0;         // in the pack (odb/pack_format.h PackType)
    uint8_t real_type = 0;    // the object's; 0 until known
    uint8_t header_len = 0;
};

// A REF delta's base id.
struct RefBase {
    git_oid base;
    uint32_t entry;
};

struct DeltaResolveOptions {
    unsigned threads = 1;
    uint64_t cache_limit = uint64_t(96) << 20;
    // Called (from any thread, never two at once) after each resolved delta
    // with how many are resolved so far.
    std::function<void(uint32_t)> on_resolved;
};

class DeltaResolver {
  public:
    // fd: the pack file, read with pread. entries and refs must outlive the
    // resolver; entries may grow (thin bases appended) between calls.
    DeltaResolver(int fd, std::vector<PackObjectEntry> &entries, const std::vector<RefBase> &refs,
                  const DeltaResolveOptions &options);
    ~DeltaResolver();
    DeltaResolver(const DeltaResolver &) = delete;
    DeltaResolver &operator=(const DeltaResolver &) = delete;

    // Where the last entry's data ends (the trailer, or the end of appended
    // objects).
    void set_data_end(uint64_t end) { data_end_ = end; }
    // Resolves every delta that hangs from a whole object of the pack, on
    // the threads. Returns "" or why the pack is refused.
    std::string resolve_all();
    // Resolves what hangs from the whole object entries[root] (a base
    // appended to complete a thin pack), on this thread.
    std::string resolve_from(uint32_t root);
    uint32_t resolved() const { return resolved_.load(); }
    // The links of the resolved commits, trees and tags.
    ObjectLinks take_links();

  private:
    struct Frame;
    struct Worker;
    std::vector<uint32_t> children_of(uint32_t entry) const;
    std::string inflate_entry(Worker &w, uint32_t entry, std::vector<uint8_t> &out) const;
    std::string apply(Worker &w, uint32_t entry, const std::vector<uint8_t> &base,
                      std::vector<uint8_t> &out) const;
    std::string load(Worker &w, std::vector<Frame> &stack, size_t level);
    void keep(Worker &w, std::vector<Frame> &stack);
    void drop(Frame &f);
    std::string resolve_tree(Worker &w, uint32_t root);
    void run(Worker &w);
    void fail(std::string why);

    int fd_;
    std::vector<PackObjectEntry> &entries_;
    DeltaResolveOptions options_;
    uint64_t data_end_ = 0;
    // Children by base: OFS by base offset, REF by base id (both sorted).
    std::vector<std::pair<uint64_t, uint32_t>> ofs_;
    std::vector<RefBase> refs_;
    std::unique_ptr<std::atomic<bool>[]> claimed_;
    size_t claimable_ = 0;
    std::vector<uint32_t> roots_;
    std::atomic<size_t> next_root_{0};
    std::atomic<uint64_t> cached_{0};
    std::atomic<uint32_t> resolved_{0};
    std::atomic<bool> failed_{false};
    std::mutex mutex_; // error_, links_, on_resolved
    std::string error_;
    ObjectLinks links_;
};

} // namespace gsh::pack

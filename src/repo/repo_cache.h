// Per process: snapshots of the repositories served lately, keyed by path,
// and idle libgit2 handles on them, within bounds on their estimated bytes,
// the pack files they hold open and their number. Safe to use from several
// threads: a mutex guards the map alone; snapshots are immutable, and a
// handle is lent to one request at a time.
#pragma once

#include <git2.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "repo/repo_snapshot.h"
#include "util/git_ptr.h"

namespace gsh {

// What the cache may hold; the most recently used repository is kept
// whatever its size, so that it is not read again for every request.
struct CacheLimits {
    // As the module's defaults leave them (gsh_cache_configure).
    size_t bytes = size_t(48) << 20; // estimated: RepoSnapshot::memory_bytes, idle handles
    size_t open_files = 96;          // pack files the snapshots hold open
    size_t repositories = SIZE_MAX;  // entries
};

class RepoCache {
  public:
    // The least recently used repositories go first, until every bound holds.
    explicit RepoCache(const CacheLimits &limits);
    // limits with repositories set (tests).
    explicit RepoCache(size_t repositories);
    ~RepoCache();
    RepoCache(const RepoCache &) = delete;
    RepoCache &operator=(const RepoCache &) = delete;

    // The process's cache.
    static RepoCache &process();

    // Changes the bounds; what no longer fits goes now.
    void set_limits(const CacheLimits &limits);
    // The racy window of the snapshots it reads from now on (tests, which
    // check reuse on repositories they have just written: 0 there).
    void set_racy_window(int64_t ns) { racy_window_ns_.store(ns, std::memory_order_relaxed); }

    // The current snapshot of the repository at path (a git directory): the
    // cached one while the repository has not changed on disk, else one
    // read now. Throws gsh::Error.
    std::shared_ptr<const RepoSnapshot> get(const std::string &path);
    // The cached snapshot while it is current, else nullptr: a few stat()
    // and readdir() calls, never a read of the repository.
    std::shared_ptr<const RepoSnapshot> get_cached(const std::string &path);

    // A handle on path for one request, which reads snapshot; give it back
    // when done. It is kept for another request only while snapshot is
    // still the current one (libgit2 handles keep some state of their own).
    RepoPtr lend(const std::string &path);
    void give_back(const RepoSnapshot &snapshot, RepoPtr repo);

    // Repositories held, and what they are counted for. A snapshot that a
    // request still uses after its eviction is no longer counted.
    size_t size() const;
    size_t bytes() const;
    size_t open_files() const;

    // What an idle handle on snapshot's repository is counted for:
    // libgit2's repository, object database, configuration and pack
    // bookkeeping, and its cache of packed refs once it has read them,
    // about 100 bytes a ref (libgit2's object cache is bounded apart, see
    // gsh_cache_configure).
    static constexpr size_t kIdleHandleBytes = 64 << 10;
    static size_t idle_handle_bytes(const RepoSnapshot &snapshot) {
        return kIdleHandleBytes + 104 * snapshot.tips().size();
    }

  private:
    struct Entry {
        std::string path;
        std::shared_ptr<const RepoSnapshot> snapshot;
        std::vector<RepoPtr> idle;
        size_t bytes = 0; // as counted at its last use
        size_t files = 0;
    };
    using Lru = std::list<Entry>; // most recently used first
    // Idle handles kept per repository: about as many as threads serve it.
    static constexpr size_t kIdleHandles = 8;

    // it's entry, counted again and made the most recently used.
    void touch_locked(Lru::iterator it);
    void evict_locked(std::vector<Entry> *dropped);

    CacheLimits limits_;
    std::atomic<int64_t> racy_window_ns_{RepoSnapshot::kRacyWindowNs};
    mutable std::mutex mutex_;
    Lru lru_;
    std::unordered_map<std::string, Lru::iterator> index_;
    size_t bytes_ = 0;
    size_t files_ = 0;
};

// Opens the git directory at path. Throws gsh::Error.
RepoPtr open_repository(const std::string &path);

} // namespace gsh

// Per process: snapshots of the repositories served lately, keyed by path,
// and idle libgit2 handles on them. Safe to use from several threads: a
// mutex guards the map alone; snapshots are immutable, and a handle is lent
// to one request at a time.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/git_ptr.h"
#include "repo/repo_snapshot.h"

namespace gsh {

class RepoCache {
  public:
    // capacity: how many repositories are kept (the least recently used
    // goes first).
    explicit RepoCache(size_t capacity);
    ~RepoCache();
    RepoCache(const RepoCache &) = delete;
    RepoCache &operator=(const RepoCache &) = delete;

    // The process's cache.
    static RepoCache &process();

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

    size_t size() const;

  private:
    struct Entry {
        std::shared_ptr<const RepoSnapshot> snapshot;
        std::vector<RepoPtr> idle;
        uint64_t used = 0;
    };
    // Idle handles kept per repository: about as many as threads serve it.
    static constexpr size_t kIdleHandles = 8;

    void evict_locked(std::vector<Entry> *dropped);

    const size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
    uint64_t clock_ = 0;
};

// Opens the git directory at path. Throws gsh::Error.
RepoPtr open_repository(const std::string &path);

} // namespace gsh

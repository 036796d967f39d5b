#include "repo/repo_cache.h"

#include <iterator>

#include "odb/object_db.h"

namespace gsh {

RepoPtr open_repository(const std::string &path) {
    git_repository *raw = nullptr;
    git_check(git_repository_open_bare(&raw, path.c_str()), "opening the repository");
    RepoPtr repo(raw);
    use_own_object_db(repo.get());
    return repo;
}

RepoCache::RepoCache(const CacheLimits &limits) : limits_(limits) {}

RepoCache::RepoCache(size_t repositories) {
    limits_.repositories = repositories;
}

RepoCache::~RepoCache() = default;

RepoCache &RepoCache::process() {
    static RepoCache cache{CacheLimits{}};
    return cache;
}

void RepoCache::set_limits(const CacheLimits &limits) {
    std::vector<Entry> dropped; // freed after the lock is released
    std::lock_guard<std::mutex> lock(mutex_);
    limits_ = limits;
    evict_locked(&dropped);
}

size_t RepoCache::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lru_.size();
}

size_t RepoCache::bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
}

size_t RepoCache::open_files() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return files_;
}

std::shared_ptr<const RepoSnapshot> RepoCache::get(const std::string &path) {
    std::shared_ptr<const RepoSnapshot> old;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = index_.find(path);
        if (it != index_.end()) {
            touch_locked(it->second);
            old = it->second->snapshot;
        }
    }
    // The checks and the reading happen outside the lock: requests for
    // other repositories do not wait for them.
    if (old && old->current())
        return old;
    std::shared_ptr<const RepoSnapshot> fresh;
    {
        // The handle that reads goes before the lock is taken: libgit2
        // closes its pack files then.
        RepoPtr repo = open_repository(path);
        fresh = RepoSnapshot::read(path, repo.get(), old.get(),
                                   racy_window_ns_.load(std::memory_order_relaxed));
    }

    std::vector<Entry> dropped; // freed after the lock is released
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(path);
    if (it == index_.end()) {
        lru_.push_front(Entry{path, fresh, {}, 0, 0});
        it = index_.emplace(path, lru_.begin()).first;
    } else if (it->second->snapshot == old) { // not replaced meanwhile by a newer read
        Entry &e = *it->second;
        e.snapshot = fresh;
        dropped.push_back(Entry{path, nullptr, std::move(e.idle), 0, 0});
        e.idle.clear();
    }
    touch_locked(it->second);
    evict_locked(&dropped);
    return fresh;
}

std::shared_ptr<const RepoSnapshot> RepoCache::get_cached(const std::string &path) {
    std::shared_ptr<const RepoSnapshot> snapshot;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = index_.find(path);
        if (it == index_.end())
            return nullptr;
        touch_locked(it->second);
        snapshot = it->second->snapshot;
    }
    return snapshot->current() ? snapshot : nullptr;
}

// Counted again at each use: a snapshot's memo() text and idle handles come
// and go after it is cached.
void RepoCache::touch_locked(Lru::iterator it) {
    lru_.splice(lru_.begin(), lru_, it);
    bytes_ -= it->bytes;
    files_ -= it->files;
    // The entry, its map node and its path twice.
    it->bytes = it->snapshot->memory_bytes() + it->idle.size() * idle_handle_bytes(*it->snapshot) +
                sizeof(Entry) + 64 + 2 * it->path.capacity();
    it->files = it->snapshot->packs() ? it->snapshot->packs()->size() : 0;
    bytes_ += it->bytes;
    files_ += it->files;
}

void RepoCache::evict_locked(std::vector<Entry> *dropped) {
    while (lru_.size() > 1 && (bytes_ > limits_.bytes || files_ > limits_.open_files ||
                               lru_.size() > limits_.repositories)) {
        auto oldest = std::prev(lru_.end());
        bytes_ -= oldest->bytes;
        files_ -= oldest->files;
        index_.erase(oldest->path);
        dropped->push_back(std::move(*oldest));
        lru_.pop_back();
    }
}

RepoPtr RepoCache::lend(const std::string &path) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = index_.find(path);
        if (it != index_.end() && !it->second->idle.empty()) {
            RepoPtr repo = std::move(it->second->idle.back());
            it->second->idle.pop_back();
            touch_locked(it->second);
            return repo;
        }
    }
    return open_repository(path);
}

void RepoCache::give_back(const RepoSnapshot &snapshot, RepoPtr repo) {
    std::vector<Entry> dropped; // freed after the lock is released, as repo
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(snapshot.path());
    if (it == index_.end() || it->second->snapshot.get() != &snapshot ||
        it->second->idle.size() >= kIdleHandles)
        return;
    it->second->idle.push_back(std::move(repo));
    touch_locked(it->second);
    evict_locked(&dropped);
}

} // namespace gsh

#include "repo/repo_cache.h"

#include "odb/object_db.h"

namespace gsh {

namespace {

// Repositories kept per process unless told otherwise: each costs its pack
// indexes' sorted orders and its bitmaps, about 20 bytes an object.
constexpr size_t kDefaultCapacity = 16;

} // namespace

RepoPtr open_repository(const std::string &path) {
    git_repository *raw = nullptr;
    git_check(git_repository_open_bare(&raw, path.c_str()), "opening the repository");
    RepoPtr repo(raw);
    use_own_object_db(repo.get());
    return repo;
}

RepoCache::RepoCache(size_t capacity) : capacity_(capacity ? capacity : 1) {}

RepoCache::~RepoCache() = default;

RepoCache &RepoCache::process() {
    static RepoCache cache(kDefaultCapacity);
    return cache;
}

size_t RepoCache::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
}

std::shared_ptr<const RepoSnapshot> RepoCache::get(const std::string &path) {
    std::shared_ptr<const RepoSnapshot> old;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(path);
        if (it != entries_.end()) {
            it->second.used = ++clock_;
            old = it->second.snapshot;
        }
    }
    // The checks and the reading happen outside the lock: requests for
    // other repositories do not wait for them.
    if (old && old->current())
        return old;
    RepoPtr repo = open_repository(path);
    std::shared_ptr<const RepoSnapshot> fresh = RepoSnapshot::read(path, repo.get(), old.get());

    std::vector<Entry> dropped; // freed after the lock is released
    std::lock_guard<std::mutex> lock(mutex_);
    Entry &e = entries_[path];
    if (e.snapshot == old) { // not replaced meanwhile by a newer read
        e.snapshot = fresh;
        dropped.push_back(Entry{nullptr, std::move(e.idle), 0});
        e.idle.clear();
    }
    e.used = ++clock_;
    evict_locked(&dropped);
    return fresh;
}

std::shared_ptr<const RepoSnapshot> RepoCache::get_cached(const std::string &path) {
    std::shared_ptr<const RepoSnapshot> snapshot;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(path);
        if (it == entries_.end())
            return nullptr;
        it->second.used = ++clock_;
        snapshot = it->second.snapshot;
    }
    return snapshot->current() ? snapshot : nullptr;
}

void RepoCache::evict_locked(std::vector<Entry> *dropped) {
    while (entries_.size() > capacity_) {
        auto oldest = entries_.begin();
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->second.used < oldest->second.used)
                oldest = it;
        dropped->push_back(std::move(oldest->second));
        entries_.erase(oldest);
    }
}

RepoPtr RepoCache::lend(const std::string &path) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(path);
        if (it != entries_.end() && !it->second.idle.empty()) {
            RepoPtr repo = std::move(it->second.idle.back());
            it->second.idle.pop_back();
            return repo;
        }
    }
    return open_repository(path);
}

void RepoCache::give_back(const RepoSnapshot &snapshot, RepoPtr repo) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(snapshot.path());
    if (it != entries_.end() && it->second.snapshot.get() == &snapshot &&
        it->second.idle.size() < kIdleHandles)
        it->second.idle.push_back(std::move(repo));
    // else the handle is freed once the lock is released
}

} // namespace gsh

#include "odb/object_cache.h"

namespace gsh::pack {

ObjectCache::ObjectCache(size_t max_bytes, size_t max_object)
    : max_bytes_(max_bytes), max_object_(max_object) {}

std::shared_ptr<const ObjectCache::Object> ObjectCache::find(const git_oid &oid) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(oid);
    if (it == index_.end())
        return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
}

void ObjectCache::insert(const git_oid &oid, git_object_t type, const uint8_t *data, size_t size) {
    if (size > max_object_)
        return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (index_.count(oid))
            return;
    }
    // Copied while the lock is not held; what goes is freed after it is
    // released.
    auto object =
        std::make_shared<const Object>(Object{type, std::vector<uint8_t>(data, data + size)});
    std::vector<std::shared_ptr<const Object>> dropped;
    std::lock_guard<std::mutex> lock(mutex_);
    if (index_.count(oid))
        return; // another request read it meanwhile
    lru_.emplace_front(oid, std::move(object));
    index_.emplace(oid, lru_.begin());
    bytes_ += cost(size);
    while (bytes_ > max_bytes_ && !lru_.empty()) {
        Entry &last = lru_.back();
        bytes_ -= cost(last.second->data.size());
        index_.erase(last.first);
        dropped.push_back(std::move(last.second));
        lru_.pop_back();
    }
}

size_t ObjectCache::bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
}

} // namespace gsh::pack

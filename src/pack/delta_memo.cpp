#include "pack/delta_memo.h"

namespace gsh::pack {

std::shared_ptr<const DeltaMemo::Delta> DeltaMemo::find(const Key &key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = deltas_.find(key);
    if (it == deltas_.end())
        return nullptr;
    hits_++;
    return it->second;
}

void DeltaMemo::keep(const Key &key, std::shared_ptr<const Delta> delta) {
    if (delta->deflated.size() > kMaxDelta)
        return;
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t c = cost(*delta);
    if (!deltas_.emplace(key, delta).second)
        return; // made by another request at the same time
    order_.push_back(key);
    bytes_ += c;
    while (bytes_ > kMaxBytes && !order_.empty()) {
        const auto it = deltas_.find(order_.front());
        bytes_ -= cost(*it->second);
        deltas_.erase(it);
        order_.pop_front();
    }
}

uint64_t DeltaMemo::hits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
}

size_t DeltaMemo::bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
}

} // namespace gsh::pack

#include "pack/plan_memo.h"

#include <algorithm>

#include "odb/bitmap_order.h"

namespace gsh::pack {

std::optional<PlanMemo::Key> PlanMemo::key_of(const Enumeration &objects,
                                              const PackOptions &options) {
    if (objects.client_has_any())
        return std::nullopt;
    Sha1 sha;
    const uint8_t flags[2] = {uint8_t(options.ofs_delta), uint8_t(options.thin)};
    sha.update(flags, sizeof flags);
    const uint64_t listed = objects.objects.size();
    sha.update(&listed, sizeof listed);
    sha.update(objects.objects.data(), objects.objects.size() * sizeof(git_oid));
    const BitmapOrder *order = nullptr;
    if (const Bitset *bits = objects.pack_objects(&order)) {
        // The same bits, however many zero words end them.
        const std::vector<uint64_t> &words = bits->words();
        size_t n = words.size();
        while (n > 0 && words[n - 1] == 0)
            n--;
        sha.update(order->checksum(), GIT_OID_RAWSZ);
        sha.update(words.data(), n * sizeof(uint64_t));
    }
    return sha.final();
}

std::shared_ptr<const PlanMemo::Plan> PlanMemo::find_locked(const Key &key) {
    for (Slot &s : slots_)
        if (s.key == key) {
            s.used = ++clock_;
            hits_++;
            return s.plan;
        }
    return nullptr;
}

std::shared_ptr<const PlanMemo::Plan> PlanMemo::find(const Key &key) {
    std::lock_guard<std::mutex> lock(mutex_);
    return find_locked(key);
}

std::shared_ptr<const PlanMemo::Plan>
PlanMemo::find_or_claim(const Key &key, const std::function<void()> &checkpoint, bool *claimed) {
    *claimed = false;
    std::unique_lock<std::mutex> lock(mutex_);
    if (auto plan = find_locked(key))
        return plan;
    const auto of = [&key](const Claim &c) { return c.key == key; };
    const auto it = std::find_if(claims_.begin(), claims_.end(), of);
    if (it == claims_.end()) {
        claims_.push_back({key, ++claim_ids_});
        *claimed = true;
        return nullptr;
    }
    const uint64_t id = it->id;
    const auto planning = [&] {
        return std::any_of(claims_.begin(), claims_.end(),
                           [id](const Claim &c) { return c.id == id; });
    };
    while (planning()) {
        planned_.wait_for(lock, kWaitTick);
        if (checkpoint) {
            lock.unlock();
            checkpoint();
            lock.lock();
        }
    }
    return find_locked(key);
}

void PlanMemo::release(const Key &key) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::erase_if(claims_, [&key](const Claim &c) { return c.key == key; });
    }
    planned_.notify_all();
}

void PlanMemo::keep(const Key &key, std::shared_ptr<const Plan> plan) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Slot &s : slots_)
        if (s.key == key)
            return; // kept by a request planned at the same time
    if (plan->bytes() > kMaxBytes)
        return;
    while (!slots_.empty() && (slots_.size() >= kSlots || bytes_ + plan->bytes() > kMaxBytes)) {
        auto lru = std::min_element(slots_.begin(), slots_.end(),
                                    [](const Slot &a, const Slot &b) { return a.used < b.used; });
        bytes_ -= lru->plan->bytes();
        slots_.erase(lru);
    }
    bytes_ += plan->bytes();
    slots_.push_back({key, std::move(plan), ++clock_});
}

size_t PlanMemo::bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
}

uint64_t PlanMemo::hits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
}

} // namespace gsh::pack

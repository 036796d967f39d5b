#include "walk/clone_memo.h"

#include <algorithm>
#include <cstring>

#include "odb/bitmap_order.h"
#include "odb/pack_index.h"

namespace gsh::pack {

namespace {

bool oid_less(const git_oid &a, const git_oid &b) {
    return std::memcmp(a.id, b.id, GIT_OID_RAWSZ) < 0;
}

bool same_oids(const std::vector<git_oid> &a, const std::vector<git_oid> &b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](const git_oid &x, const git_oid &y) { return git_oid_equal(&x, &y); });
}

uint64_t first_bytes_seen(const std::vector<git_oid> &oids) {
    uint64_t seen = 0;
    for (const git_oid &o : oids)
        seen |= uint64_t(1) << (o.id[0] & 63);
    return seen;
}

// Repositories cloned over and over (a CI fleet, a release day) among many
// served: the bytes are the bound. A count is a bit set of the bitmapped
// objects and the ids outside it: tens of KB for a repacked history, 1.5 MB
// for 73k objects without a bitmap, 8 MB for 400k.
constexpr size_t kEntries = 64;
constexpr size_t kMaxBytes = size_t(32) << 20;

} // namespace

CloneMemo::CloneMemo(size_t entries, size_t max_bytes)
    : capacity_(std::max<size_t>(1, entries)), max_bytes_(max_bytes) {}

CloneMemo &CloneMemo::process() {
    static CloneMemo memo(kEntries, kMaxBytes);
    return memo;
}

bool CloneMemo::applies(const EnumerateInput &in) {
    return in.haves.empty() && in.parentless.empty() && in.filter.by_content() && !in.wants.empty();
}

CloneMemo::Key CloneMemo::Key::of(const PackSet &packs, const EnumerateInput &in) {
    Key key;
    if (!packs.object_folders().empty())
        key.folder = packs.object_folders().front();
    key.filter = in.filter;
    const BitmapOrder *order = nullptr;
    if (packs.bitmap(&order) && order)
        std::memcpy(key.order.data(), order->checksum(), key.order.size());
    const auto [lo, hi] = std::minmax_element(in.wants.begin(), in.wants.end(), oid_less);
    std::memcpy(key.least.data(), lo->id, GIT_OID_RAWSZ);
    std::memcpy(key.greatest.data(), hi->id, GIT_OID_RAWSZ);
    key.wants_seen = first_bytes_seen(in.wants);
    key.tags_seen = first_bytes_seen(in.include_tags);
    return key;
}

std::vector<git_oid> CloneMemo::sorted(const std::vector<git_oid> &oids) {
    std::vector<git_oid> out(oids);
    std::sort(out.begin(), out.end(), oid_less);
    out.erase(std::unique(out.begin(), out.end(),
                          [](const git_oid &a, const git_oid &b) { return git_oid_equal(&a, &b); }),
              out.end());
    return out;
}

bool CloneMemo::has_key_locked(const Key &key) const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const Entry &e) { return e.key == key; });
}

CloneMemo::Entry *CloneMemo::find_locked(const Key &key, const std::vector<git_oid> &wants,
                                         const std::vector<git_oid> &tags) {
    for (Entry &e : entries_)
        if (e.key == key && same_oids(e.wants, wants) && same_oids(e.include_tags, tags))
            return &e;
    return nullptr;
}

std::optional<Enumeration> CloneMemo::find(const std::shared_ptr<const PackSet> &packs,
                                           const EnumerateInput &in, git_repository *repo) {
    if (!applies(in))
        return std::nullopt;
    const Key key = Key::of(*packs, in);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!has_key_locked(key))
            return std::nullopt;
    }
    const std::vector<git_oid> wants = sorted(in.wants), tags = sorted(in.include_tags);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        Entry *e = find_locked(key, wants, tags);
        if (!e)
            return std::nullopt;
        e->used = ++clock_;
        hits_++;
        return e->count->copy_for(repo, packs);
    }
}

void CloneMemo::keep(const std::shared_ptr<const PackSet> &packs, const EnumerateInput &in,
                     const Enumeration &out) {
    const size_t bytes = out.memory_bytes();
    if (!applies(in) || bytes > max_bytes_)
        return;
    Entry fresh;
    fresh.key = Key::of(*packs, in);
    fresh.wants = sorted(in.wants);
    fresh.include_tags = sorted(in.include_tags);
    // The count kept holds no pack set: the repository cache bounds those
    // (their memory and open files).
    fresh.count = std::make_unique<Enumeration>(out.copy_for(nullptr, nullptr));
    fresh.bytes = bytes;
    std::vector<Entry> dropped; // freed once the lock is released
    std::lock_guard<std::mutex> lock(mutex_);
    if (find_locked(fresh.key, fresh.wants, fresh.include_tags))
        return; // kept meanwhile by another request
    while (!entries_.empty() &&
           (entries_.size() >= capacity_ || bytes_ + fresh.bytes > max_bytes_)) {
        auto lru = std::min_element(entries_.begin(), entries_.end(),
                                    [](const Entry &a, const Entry &b) { return a.used < b.used; });
        bytes_ -= lru->bytes;
        dropped.push_back(std::move(*lru));
        entries_.erase(lru);
    }
    fresh.used = ++clock_;
    bytes_ += fresh.bytes;
    entries_.push_back(std::move(fresh));
}

uint64_t CloneMemo::hits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
}

size_t CloneMemo::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
}

} // namespace gsh::pack

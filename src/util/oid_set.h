// A hash set of object ids: open addressing, members numbered in insertion
// order. OidSet hashes the raw leading bytes (uniform for the objects of a
// repository); a set of ids a client chose takes a keyed Hash instead.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace gsh::pack {

// The leading bytes of the id.
struct RawOidHash {
    uint64_t operator()(const git_oid &oid) const {
        uint64_t h;
        std::memcpy(&h, oid.id, sizeof h);
        return h;
    }
};

template <class Hash> class BasicOidSet {
  public:
    explicit BasicOidSet(size_t expected = 0) { rehash(capacity_for(expected)); }

    size_t size() const { return oids_.size(); }
    bool empty() const { return oids_.empty(); }
    // Members in insertion order; index i is the i-th inserted.
    const std::vector<git_oid> &oids() const { return oids_; }
    // Hands the members over and leaves the set empty.
    std::vector<git_oid> take() {
        std::vector<git_oid> out = std::move(oids_);
        oids_.clear();
        rehash(16);
        return out;
    }
    const git_oid &operator[](size_t i) const { return oids_[i]; }

    void reserve(size_t n) {
        oids_.reserve(n);
        if (capacity_for(n) > slots_.size())
            rehash(capacity_for(n));
    }

    // Inserts oid; returns its index and whether it was new.
    std::pair<uint32_t, bool> insert(const git_oid &oid) {
        if ((oids_.size() + 1) * 2 > slots_.size())
            rehash(slots_.size() * 2);
        const uint32_t tag = tag_of(oid);
        size_t i = hash_of(oid) & mask_;
        for (;;) {
            const uint64_t s = slots_[i];
            if (s == 0)
                break;
            if (uint32_t(s >> 32) == tag) {
                const uint32_t idx = uint32_t(s) - 1;
                if (std::memcmp(oids_[idx].id, oid.id, GIT_OID_RAWSZ) == 0)
                    return {idx, false};
            }
            i = (i + 1) & mask_;
        }
        const uint32_t idx = uint32_t(oids_.size());
        oids_.push_back(oid);
        slots_[i] = (uint64_t(tag) << 32) | (idx + 1);
        return {idx, true};
    }

    // Index of oid, or -1.
    int64_t find(const git_oid &oid) const {
        const uint32_t tag = tag_of(oid);
        size_t i = hash_of(oid) & mask_;
        for (;;) {
            const uint64_t s = slots_[i];
            if (s == 0)
                return -1;
            if (uint32_t(s >> 32) == tag) {
                const uint32_t idx = uint32_t(s) - 1;
                if (std::memcmp(oids_[idx].id, oid.id, GIT_OID_RAWSZ) == 0)
                    return idx;
            }
            i = (i + 1) & mask_;
        }
    }
    bool contains(const git_oid &oid) const { return find(oid) >= 0; }

  private:
    static uint64_t hash_of(const git_oid &oid) { return Hash{}(oid); }
    static uint32_t tag_of(const git_oid &oid) {
        uint32_t t;
        std::memcpy(&t, oid.id + 8, sizeof t);
        return t;
    }
    static size_t capacity_for(size_t n) {
        size_t c = 16;
        while (c < n * 2)
            c *= 2;
        return c;
    }
    void rehash(size_t capacity) {
        slots_.assign(capacity, 0);
        mask_ = capacity - 1;
        for (uint32_t idx = 0; idx < oids_.size(); idx++) {
            size_t i = hash_of(oids_[idx]) & mask_;
            while (slots_[i] != 0)
                i = (i + 1) & mask_;
            slots_[i] = (uint64_t(tag_of(oids_[idx])) << 32) | (idx + 1);
        }
    }

    std::vector<git_oid> oids_;
    std::vector<uint64_t> slots_; // (tag << 32) | (index + 1); 0 is empty
    size_t mask_ = 0;
};

using OidSet = BasicOidSet<RawOidHash>;

} // namespace gsh::pack

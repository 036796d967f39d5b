// Hashes of object ids for maps whose keys others choose: a client names
// any oid it likes in wants, haves and shallows, and a pusher writes any
// object it likes.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gsh {

// A per-process random key mixed with all 20 bytes: with a hash of the raw
// leading bytes, 160,000 made-up wants sharing them land in one bucket
// (quadratic).
uint64_t oid_hash_key();
struct OidHash {
    size_t operator()(const git_oid &o) const {
        uint64_t a, b;
        uint32_t c;
        std::memcpy(&a, o.id, 8);
        std::memcpy(&b, o.id + 8, 8);
        std::memcpy(&c, o.id + 16, 4);
        static const uint64_t key = oid_hash_key();
        uint64_t h = (a ^ key) * 0x9e3779b97f4a7c15ull;
        h = (h ^ (h >> 32) ^ b) * 0xc2b2ae3d27d4eb4full;
        h = (h ^ (h >> 29) ^ c ^ (key >> 17)) * 0x165667b19e3779f9ull;
        return size_t(h ^ (h >> 32));
    }
};
struct OidEq {
    bool operator()(const git_oid &a, const git_oid &b) const { return git_oid_equal(&a, &b); }
};

} // namespace gsh

// Finding a 20-byte object id in a table of them sorted ascending, with the
// 256-entry fanout git's pack index, multi-pack-index and commit-graph put
// before it (entry b: how many ids have a first byte <= b, big-endian).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "util/big_endian.h"

namespace gsh {

constexpr size_t kSortedOidSize = 20;

// The positions [lo, hi) of the ids whose first byte is first.
struct OidRange {
    uint32_t lo, hi;
};

inline OidRange fanout_range(const uint8_t *fanout, uint8_t first) {
    return {first ? be32(fanout + 4 * (first - 1)) : 0, be32(fanout + 4 * first)};
}

// Compares the id at `at` with id, whose first 8 bytes read big-endian are
// key: one integer comparison settles almost every probe.
inline int compare_oid(const uint8_t *at, const uint8_t *id, uint64_t key) {
    const uint64_t k = be64(at);
    return k < key ? -1 : k > key ? 1 : std::memcmp(at + 8, id + 8, kSortedOidSize - 8);
}

// The position of id among the positions [lo, hi) of a table whose ids
// start at ids and follow one another every stride bytes (more than 20
// where each id shares its entry with other fields); -1 when absent.
inline int64_t bisect_oids(const uint8_t *ids, size_t stride, uint32_t lo, uint32_t hi,
                           const uint8_t *id) {
    const uint64_t key = be64(id);
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        const int c = compare_oid(ids + size_t(mid) * stride, id, key);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

// The position of id in a table of packed ids with its fanout; -1 when
// absent.
inline int64_t find_sorted_oid(const uint8_t *fanout, const uint8_t *ids, const uint8_t *id) {
    const OidRange r = fanout_range(fanout, id[0]);
    return bisect_oids(ids, kSortedOidSize, r.lo, r.hi, id);
}

} // namespace gsh

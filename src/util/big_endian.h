// Big-endian integers as git's file formats store them (pack indexes,
// bitmaps, multi-pack-index, commit-graph, pack headers).
#pragma once

#include <cstdint>

namespace gsh {

inline uint32_t be32(const uint8_t *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

inline uint64_t be64(const uint8_t *p) {
    return uint64_t(be32(p)) << 32 | be32(p + 4);
}

} // namespace gsh

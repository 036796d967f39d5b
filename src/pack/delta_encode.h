// Making git deltas (man gitformat-pack, "Deltified representation") from
// two objects, for what a fetch would otherwise send whole: the base is cut
// into blocks that are indexed by a hash; the target is scanned with a
// rolling hash of the same width, and every block it meets is extended
// greedily both ways into one copy op. Everything else is inserted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "odb/delta_compose.h"

namespace gsh::pack {

class DeltaEncoder {
  public:
    // Bytes a block of the base holds: the shortest match looked for.
    static constexpr size_t kBlock = 16;
    // Largest base indexed (a copy op addresses 32 bits, and the index
    // costs about half a byte per byte of base).
    static constexpr size_t kMaxBase = size_t(1) << 30;

    // out = delta(base→target). False when the delta would be longer than
    // max_size bytes (out then holds no usable delta) or base is larger than
    // kMaxBase. Scratch space is kept between calls.
    bool encode(const uint8_t *base, size_t base_len, const uint8_t *target, size_t target_len,
                size_t max_size, std::vector<uint8_t> *out);

  private:
    void index(const uint8_t *base, size_t base_len);

    // Blocks of the base by hash: head_[bucket] is 1 + the block's number
    // (0: none), next_[block] the previous block of that bucket.
    std::vector<uint32_t> head_, next_;
    uint32_t shift_ = 0;
    DeltaWriter writer_;
};

} // namespace gsh::pack

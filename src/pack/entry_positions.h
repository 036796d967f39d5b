// Where each entry of a plan starts in the pack produced, in 4 bytes an
// entry rather than a field of the plan's entries: the entries of a clone's
// kept plan are shared by every clone that writes it (plan_memo.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gsh::pack {

// Entries are placed in order, so the high bits of a position are the
// number of 4 GiB boundaries placed at or before it.
class EntryPositions {
  public:
    explicit EntryPositions(size_t n) : low_(n) {}
    // Entries are set in increasing order of both index and position.
    void set(size_t i, uint64_t pos) {
        while ((pos >> 32) > wraps_.size())
            wraps_.push_back(i);
        low_[i] = uint32_t(pos);
    }
    uint64_t get(size_t i) const {
        const uint64_t high = std::upper_bound(wraps_.begin(), wraps_.end(), i) - wraps_.begin();
        return high << 32 | low_[i];
    }

  private:
    std::vector<uint32_t> low_;
    std::vector<size_t> wraps_; // the first entry at or past each boundary
};

} // namespace gsh::pack

// EntryPositions: positions of a pack of several GiB, kept in 32 bits an
// entry, read back exactly, boundaries crossed by one entry or several.
#include "pack/entry_positions.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace gsh::pack {
namespace {

TEST(EntryPositions, PositionsPastFourGiBAreReadBackExactly) {
    constexpr uint64_t kGiB = uint64_t(1) << 30;
    const std::vector<uint64_t> at = {
        12,        4 * kGiB - 1,  4 * kGiB,      4 * kGiB + 7,  8 * kGiB,
        13 * kGiB, 13 * kGiB + 1, 16 * kGiB - 3, 16 * kGiB + 5, 200 * kGiB};
    EntryPositions pos(at.size());
    for (size_t i = 0; i < at.size(); i++)
        pos.set(i, at[i]);
    for (size_t i = 0; i < at.size(); i++)
        EXPECT_EQ(pos.get(i), at[i]) << i;
}

} // namespace
} // namespace gsh::pack

#include "util/sorted_oids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <vector>

namespace gsh {
namespace {

using Id = std::array<uint8_t, kSortedOidSize>;

// A sorted table of ids laid out as the index files store it: fanout, then
// the ids stride bytes apart (filler in between, as a version 1 pack index
// puts each offset before its id).
struct Table {
    std::vector<Id> ids;
    std::array<uint8_t, 256 * 4> fanout{};
    std::vector<uint8_t> bytes;
    size_t stride;

    Table(std::vector<Id> in, size_t stride_ = kSortedOidSize)
        : ids(std::move(in)), stride(stride_) {
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        bytes.assign(ids.size() * stride + 1, 0xee);
        for (size_t i = 0; i < ids.size(); i++)
            std::memcpy(&bytes[i * stride + (stride - kSortedOidSize)], ids[i].data(),
                        kSortedOidSize);
        for (int b = 0; b < 256; b++) {
            const uint32_t n = uint32_t(
                std::count_if(ids.begin(), ids.end(), [&](const Id &id) { return id[0] <= b; }));
            for (int k = 0; k < 4; k++)
                fanout[4 * b + k] = uint8_t(n >> (24 - 8 * k));
        }
    }
    const uint8_t *first_id() const { return bytes.data() + (stride - kSortedOidSize); }
    int64_t find(const Id &id) const {
        if (stride == kSortedOidSize)
            return find_sorted_oid(fanout.data(), first_id(), id.data());
        const OidRange r = fanout_range(fanout.data(), id[0]);
        return bisect_oids(first_id(), stride, r.lo, r.hi, id.data());
    }
};

Id make_id(std::mt19937 &rng, uint8_t first) {
    Id id;
    for (auto &b : id)
        b = uint8_t(rng());
    id[0] = first;
    return id;
}

// Ids in every other first-byte bucket (so half are empty), a bucket of one,
// ids that differ only in their last byte or only past their 8th, and the
// extremes 00...0 and ff...f.
std::vector<Id> sample_ids() {
    std::mt19937 rng(7);
    std::vector<Id> ids;
    for (int b = 0; b < 256; b += 2)
        for (int k = 0; k < 1 + b % 7; k++)
            ids.push_back(make_id(rng, uint8_t(b)));
    Id twin = make_id(rng, 0x41);
    ids.push_back(twin);
    twin[19] ^= 1;
    ids.push_back(twin);
    twin[12] ^= 0x80;
    ids.push_back(twin);
    ids.push_back(Id{});
    Id top;
    top.fill(0xff);
    ids.push_back(top);
    return ids;
}

void expect_table_searches(const Table &t) {
    ASSERT_GT(t.ids.size(), 300u);
    for (size_t i = 0; i < t.ids.size(); i++)
        ASSERT_EQ(t.find(t.ids[i]), int64_t(i)) << "present id " << i;
    // absent: just after each id (same bucket, or the next one), just
    // before, in an empty bucket
    for (size_t i = 0; i < t.ids.size(); i++) {
        Id next = t.ids[i], prev = t.ids[i];
        if (next[19] != 0xff) {
            next[19]++;
            if (!std::binary_search(t.ids.begin(), t.ids.end(), next)) {
                EXPECT_EQ(t.find(next), -1) << "after " << i;
            }
        }
        if (prev[19] != 0) {
            prev[19]--;
            if (!std::binary_search(t.ids.begin(), t.ids.end(), prev)) {
                EXPECT_EQ(t.find(prev), -1) << "before " << i;
            }
        }
    }
    std::mt19937 rng(11);
    for (int b = 1; b < 255; b += 2)
        EXPECT_EQ(t.find(make_id(rng, uint8_t(b))), -1) << "empty bucket " << b;
}

TEST(SortedOids, FindsEveryIdAndNoOther) {
    Table t(sample_ids());
    EXPECT_EQ(t.find(t.ids.front()), 0);
    EXPECT_EQ(t.find(t.ids.back()), int64_t(t.ids.size() - 1));
    expect_table_searches(t);
}

TEST(SortedOids, StridedTableAsPackIndexVersion1) {
    expect_table_searches(Table(sample_ids(), 4 + kSortedOidSize));
}

TEST(SortedOids, EmptyTable) {
    Table t({});
    Id id{};
    EXPECT_EQ(t.find(id), -1);
    id.fill(0xff);
    EXPECT_EQ(t.find(id), -1);
}

// The bisection looks only inside [lo, hi): PackIndex::find narrows the
// range by its probes first.
TEST(SortedOids, BisectKeepsToItsRange) {
    Table t(sample_ids());
    const uint32_t lo = 100, hi = 120;
    for (uint32_t i = 0; i < t.ids.size(); i++) {
        const int64_t want = i >= lo && i < hi ? int64_t(i) : -1;
        EXPECT_EQ(bisect_oids(t.first_id(), t.stride, lo, hi, t.ids[i].data()), want) << i;
    }
    EXPECT_EQ(bisect_oids(t.first_id(), t.stride, lo, lo, t.ids[lo].data()), -1);
}

TEST(SortedOids, CompareOrdersAsMemcmp) {
    std::vector<Id> ids = sample_ids();
    for (size_t i = 0; i + 1 < ids.size(); i++) {
        const Id &a = ids[i], &b = ids[i + 1];
        const int c = compare_oid(a.data(), b.data(), be64(b.data()));
        const int m = std::memcmp(a.data(), b.data(), kSortedOidSize);
        EXPECT_EQ(c < 0, m < 0) << i;
        EXPECT_EQ(c == 0, m == 0) << i;
    }
}

} // namespace
} // namespace gsh

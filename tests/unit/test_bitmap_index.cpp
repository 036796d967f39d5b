// The bitmap reader against git's own view of reachability.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "fixture.h"
#include "odb/bitmap_index.h"
#include "util/error.h"

using namespace gsh::pack;
using gsh::test::TempDir;

TEST(Ewah, DecodesRunsAndLiterals) {
    // 130 bits: a run of one word of ones, then one literal word, then a run of zeros.
    auto be = [](std::string &s, uint64_t v, int bytes) {
        for (int i = bytes - 1; i >= 0; i--)
            s.push_back(char((v >> (8 * i)) & 0xff));
    };
    std::string s;
    be(s, 130, 4);
    be(s, 3, 4);
    be(s, (uint64_t(1) << 33) | (1u << 1) | 1, 8); // run of 1 word of ones, 1 literal
    be(s, 0x5, 8);
    be(s, 0, 8); // empty RLW
    be(s, 2, 4);
    size_t used = 0;
    Bitset b = ewah_decode(reinterpret_cast<const uint8_t *>(s.data()), s.size(), &used);
    EXPECT_EQ(used, s.size());
    EXPECT_EQ(b.count(), 64u + 2u);
    EXPECT_TRUE(b.test(0));
    EXPECT_TRUE(b.test(63));
    EXPECT_TRUE(b.test(64));
    EXPECT_FALSE(b.test(65));
    EXPECT_TRUE(b.test(66));
    EXPECT_FALSE(b.test(129));
}

TEST(Ewah, RejectsRunsPastTheEnd) {
    std::string s("\0\0\0\x40\0\0\0\x01\0\0\0\0\0\0\0\x05\0\0\0\0", 20); // 64 bits, run of 2 words
    size_t used;
    EXPECT_THROW(ewah_decode(reinterpret_cast<const uint8_t *>(s.data()), s.size(), &used),
                 gsh::Error);
    EXPECT_THROW(ewah_decode(reinterpret_cast<const uint8_t *>(s.data()), 10, &used), gsh::Error);
}

namespace {

void put_be(std::string &s, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--)
        s.push_back(char((v >> (8 * i)) & 0xff));
}

// A serialized EWAH of `bits` bits: one run-length word announcing the
// literal words that follow.
std::string ewah(uint32_t bits, const std::vector<uint64_t> &literals) {
    std::string s;
    put_be(s, bits, 4);
    put_be(s, literals.size() + 1, 4);
    put_be(s, uint64_t(literals.size()) << 33, 8);
    for (uint64_t w : literals)
        put_be(s, w, 8);
    put_be(s, 0, 4);
    return s;
}

const uint8_t kChecksum[20] = {1, 2, 3};

// A .bitmap file (no name-hash cache) with the given type bitmaps and
// entries (each: commit position, xor offset, EWAH).
std::string bitmap_file(const std::vector<std::string> &types,
                        const std::vector<std::tuple<uint32_t, uint8_t, std::string>> &entries,
                        uint32_t count) {
    std::string s("BITM\0\1\0\1", 8);
    put_be(s, count, 4);
    s.append(reinterpret_cast<const char *>(kChecksum), 20);
    for (const std::string &t : types)
        s += t;
    for (const auto &[pos, xor_offset, bits] : entries) {
        put_be(s, pos, 4);
        s.push_back(char(xor_offset));
        s.push_back(0);
        s += bits;
    }
    return s;
}

std::string write_bitmap(const TempDir &d, const std::string &data) {
    std::string path = d.str() + "/pack.bitmap";
    std::ofstream(path, std::ios::binary) << data;
    return path;
}

} // namespace

// Found by fuzz_bitmap_index: the entry count of the header was reserved
// before anything said the file held that many (a 90 GB allocation).
TEST(BitmapIndex, RefusesMoreEntriesThanTheFileHolds) {
    TempDir d;
    const std::string empty = ewah(0, {});
    std::string path = write_bitmap(d, bitmap_file({empty, empty, empty, empty}, {}, 0xe0fb0000u));
    EXPECT_THROW(BitmapIndex(path, 10, kChecksum), gsh::Error);
}

// Bits number the pack's objects; a bit past them would be taken for an
// object by the walk (and index past the pack's offset table).
TEST(BitmapIndex, RefusesBitsPastThePacksObjects) {
    TempDir d;
    const std::string empty = ewah(0, {});
    const std::string three = ewah(3, {0x7});
    // Fits: three objects, an entry rounded up to a whole word as git writes it.
    std::string ok = bitmap_file({three, empty, empty, empty}, {{0, 0, ewah(64, {0x5})}}, 1);
    BitmapIndex bm(write_bitmap(d, ok), 3, kChecksum);
    ASSERT_NE(bm.reachable(0), nullptr);
    EXPECT_EQ(bm.reachable(0)->count(), 2u);

    std::string past_type = bitmap_file({ewah(4, {0xf}), empty, empty, empty}, {}, 0);
    EXPECT_THROW(BitmapIndex(write_bitmap(d, past_type), 3, kChecksum), gsh::Error);
    std::string past_entry =
        bitmap_file({three, empty, empty, empty}, {{0, 0, ewah(64, {0x9})}}, 1);
    EXPECT_THROW(BitmapIndex(write_bitmap(d, past_entry), 3, kChecksum), gsh::Error);
    // Declared far past the pack: refused before it is allocated.
    std::string huge = bitmap_file({ewah(0xfffffff0u, {}), empty, empty, empty}, {}, 0);
    EXPECT_THROW(BitmapIndex(write_bitmap(d, huge), 3, kChecksum), gsh::Error);
}

// Each entry XORed with the one before: resolving the last one walks the
// whole chain, which must not need a stack frame per link.
TEST(BitmapIndex, ResolvesALongXorChain) {
    TempDir d;
    const uint32_t n = 200000;
    const std::string empty = ewah(0, {});
    std::vector<std::tuple<uint32_t, uint8_t, std::string>> entries;
    entries.emplace_back(0, 0, ewah(1, {0x1}));
    for (uint32_t i = 1; i < n; i++)
        entries.emplace_back(i, 1, ewah(2, {0x3})); // flips bits 0 and 1 each time
    BitmapIndex bm(write_bitmap(d, bitmap_file({empty, empty, empty, empty}, entries, n)), n,
                   kChecksum);
    const Bitset *last = bm.reachable(n - 1);
    ASSERT_NE(last, nullptr);
    // n - 1 flips of {0, 1} over {0}: an odd count leaves {1}.
    EXPECT_EQ(last->count(), 1u);
    EXPECT_TRUE(last->test(1));
}

TEST(BitmapIndex, MatchesRevListObjects) {
    TempDir d;
    d.run("git init -q -b main r && cd r && for i in $(seq 1 40); do echo $i > f$((i % 7)); "
          "mkdir -p d$((i % 3)); echo $i >> d$((i % 3))/g; git add -A; git commit -qm c$i; done && "
          "git tag -a -m t v1 HEAD~5 && git branch side HEAD~20 && git repack -adbq");
    std::string pack_dir = d.str() + "/r/.git/objects/pack/";
    std::string base = gsh::test::sh("ls " + pack_dir + "*.idx | head -1");
    base = base.substr(0, base.size() - 5); // strip ".idx\n"

    // Index order is oid order; pack order is offset order.
    std::istringstream lines(gsh::test::sh("git show-index < " + base + ".idx"));
    std::vector<std::pair<uint64_t, std::string>> by_offset;
    std::vector<std::string> by_oid;
    uint64_t off;
    std::string oid, crc;
    while (lines >> off >> oid >> crc) {
        by_offset.emplace_back(off, oid);
        by_oid.push_back(oid);
    }
    std::sort(by_offset.begin(), by_offset.end());
    std::sort(by_oid.begin(), by_oid.end());

    std::ifstream pack(base + ".pack", std::ios::binary | std::ios::ate);
    const auto size = static_cast<std::streamoff>(pack.tellg());
    pack.seekg(size - 20);
    uint8_t checksum[20];
    pack.read(reinterpret_cast<char *>(checksum), 20);

    BitmapIndex bm(base + ".bitmap", uint32_t(by_oid.size()), checksum);
    EXPECT_GT(bm.commit_count(), 0u);
    size_t all = 0;
    for (const Bitset &t : {bm.type(BitmapIndex::kCommits), bm.type(BitmapIndex::kTrees),
                            bm.type(BitmapIndex::kBlobs), bm.type(BitmapIndex::kTags)})
        all += t.count();
    EXPECT_EQ(all, by_oid.size());
    EXPECT_EQ(bm.type(BitmapIndex::kTags).count(), 1u);

    size_t checked = 0;
    for (uint32_t pos = 0; pos < by_oid.size(); pos++) {
        const Bitset *bits = bm.reachable(pos);
        if (!bits)
            continue;
        std::set<std::string> ours;
        bits->for_each([&](size_t bit) { ours.insert(by_offset.at(bit).second); });
        std::istringstream rl(gsh::test::sh("cd " + d.str() + "/r && git rev-list --objects " +
                                            by_oid[pos] + " | cut -c1-40"));
        std::set<std::string> theirs;
        std::string line;
        while (std::getline(rl, line))
            theirs.insert(line);
        EXPECT_EQ(ours, theirs) << by_oid[pos];
        checked++;
    }
    EXPECT_EQ(checked, bm.commit_count());

    uint8_t wrong[20] = {0};
    EXPECT_THROW(BitmapIndex(base + ".bitmap", uint32_t(by_oid.size()), wrong), gsh::Error);
}

// The bitmap reader against git's own view of reachability.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fixture.h"
#include "pack/bitmap_index.h"
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

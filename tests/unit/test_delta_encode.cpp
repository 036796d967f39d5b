#include "pack/delta_encode.h"

#include <git2.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/pack_format.h"

namespace gsh::pack {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes random_bytes(std::mt19937 &rng, size_t n) {
    Bytes b(n);
    for (auto &c : b)
        c = uint8_t(rng());
    return b;
}

Bytes text_lines(size_t lines, int salt) {
    std::string s;
    for (size_t i = 0; i < lines; i++)
        s += "line " + std::to_string(i) + " of the file, salt " + std::to_string(salt % 3) +
             " and some text\n";
    return Bytes(s.begin(), s.end());
}

Bytes resolve(const Bytes &base, const Bytes &delta) {
    uint64_t base_size = 0, result_size = 0;
    EXPECT_TRUE(delta_sizes(delta.data(), delta.size(), &base_size, &result_size));
    EXPECT_EQ(base_size, base.size());
    Bytes out(result_size);
    EXPECT_TRUE(
        apply_delta(base.data(), base.size(), delta.data(), delta.size(), out.data(), out.size()));
    return out;
}

// Encodes with no size limit, checks the round trip, returns the delta.
Bytes round_trip(const Bytes &base, const Bytes &target) {
    DeltaEncoder enc;
    Bytes delta;
    EXPECT_TRUE(
        enc.encode(base.data(), base.size(), target.data(), target.size(), SIZE_MAX, &delta));
    EXPECT_EQ(resolve(base, delta), target);
    return delta;
}

TEST(DeltaEncode, EditedTextIsMostlyCopies) {
    Bytes base = text_lines(2000, 0);
    Bytes target = base;
    // An edit near the start, a line inserted in the middle, the end cut.
    target[100] = 'X';
    const std::string added = "a new line that the base does not have\n";
    target.insert(target.begin() + long(target.size() / 2), added.begin(), added.end());
    ASSERT_GT(target.size(), 500u);
    target.erase(target.end() - 500, target.end());
    Bytes delta = round_trip(base, target);
    EXPECT_LT(delta.size(), 200u) << "target " << target.size() << " bytes";
}

TEST(DeltaEncode, IdenticalObjectsAreCopiesOfAtMostTheLongestOp) {
    std::mt19937 rng(1);
    Bytes base = random_bytes(rng, 300000); // several copy ops of 0x10000
    Bytes delta = round_trip(base, base);
    EXPECT_LE(delta.size(), 6 + 5 * 8u);
}

TEST(DeltaEncode, UnrelatedDataIsAllInserts) {
    std::mt19937 rng(2);
    Bytes base = random_bytes(rng, 5000), target = random_bytes(rng, 5000);
    Bytes delta = round_trip(base, target);
    EXPECT_GE(delta.size(), target.size());
}

TEST(DeltaEncode, EdgeSizes) {
    std::mt19937 rng(3);
    for (size_t b : {0, 1, 15, 16, 17, 33, 127, 128, 129})
        for (size_t t : {0, 1, 15, 16, 17, 31, 127, 128, 255, 256}) {
            Bytes base = random_bytes(rng, b);
            Bytes target = random_bytes(rng, t);
            // Part of the target taken from the base, where it fits.
            for (size_t i = 0; i < std::min(b, t) / 2; i++)
                target[t - 1 - i] = base[i];
            round_trip(base, target);
        }
}

TEST(DeltaEncode, RepetitiveBaseAndShuffledBlocks) {
    std::mt19937 rng(4);
    Bytes base(100000, 'a');
    Bytes chunk = random_bytes(rng, 4096);
    base.insert(base.end(), chunk.begin(), chunk.end());
    Bytes target;
    for (int i = 0; i < 20; i++) {
        const size_t from = rng() % (base.size() - 700);
        target.insert(target.end(), base.begin() + long(from), base.begin() + long(from + 700));
        target.push_back(uint8_t(rng()));
    }
    Bytes delta = round_trip(base, target);
    EXPECT_LT(delta.size(), target.size() / 4);
}

TEST(DeltaEncode, GivesUpPastTheLimit) {
    std::mt19937 rng(5);
    Bytes base = random_bytes(rng, 4000), target = random_bytes(rng, 4000);
    DeltaEncoder enc;
    Bytes delta;
    EXPECT_FALSE(enc.encode(base.data(), base.size(), target.data(), target.size(), 1000, &delta));
    // The same encoder is still good for the next pair.
    target = base;
    target[7] ^= 1;
    EXPECT_TRUE(enc.encode(base.data(), base.size(), target.data(), target.size(), 1000, &delta));
    EXPECT_EQ(resolve(base, delta), target);
}

TEST(DeltaEncode, RandomEditsRoundTrip) {
    std::mt19937 rng(6);
    DeltaEncoder enc;
    for (int round = 0; round < 200; round++) {
        Bytes base = random_bytes(rng, rng() % 20000);
        Bytes target = base;
        for (int e = 0, edits = int(rng() % 10); e < edits && !target.empty(); e++) {
            const size_t at = rng() % target.size();
            switch (rng() % 3) {
            case 0:
                target[at] = uint8_t(rng());
                break;
            case 1:
                target.erase(target.begin() + long(at),
                             target.begin() + long(std::min(target.size(), at + rng() % 300)));
                break;
            default: {
                Bytes ins = random_bytes(rng, rng() % 300);
                target.insert(target.begin() + long(at), ins.begin(), ins.end());
            }
            }
        }
        Bytes delta;
        ASSERT_TRUE(
            enc.encode(base.data(), base.size(), target.data(), target.size(), SIZE_MAX, &delta));
        ASSERT_EQ(resolve(base, delta), target) << "round " << round;
    }
}

// git itself applies our deltas: a thin pack of one REF_DELTA against a blob
// the repository has is completed by index-pack --fix-thin --strict, and the
// object it resolves to is the target.
TEST(DeltaEncode, GitResolvesTheDelta) {
    test::TempDir dir;
    Bytes base = text_lines(3000, 0);
    Bytes target = base;
    const std::string added = "something new\n";
    target.insert(target.begin() + 5000, added.begin(), added.end());
    target.erase(target.begin() + 20000, target.begin() + 20100);
    {
        std::ofstream(dir.path() / "base", std::ios::binary)
            .write(reinterpret_cast<const char *>(base.data()), long(base.size()));
        std::ofstream(dir.path() / "target", std::ios::binary)
            .write(reinterpret_cast<const char *>(target.data()), long(target.size()));
    }
    dir.run("git init -q --bare r.git && GIT_DIR=r.git git hash-object -w base >/dev/null");
    const std::string base_hex = dir.run("GIT_DIR=r.git git hash-object base");
    const std::string target_hex = dir.run("git hash-object target");
    git_oid base_oid;
    ASSERT_EQ(git_oid_fromstrn(&base_oid, base_hex.c_str(), GIT_OID_HEXSZ), 0);

    DeltaEncoder enc;
    Bytes delta;
    ASSERT_TRUE(enc.encode(base.data(), base.size(), target.data(), target.size(),
                           target.size() / 2, &delta));
    // The pack: header, one REF_DELTA entry, SHA-1 trailer (by sha1sum).
    Bytes pack = {'P', 'A', 'C', 'K', 0, 0, 0, 2, 0, 0, 0, 1};
    uint8_t hdr[kMaxEntryHeader];
    const size_t hl = encode_type_size(hdr, kRefDelta, delta.size());
    pack.insert(pack.end(), hdr, hdr + hl);
    pack.insert(pack.end(), base_oid.id, base_oid.id + GIT_OID_RAWSZ);
    Bytes z(compressBound(uLong(delta.size())));
    uLongf zlen = uLongf(z.size());
    ASSERT_EQ(compress(z.data(), &zlen, delta.data(), uLong(delta.size())), Z_OK);
    pack.insert(pack.end(), z.begin(), z.begin() + long(zlen));
    std::ofstream(dir.path() / "body", std::ios::binary)
        .write(reinterpret_cast<const char *>(pack.data()), long(pack.size()));
    dir.run("sha1sum body | cut -c1-40 | xxd -r -p > sum && cat body sum > thin.pack");
    dir.run("GIT_DIR=r.git git index-pack --strict --fix-thin --stdin < thin.pack >/dev/null");
    EXPECT_EQ(dir.run("GIT_DIR=r.git git cat-file -p " + target_hex.substr(0, 40) + " | sha1sum"),
              dir.run("sha1sum < target"));
}

} // namespace
} // namespace gsh::pack

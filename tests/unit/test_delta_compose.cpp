#include "odb/delta_compose.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/delta_chain.h"
#include "odb/pack_format.h"
#include "odb/pack_index.h"
#include "test_pack_repo.h"

namespace gsh::pack {
namespace {

using Bytes = std::vector<uint8_t>;

// Writes deltas op by op with the encodings chosen by the test (not by the
// code under test): a copy of 0x10000 without size bytes, or any size with
// every offset and size byte spelled out.
class RawDelta {
  public:
    RawDelta(uint64_t base_size, uint64_t result_size) {
        varint(base_size);
        varint(result_size);
    }
    RawDelta &copy(uint64_t offset, uint64_t size, bool all_bytes = false) {
        uint8_t cmd = 0x80;
        Bytes args;
        for (int b = 0; b < 4; b++)
            if (all_bytes || uint8_t(offset >> (8 * b))) {
                cmd |= uint8_t(1 << b);
                args.push_back(uint8_t(offset >> (8 * b)));
            }
        if (size != 0x10000)
            for (int b = 0; b < 3; b++)
                if (all_bytes || uint8_t(size >> (8 * b))) {
                    cmd |= uint8_t(0x10 << b);
                    args.push_back(uint8_t(size >> (8 * b)));
                }
        bytes.push_back(cmd);
        bytes.insert(bytes.end(), args.begin(), args.end());
        return *this;
    }
    RawDelta &insert(const Bytes &data) {
        bytes.push_back(uint8_t(data.size()));
        bytes.insert(bytes.end(), data.begin(), data.end());
        return *this;
    }
    Bytes bytes;

  private:
    void varint(uint64_t v) {
        while (v >= 0x80) {
            bytes.push_back(uint8_t(v | 0x80));
            v >>= 7;
        }
        bytes.push_back(uint8_t(v));
    }
};

Bytes apply_to(const Bytes &base, const Bytes &delta) {
    uint64_t base_size = 0, result_size = 0;
    EXPECT_TRUE(delta_sizes(delta.data(), delta.size(), &base_size, &result_size));
    Bytes out(result_size);
    EXPECT_TRUE(
        apply_delta(base.data(), base.size(), delta.data(), delta.size(), out.data(), out.size()))
        << "the delta does not apply";
    return out;
}

struct Op {
    bool copy;
    uint64_t offset, size;
};

// The ops of a delta, checked to be what git's patch-delta accepts and
// what git's diff-delta writes: inserts of 1..127 bytes, copies of at most
// 0x10000 with a 32-bit offset, 0x10000 written without size bytes.
std::vector<Op> ops_of(const Bytes &delta) {
    std::vector<Op> ops;
    const uint8_t *p = delta.data(), *end = p + delta.size();
    uint64_t base_size = 0, result_size = 0;
    EXPECT_TRUE(delta_varint(p, end, &base_size) && delta_varint(p, end, &result_size));
    while (p < end) {
        const uint8_t cmd = *p++;
        if (!(cmd & 0x80)) {
            EXPECT_GE(cmd, 1);
            ops.push_back({false, 0, cmd});
            p += cmd;
            continue;
        }
        uint64_t off = 0, size = 0;
        for (int b = 0; b < 4; b++)
            if (cmd & (1 << b))
                off |= uint64_t(*p++) << (8 * b);
        EXPECT_FALSE(cmd & 0x40) << "a size byte beyond 0x10000";
        for (int b = 0; b < 3; b++)
            if (cmd & (0x10 << b))
                size |= uint64_t(*p++) << (8 * b);
        EXPECT_NE(size, 0x10000u) << "0x10000 must be written without size bytes";
        ops.push_back({true, off, size ? size : 0x10000});
    }
    EXPECT_EQ(p, end);
    return ops;
}

// Composes lower (C→B) and upper (B→D), checks the result against
// applying both, and returns it.
Bytes compose_checked(const Bytes &c, const Bytes &lower, const Bytes &upper) {
    const Bytes b = apply_to(c, lower);
    const Bytes d = apply_to(b, upper);
    Bytes out;
    EXPECT_TRUE(compose_deltas(lower.data(), lower.size(), upper.data(), upper.size(), &out));
    EXPECT_EQ(apply_to(c, out), d);
    const std::vector<Op> ops = ops_of(out);
    // Nothing a merge could shorten: no two inserts in a row with room in
    // the first, no copy that goes on where the previous one ended short
    // of the limit.
    for (size_t i = 1; i < ops.size(); i++) {
        const Op &a = ops[i - 1], &n = ops[i];
        if (!a.copy && !n.copy) {
            EXPECT_EQ(a.size, kMaxInsert) << "inserts " << i - 1 << " and " << i;
        }
        if (a.copy && n.copy && a.offset + a.size == n.offset) {
            EXPECT_EQ(a.size, kMaxCopy) << "copies " << i - 1 << " and " << i;
        }
    }
    return out;
}

Bytes random_bytes(std::mt19937_64 &rng, size_t n) {
    Bytes out(n);
    for (auto &x : out)
        x = uint8_t(rng());
    return out;
}

// A random delta from base of size base_size: copies of any length up to
// 0x10000 (that one without size bytes), inserts of 1..127 bytes.
Bytes random_delta(std::mt19937_64 &rng, const Bytes &base, size_t ops) {
    struct Planned {
        bool copy;
        uint64_t offset, size;
        Bytes data;
        bool all_bytes;
    };
    std::vector<Planned> plan;
    uint64_t result = 0;
    for (size_t i = 0; i < ops; i++) {
        if (!base.empty() && rng() % 3 != 0) {
            const uint64_t off = rng() % base.size();
            const uint64_t room = std::min<uint64_t>(base.size() - off, 0x10000);
            uint64_t size = rng() % 4 == 0 ? room : 1 + rng() % room;
            plan.push_back({true, off, size, {}, rng() % 5 == 0});
            result += size;
        } else {
            const size_t n = 1 + rng() % 127;
            plan.push_back({false, 0, n, random_bytes(rng, n), false});
            result += n;
        }
    }
    RawDelta d(base.size(), result);
    for (const Planned &p : plan) {
        if (p.copy)
            d.copy(p.offset, p.size, p.all_bytes);
        else
            d.insert(p.data);
    }
    return d.bytes;
}

TEST(DeltaCompose, RandomDeltasAgreeWithApplyingBoth) {
    std::mt19937_64 rng(12345);
    for (int round = 0; round < 400; round++) {
        SCOPED_TRACE("round " + std::to_string(round));
        const size_t c_size = round % 10 == 0 ? 0 : round % 3 == 0 ? 200000 : 1 + rng() % 3000;
        const Bytes c = random_bytes(rng, c_size);
        const Bytes lower = random_delta(rng, c, 1 + rng() % 40);
        const Bytes b = apply_to(c, lower);
        const Bytes upper = random_delta(rng, b, 1 + rng() % 40);
        compose_checked(c, lower, upper);
    }
}

// Composition is associative: a chain composed from the top down (as a
// pack's chain is) gives the object at the top from the one at the bottom.
TEST(DeltaCompose, ChainOfRandomDeltas) {
    std::mt19937_64 rng(777);
    Bytes base = random_bytes(rng, 50000);
    std::vector<Bytes> objects = {base};
    std::vector<Bytes> deltas;
    for (int i = 0; i < 30; i++) {
        deltas.push_back(random_delta(rng, objects.back(), 1 + rng() % 30));
        objects.push_back(apply_to(objects.back(), deltas.back()));
    }
    Bytes acc = deltas.back();
    for (size_t i = deltas.size() - 1; i-- > 0;) {
        Bytes next;
        ASSERT_TRUE(
            compose_deltas(deltas[i].data(), deltas[i].size(), acc.data(), acc.size(), &next));
        acc = next;
        EXPECT_EQ(apply_to(objects[i], acc), objects.back()) << "down to object " << i;
    }
    ops_of(acc);
}

// 0x10000 is a copy op without size bytes, in what is read and in what is
// written; longer runs are split there.
TEST(DeltaCompose, CopiesOf0x10000) {
    std::mt19937_64 rng(1);
    const Bytes c = random_bytes(rng, 0x30000);
    // B: C's three 0x10000 pieces in order, each without size bytes.
    const Bytes lower = RawDelta(c.size(), 0x30000)
                            .copy(0, 0x10000)
                            .copy(0x10000, 0x10000)
                            .copy(0x20000, 0x10000)
                            .bytes;
    // D: all of B in one copy (24-bit size), then 0x10000 across the first
    // two pieces of B (one run of C again).
    const Bytes upper = RawDelta(0x30000, 0x40000).copy(0, 0x30000).copy(0x8000, 0x10000).bytes;
    const Bytes out = compose_checked(c, lower, upper);
    const std::vector<Op> ops = ops_of(out);
    ASSERT_EQ(ops.size(), 4u);
    for (int i = 0; i < 3; i++) {
        EXPECT_TRUE(ops[i].copy);
        EXPECT_EQ(ops[i].offset, uint64_t(i) * 0x10000);
        EXPECT_EQ(ops[i].size, 0x10000u);
    }
    EXPECT_EQ(ops[3].offset, 0x8000u);
    EXPECT_EQ(ops[3].size, 0x10000u);
    // The encoding itself: 0x80 with one offset byte and no size byte.
    const Bytes head = RawDelta(0x30000, 0x40000).bytes;
    EXPECT_EQ(out[head.size()], 0x80);     // offset 0, size 0x10000
    EXPECT_EQ(out[head.size() + 1], 0x84); // offset byte 2 only
    EXPECT_EQ(out[head.size() + 2], 0x01);
}

// Offsets of 16 MiB and more need the fourth offset byte.
TEST(DeltaCompose, OffsetsNeedingFourBytes) {
    std::mt19937_64 rng(2);
    const Bytes c = random_bytes(rng, 0x1000100);
    const Bytes lower = RawDelta(c.size(), 306)
                            .copy(0x10000F0, 0x10)
                            .insert(Bytes(20, 'x'))
                            .copy(0x1000000, 0x100)
                            .copy(5, 14)
                            .bytes;
    const Bytes upper = RawDelta(306, 290).copy(2, 280).insert(Bytes(10, 'y')).bytes;
    const Bytes out = compose_checked(c, lower, upper);
    const std::vector<Op> ops = ops_of(out);
    ASSERT_GE(ops.size(), 3u);
    EXPECT_EQ(ops[0].offset, 0x10000F2u);
    EXPECT_EQ(ops[2].offset, 0x1000000u);
    const size_t head = RawDelta(c.size(), 290).bytes.size();
    // Offset 0x010000F2: bytes 0 and 3 (zero bytes are left out), one size byte.
    EXPECT_EQ(out[head], 0x80 | 0x01 | 0x08 | 0x10);
    EXPECT_EQ(out[head + 1], 0xF2);
    EXPECT_EQ(out[head + 2], 0x01);
    EXPECT_EQ(out[head + 3], 14);
}

// Inserts gather up to 127 bytes an op, across the pieces they come from
// (the upper delta's inserts and the lower delta's literals).
TEST(DeltaCompose, InsertsMergeUpTo127) {
    std::mt19937_64 rng(3);
    const Bytes c = random_bytes(rng, 1000);
    const Bytes lit_a = random_bytes(rng, 127), lit_b = random_bytes(rng, 100);
    // B: 127 literal bytes, 100 more, then 500 of C.
    const Bytes lower = RawDelta(c.size(), 727).insert(lit_a).insert(lit_b).copy(10, 500).bytes;
    // D: an insert of 50, all of B's literals (227), 27 more inserted, a
    // copy, then inserts of exactly 127 and 1.
    const Bytes upper = RawDelta(727, 50 + 227 + 27 + 100 + 128)
                            .insert(random_bytes(rng, 50))
                            .copy(0, 227)
                            .insert(random_bytes(rng, 27))
                            .copy(227, 100)
                            .insert(random_bytes(rng, 127))
                            .insert(random_bytes(rng, 1))
                            .bytes;
    const std::vector<Op> ops = ops_of(compose_checked(c, lower, upper));
    // 304 bytes of inserts: 127 + 127 + 50, a copy, 127 + 1.
    ASSERT_EQ(ops.size(), 6u);
    EXPECT_EQ(ops[0].size, 127u);
    EXPECT_EQ(ops[1].size, 127u);
    EXPECT_EQ(ops[2].size, 50u);
    EXPECT_TRUE(ops[3].copy);
    EXPECT_EQ(ops[4].size, 127u);
    EXPECT_EQ(ops[5].size, 1u);
}

// Copies that follow each other in C become one op, whatever the pieces of
// B they went through.
TEST(DeltaCompose, ContiguousCopiesMerge) {
    std::mt19937_64 rng(4);
    const Bytes c = random_bytes(rng, 4000);
    const Bytes lower = RawDelta(c.size(), 3000)
                            .copy(0, 1000)
                            .copy(1000, 1000, true)
                            .copy(2000, 500)
                            .copy(2500, 500)
                            .bytes;
    const Bytes upper = RawDelta(3000, 2900).copy(50, 1450).copy(1500, 1450).bytes;
    const std::vector<Op> ops = ops_of(compose_checked(c, lower, upper));
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].offset, 50u);
    EXPECT_EQ(ops[0].size, 2900u);
}

TEST(DeltaCompose, EmptyObjects) {
    const Bytes none;
    // C and B empty: B is nothing, D all inserted.
    compose_checked(none, RawDelta(0, 0).bytes, RawDelta(0, 3).insert({1, 2, 3}).bytes);
    // D empty.
    compose_checked(Bytes(10, 7), RawDelta(10, 4).copy(3, 4).bytes, RawDelta(4, 0).bytes);
}

TEST(DeltaCompose, MalformedDeltasAreRefused) {
    const Bytes lower = RawDelta(100, 50).copy(10, 50).bytes;
    const Bytes upper = RawDelta(50, 20).copy(0, 20).bytes;
    Bytes out;
    auto refuses = [&](const Bytes &l, const Bytes &u) {
        return !compose_deltas(l.data(), l.size(), u.data(), u.size(), &out);
    };
    EXPECT_FALSE(refuses(lower, upper));
    // Upper's base is not lower's result.
    EXPECT_TRUE(refuses(lower, RawDelta(51, 20).copy(0, 20).bytes));
    // Copies outside their base.
    EXPECT_TRUE(refuses(RawDelta(100, 50).copy(60, 50).bytes, upper));
    EXPECT_TRUE(refuses(lower, RawDelta(50, 20).copy(40, 20).bytes));
    // Results of another size than announced.
    EXPECT_TRUE(refuses(RawDelta(100, 49).copy(10, 50).bytes, upper));
    EXPECT_TRUE(refuses(RawDelta(100, 51).copy(10, 50).bytes, upper));
    EXPECT_TRUE(refuses(lower, RawDelta(50, 21).copy(0, 20).bytes));
    EXPECT_TRUE(refuses(lower, RawDelta(50, 19).copy(0, 20).bytes));
    // The reserved op 0, a truncated insert, a truncated copy, no sizes.
    Bytes reserved = upper;
    reserved.push_back(0);
    EXPECT_TRUE(refuses(lower, reserved));
    Bytes short_insert = RawDelta(50, 20).insert(Bytes(20, 1)).bytes;
    short_insert.pop_back();
    EXPECT_TRUE(refuses(lower, short_insert));
    Bytes short_copy = RawDelta(50, 20).bytes;
    short_copy.push_back(0x80 | 0x01 | 0x10);
    short_copy.push_back(0);
    EXPECT_TRUE(refuses(lower, short_copy));
    EXPECT_TRUE(refuses(Bytes{0x80}, upper));
}

// A copy op has 32 bits of offset: a base of 4 GiB or more is refused
// rather than addressed wrong.
TEST(DeltaCompose, OffsetsBeyond32BitsAreRefused) {
    Bytes out;
    DeltaWriter w;
    w.start(&out, uint64_t(1) << 33, 100);
    EXPECT_TRUE(w.copy(0xFFFFFF00, 0x80));
    EXPECT_TRUE(w.finish());
    w.start(&out, uint64_t(1) << 33, 100);
    EXPECT_TRUE(w.copy(0xFFFFFFF0, 0x10)); // ends at 2^32: the op starts below
    EXPECT_TRUE(w.finish());
    w.start(&out, uint64_t(1) << 33, 100);
    w.copy(uint64_t(1) << 32, 100);
    EXPECT_FALSE(w.finish());
    // A run that crosses 4 GiB: its op past the line cannot be written.
    w.start(&out, uint64_t(1) << 33, 0x20000);
    w.copy(0xFFFF0000, 0x20000);
    EXPECT_FALSE(w.finish());
}

// git's own deltas, along a chain in a pack: 130 versions of a file, each
// one line changed and one added from the one before, packed by git with
// --depth=200. The newest (largest) is whole, each older one a delta
// against a newer one.
class DeltaChainTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir();
        dir_->run(R"SH(git init -q -b main repo && cd repo &&
awk 'BEGIN { srand(5); for (l = 1; l <= 430; l++) base[l] = sprintf("%d %08x%08x", l, rand() * 4294967295, rand() * 4294967295);
  for (k = 1; k <= 130; k++) { for (l = 1; l <= 430; l++) a[l] = base[l]; for (j = 1; j <= k; j++) a[(j * 37) % 300 + 1] = "line changed by version " j;
    f = "v" k ".txt"; for (l = 1; l <= 300 + k; l++) print a[l] > f; close(f) } }' &&
for k in $(seq 1 130); do echo v$k.txt; done | git hash-object -w --stdin-paths > ../oids &&
awk '{ print $1, "f" }' ../oids | git pack-objects -q --window=250 --depth=200 .git/objects/pack/pack >/dev/null &&
git prune-packed)SH");
        versions_ = new std::vector<std::string>(test::split_lines(dir_->run("cat oids")));
        bases_ = new std::map<std::string, std::string>();
        for (const auto &o : test::verify_pack_objects(
                 dir_->run("git verify-pack -v repo/.git/objects/pack/pack-*.idx")))
            (*bases_)[o.oid] = o.base;
    }
    static void TearDownTestSuite() {
        delete versions_;
        delete bases_;
        delete dir_;
    }

    // The deltas from oid down to base on disk; 0 when base is not on its chain.
    static size_t distance(std::string oid, const std::string &base) {
        size_t n = 0;
        while (oid != base && !oid.empty()) {
            oid = bases_->at(oid);
            n++;
        }
        return oid.empty() ? 0 : n;
    }
    static Bytes content(const std::string &oid) {
        const std::string s = dir_->run("git -C repo cat-file blob " + oid);
        return Bytes(s.begin(), s.end());
    }

    static test::TempDir *dir_;
    static std::vector<std::string> *versions_;
    static std::map<std::string, std::string> *bases_;
};
test::TempDir *DeltaChainTest::dir_;
std::vector<std::string> *DeltaChainTest::versions_;
std::map<std::string, std::string> *DeltaChainTest::bases_;

TEST_F(DeltaChainTest, ComposesGitsDeltasDownAChain) {
    PackSet packs(dir_->str() + "/repo/.git/objects/pack");
    ASSERT_EQ(packs.size(), 1u);
    DeltaChain chain(packs);
    const std::string top = versions_->back();
    ASSERT_EQ(bases_->at(top), "") << "the newest version is whole";
    size_t tried = 0;
    for (size_t k = 60; k < versions_->size(); k += 7) {
        // Down to the whole version, and to one halfway.
        const std::string &v = (*versions_)[k - 1];
        std::string half = bases_->at(v);
        for (size_t i = distance(v, top) / 2; i > 1; i--)
            half = bases_->at(half);
        for (const std::string &base : {top, half}) {
            const size_t depth = distance(v, base);
            ASSERT_GT(depth, 0u);
            if (depth < 2 || depth > kMaxComposeDepth)
                continue;
            SCOPED_TRACE("version " + std::to_string(k) + ", " + std::to_string(depth) +
                         " deltas down");
            const git_oid target = test::to_oid(base);
            uint64_t offset;
            const int p = packs.find(test::to_oid(v), &offset);
            ASSERT_EQ(p, 0);
            git_oid found;
            ASSERT_TRUE(chain.follow(
                uint32_t(p), offset,
                [&](const git_oid &o) { return git_oid_equal(&o, &target) != 0; }, &found));
            EXPECT_TRUE(git_oid_equal(&found, &target));
            EXPECT_EQ(chain.depth(), depth);
            Bytes delta;
            ASSERT_TRUE(chain.compose(&delta));
            EXPECT_EQ(apply_to(content(base), delta), content(v));
            ops_of(delta);
            tried++;
        }
    }
    EXPECT_GT(tried, 10u);
}

// A chain is followed no further than kMaxComposeDepth deltas, nor past a
// whole object.
TEST_F(DeltaChainTest, StopsAtTheDepthLimitAndAtWholeObjects) {
    PackSet packs(dir_->str() + "/repo/.git/objects/pack");
    DeltaChain chain(packs);
    const std::string &oldest = versions_->front(), &top = versions_->back();
    ASSERT_GT(distance(oldest, top), kMaxComposeDepth) << "the fixture should be that deep";
    const git_oid target = test::to_oid(top);
    uint64_t offset;
    const int p = packs.find(test::to_oid(oldest), &offset);
    ASSERT_GE(p, 0);
    git_oid found;
    EXPECT_FALSE(chain.follow(
        uint32_t(p), offset, [&](const git_oid &o) { return git_oid_equal(&o, &target) != 0; },
        &found));
    // From a version near the top, nothing usable before the whole one.
    ASSERT_GE(packs.find(test::to_oid((*versions_)[120]), &offset), 0);
    EXPECT_FALSE(chain.follow(
        uint32_t(p), offset, [](const git_oid &) { return false; }, &found));
    // A whole object has no chain.
    ASSERT_GE(packs.find(target, &offset), 0);
    EXPECT_FALSE(chain.follow(
        uint32_t(p), offset, [](const git_oid &) { return true; }, &found));
}

} // namespace
} // namespace gsh::pack

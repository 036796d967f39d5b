// The streaming pack checker: real packs from git pass whatever the pieces
// they come in; every refusal of git's index-pack is made with its words,
// at the same byte whatever the pieces; limits stop a delta before its
// result is made.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fixture.h"
#include "pack_bytes.h"
#include "push/pack_check.h"
#include "util/sha1.h"

using gsh::pack::PackChecker;
using gsh::pack::PackCheckLimits;

namespace {

using gsh::test::deflate;
using gsh::test::varint;

// An entry: a header declaring size, then data deflated.
std::string entry(int type, uint64_t size, const std::string &data) {
    return gsh::test::type_size(type, size) + deflate(data);
}

std::string entry(int type, const std::string &data) {
    return entry(type, data.size(), data);
}

std::string pack(const std::vector<std::string> &entries, int64_t count = -1) {
    return gsh::test::make_pack(entries, count);
}

// The checker's verdict on data fed in pieces of at most step bytes ("" for
// accepted), and the byte count at which it stopped.
std::pair<std::string, uint64_t> check(const std::string &data, size_t step = SIZE_MAX,
                                       const PackCheckLimits &limits = {}) {
    PackChecker c(limits);
    for (size_t pos = 0; pos < data.size(); pos += step)
        if (!c.feed(data.data() + pos, std::min(step, data.size() - pos)))
            return {c.error(), c.bytes()};
    return {c.finish() ? "" : c.error(), c.bytes()};
}

// Split in two at every byte, and byte by byte: the same verdict each way
// (a refusal inside a zlib stream may come after more or fewer bytes).
void expect_verdict(const std::string &data, const std::string &want,
                    const PackCheckLimits &limits = {}) {
    const auto whole = check(data, SIZE_MAX, limits);
    EXPECT_EQ(whole.first, want);
    EXPECT_EQ(check(data, 1, limits).first, want);
    for (size_t cut = 1; cut < data.size(); cut++) {
        PackChecker c(limits);
        std::string got;
        if (!c.feed(data.data(), cut) || !c.feed(data.data() + cut, data.size() - cut) ||
            !c.finish())
            got = c.error();
        ASSERT_EQ(got, want) << "split at " << cut;
        if (want.empty()) {
            ASSERT_EQ(c.bytes(), data.size()) << "split at " << cut;
        }
    }
}

const std::string kBlob = "hello world\n";

TEST(PackCheck, GitsOwnPackPassesInAnyPieces) {
    gsh::test::TempDir dir;
    dir.run("git init -q -b main w && cd w && seq 1 3000 > f && git add f && git commit -qm a "
            "&& seq 1 3001 > f && echo x > g && git add f g && git commit -qm b && git tag -am t "
            "v1");
    const std::string data =
        dir.run("cd w && printf 'v1\\nmain\\n' | git pack-objects -q --stdout --revs");
    ASSERT_GT(data.size(), 100u);
    PackChecker c;
    ASSERT_TRUE(c.feed(data.data(), data.size())) << c.error();
    ASSERT_TRUE(c.finish()) << c.error();
    EXPECT_EQ(c.objects(), 8u);
    EXPECT_EQ(c.bytes(), data.size());
    expect_verdict(data, "");
}

TEST(PackCheck, DeclaredSizeMustBeTheInflatedSize) {
    // The case: 100 bytes declared over 12 of zlib data.
    expect_verdict(pack({entry(3, 100, kBlob)}),
                   "pack has bad object at offset 12: inflate returned 1");
    // Fewer declared than the stream holds: it stops where git's does.
    expect_verdict(pack({entry(3, 5, kBlob)}),
                   "pack has bad object at offset 12: inflate returned -5");
    // The second entry's offset is named.
    const std::string first = entry(3, kBlob);
    expect_verdict(pack({first, entry(3, 100, kBlob)}), "pack has bad object at offset " +
                                                            std::to_string(12 + first.size()) +
                                                            ": inflate returned 1");
}

TEST(PackCheck, CorruptZlibRefused) {
    std::string e = entry(3, kBlob);
    e[4] ^= 0x55;
    const auto [err, at] = check(pack({e}));
    EXPECT_EQ(err.rfind("pack has bad object at offset 12: inflate returned ", 0), 0u) << err;
    expect_verdict(pack({e}), err);
}

TEST(PackCheck, TrailerCountAndJunk) {
    std::string good = pack({entry(3, kBlob), entry(1, "tree x\n")});
    std::string bad_trailer = good;
    bad_trailer.back() ^= 1;
    expect_verdict(bad_trailer, "pack is corrupted (SHA1 mismatch)");
    expect_verdict(good + "x", "pack has junk at the end");
    expect_verdict(good.substr(0, good.size() - 1), "early EOF");
    expect_verdict(good.substr(0, 20), "early EOF");
    // A header claiming one entry fewer reads the last as the trailer.
    expect_verdict(pack({entry(3, kBlob), entry(1, "tree x\n")}, 1),
                   "pack is corrupted (SHA1 mismatch)");
    // One more: the trailer is read as an entry.
    EXPECT_NE(check(pack({entry(3, kBlob)}, 2)).first, "");
    expect_verdict(pack({}), "");
}

TEST(PackCheck, HeaderAndTypesRefused) {
    expect_verdict("PACX" + pack({}).substr(4), "pack signature mismatch");
    std::string v4 = pack({});
    v4[7] = 4;
    expect_verdict(v4, "pack version 4 unsupported");
    expect_verdict(pack({entry(5, kBlob)}),
                   "pack has bad object at offset 12: unknown object type 5");
    expect_verdict(pack({entry(0, kBlob)}),
                   "pack has bad object at offset 12: unknown object type 0");
}

TEST(PackCheck, OfsDeltaBaseMustBeEarlier) {
    const std::string base = entry(3, kBlob);
    const std::string delta = varint(kBlob.size()) + varint(3) +
                              std::string("\x03"
                                          "abc",
                                          4);
    // Its base 12 + base.size() back: offset 12, the base.
    std::string ok = gsh::test::type_size(6, delta.size()) + varint(base.size()) + deflate(delta);
    expect_verdict(pack({base, ok}), "");
    std::string out =
        gsh::test::type_size(6, delta.size()) + varint(base.size() + 12) + deflate(delta);
    expect_verdict(pack({base, out}), "pack has bad object at offset " +
                                          std::to_string(12 + base.size()) +
                                          ": delta base offset is out of bound");
    std::string overflow = gsh::test::type_size(6, delta.size()) + std::string(10, '\xff') + "\x01";
    expect_verdict(pack({base, overflow}), "pack has bad object at offset " +
                                               std::to_string(12 + base.size()) +
                                               ": offset value overflow for delta base object");
}

TEST(PackCheck, DeltaResultAboveTheLimitRefusedFromItsHeader) {
    PackCheckLimits limits;
    limits.max_object_size = 1 << 20;
    // A REF delta claiming a 1 GiB result, in a few bytes.
    const std::string delta = varint(12) + varint(uint64_t(1) << 30) +
                              std::string("\x01"
                                          "a",
                                          2);
    const std::string bomb =
        gsh::test::type_size(7, delta.size()) + std::string(20, '\x11') + deflate(delta);
    const std::string data = pack({bomb});
    expect_verdict(data,
                   "pack has bad object at offset 12: delta result of 1024.00 MiB exceeds the "
                   "maximum object size (1024.00 KiB)",
                   limits);
    // Refused before the delta's end: nothing after its header is needed.
    PackChecker c(limits);
    EXPECT_FALSE(c.feed(data.data(), 12 + bomb.size() - 4));
    EXPECT_NE(c.error(), "");
    // No limit: the header alone is no reason to refuse.
    expect_verdict(data, "");
    // The declared size of a plain object, from its entry header alone.
    const std::string big = gsh::test::type_size(3, 2u << 20) + "\x78";
    PackChecker d(limits);
    EXPECT_FALSE(
        d.feed((pack({}).substr(0, 8) + std::string("\0\0\0\1", 4) + big).data(), 12 + big.size()));
    EXPECT_EQ(d.error(), "pack has bad object at offset 12: object of 2.00 MiB exceeds the "
                         "maximum object size (1024.00 KiB)");
}

TEST(PackCheck, MaxInputSizeAsGits) {
    const std::string data = pack({entry(3, kBlob), entry(3, "more\n")});
    PackCheckLimits limits;
    limits.max_input_size = data.size();
    expect_verdict(data, "", limits);
    limits.max_input_size = data.size() - 1;
    expect_verdict(
        data, "pack exceeds maximum allowed size (" + std::to_string(data.size() - 1) + " bytes)",
        limits);
}

TEST(PackCheck, HumaniseAsGits) {
    using gsh::pack::humanise_bytes;
    EXPECT_EQ(humanise_bytes(1), "1 byte");
    EXPECT_EQ(humanise_bytes(1024), "1024 bytes");
    EXPECT_EQ(humanise_bytes(1536), "1.50 KiB");
    EXPECT_EQ(humanise_bytes(128u << 20), "128.00 MiB");
    EXPECT_EQ(humanise_bytes(uint64_t(1) << 30), "1024.00 MiB");
    EXPECT_EQ(humanise_bytes((uint64_t(1) << 30) + 1), "1.00 GiB");
    EXPECT_EQ(humanise_bytes(uint64_t(5) << 30), "5.00 GiB");
}

} // namespace

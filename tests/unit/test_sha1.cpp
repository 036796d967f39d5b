#include "util/sha1.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fixture.h"

namespace gsh::pack {
namespace {

std::string hex_of(const std::string &s) {
    return Sha1::hex(Sha1::of(s.data(), s.size()));
}

TEST(Sha1, KnownVectors) {
    EXPECT_EQ(hex_of(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(hex_of("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                     "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
              "a49b2446a02c645bf419f995b67091253a04a259");
    EXPECT_EQ(hex_of("The quick brown fox jumps over the lazy dog"),
              "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

TEST(Sha1, MillionA) {
    Sha1 s;
    std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; i++)
        s.update(chunk.data(), chunk.size());
    EXPECT_EQ(Sha1::hex(s.final()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1, GitBlobId) {
    std::string blob = std::string("blob 6") + '\0' + "hello\n";
    EXPECT_EQ(hex_of(blob), "ce013625030ba8dba906f756967f9e9ca394464a");
}

// Every length around the block and padding boundaries, fed in odd pieces,
// gives the same digest as one update; and the same as `git hash-object`.
TEST(Sha1, StreamingSplitsAndGitHashObject) {
    std::mt19937 rng(42);
    test::TempDir dir;
    std::vector<size_t> lengths;
    for (size_t n = 0; n <= 200; n++)
        lengths.push_back(n);
    for (size_t n : {511, 512, 513, 4095, 4096, 4097, 65535, 65536, 100003})
        lengths.push_back(n);
    for (size_t n : lengths) {
        std::string data(n, '\0');
        for (auto &c : data)
            c = char(rng());
        Sha1::Digest whole = Sha1::of(data.data(), data.size());
        for (size_t piece : {1, 7, 63, 64, 65, 1000}) {
            Sha1 s;
            for (size_t off = 0; off < n; off += piece)
                s.update(data.data() + off, std::min(piece, n - off));
            ASSERT_EQ(s.final(), whole) << "len " << n << " piece " << piece;
        }
        if (n % 37 == 0 || n > 200) {
            std::string path = dir.str() + "/f";
            std::ofstream(path, std::ios::binary) << data;
            std::string header = "blob " + std::to_string(n);
            Sha1 s;
            s.update(header.data(), header.size() + 1); // with the NUL
            s.update(data.data(), data.size());
            std::string expect = test::sh("git hash-object --no-filters '" + path + "'");
            ASSERT_EQ(Sha1::hex(s.final()) + "\n", expect) << "len " << n;
        }
    }
}

TEST(Sha1, AcceleratedMatchesPortable) {
    if (!detail::sha1_have_shani())
        GTEST_SKIP() << "no SHA extensions on this CPU";
    std::mt19937 rng(7);
    std::vector<uint8_t> data(64 * 300);
    for (auto &c : data)
        c = uint8_t(rng());
    for (size_t blocks : {1, 2, 3, 17, 300}) {
        uint32_t a[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
        uint32_t b[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
        detail::sha1_blocks_portable(a, data.data(), blocks);
        detail::sha1_blocks_shani(b, data.data(), blocks);
        for (int i = 0; i < 5; i++)
            ASSERT_EQ(a[i], b[i]) << "blocks " << blocks;
    }
}

// Prints the speed of each implementation (no timing assertion) and checks
// that each hashed the 64 MiB right: the raw blocks, then the padding block
// of a message of that length, give SHA-1 of 64 MiB of 0x5a (Python's
// hashlib.sha1(b"\x5a" * (64 << 20)).hexdigest()).
TEST(Sha1, Throughput) {
    std::vector<uint8_t> data(64 << 20, 0x5a);
    uint8_t padding[64] = {0x80};
    uint64_t bits = uint64_t(data.size()) * 8;
    for (int i = 0; i < 8; i++)
        padding[63 - i] = uint8_t(bits >> (8 * i));
    for (int portable = 0; portable < 2; portable++) {
        auto blocks = portable || !detail::sha1_have_shani() ? detail::sha1_blocks_portable
                                                             : detail::sha1_blocks_shani;
        auto t0 = std::chrono::steady_clock::now();
        uint32_t st[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
        blocks(st, data.data(), data.size() / 64);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("sha1 %s: %.0f MB/s\n", portable ? "portable" : "default",
                    data.size() / s / 1e6);
        blocks(st, padding, 1);
        char hex[41];
        for (int i = 0; i < 5; i++)
            std::snprintf(hex + 8 * i, 9, "%08x", unsigned(st[i]));
        EXPECT_EQ(std::string(hex), "6f8b62dc569c0598469d330d5371bfbe0a8f4885")
            << (portable ? "portable" : "default");
    }
}

} // namespace
} // namespace gsh::pack

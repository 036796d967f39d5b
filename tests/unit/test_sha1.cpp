#include "util/sha1.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// Prints the speed (no timing assertion) and checks that the 64 MiB were
// hashed right: SHA-1 of 64 MiB of 0x5a (Python's
// hashlib.sha1(b"\x5a" * (64 << 20)).hexdigest()), in one update and in
// the 1 MiB updates a large clone's pack writer makes.
TEST(Sha1, Throughput) {
    std::vector<uint8_t> data(64 << 20, 0x5a);
    for (size_t piece : {data.size(), size_t(1) << 20}) {
        auto t0 = std::chrono::steady_clock::now();
        Sha1 s;
        for (size_t off = 0; off < data.size(); off += piece)
            s.update(data.data() + off, std::min(piece, data.size() - off));
        const std::string hex = Sha1::hex(s.final());
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("sha1 in %zu-byte updates: %.0f MB/s\n", piece, data.size() / secs / 1e6);
        EXPECT_EQ(hex, "6f8b62dc569c0598469d330d5371bfbe0a8f4885") << "piece " << piece;
    }
}

// A hash reset after final() starts over, and one reset mid-stream drops
// what it had (the pack writer reuses one object).
TEST(Sha1, ResetStartsOver) {
    Sha1 s;
    s.update("abc", 3);
    EXPECT_EQ(Sha1::hex(s.final()), "a9993e364706816aba3e25717850c26c9cd0d89d");
    s.reset();
    s.update("xyz", 3);
    s.reset();
    s.update("abc", 3);
    EXPECT_EQ(Sha1::hex(s.final()), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

} // namespace
} // namespace gsh::pack

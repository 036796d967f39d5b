#include "odb/pack_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/object_reader.h"
#include "odb/pack_format.h"
#include "test_pack_repo.h"
#include "util/error.h"

namespace gsh::pack {
namespace {

using test::PackRepo;
using test::sh;

struct IdxEntry {
    uint64_t offset;
    std::string oid;
};

// `git show-index` of an .idx: offset and oid of every entry.
std::vector<IdxEntry> show_index(const std::string &idx) {
    std::vector<IdxEntry> out;
    for (const auto &line : test::split_lines(sh("git show-index < '" + idx + "'"))) {
        size_t sp = line.find(' ');
        out.push_back({std::stoull(line.substr(0, sp)), line.substr(sp + 1, GIT_OID_HEXSZ)});
    }
    return out;
}

std::vector<std::string> pack_indexes(const std::string &git_dir) {
    return test::split_lines(sh("ls '" + git_dir + "'/objects/pack/pack-*.idx"));
}

uint64_t file_size(const std::string &path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    return uint64_t(f.tellg());
}

// Everything PackIndex answers agrees with git show-index.
void check_index(const std::string &idx_path) {
    SCOPED_TRACE(idx_path);
    PackIndex idx(idx_path);
    std::vector<IdxEntry> entries = show_index(idx_path);
    ASSERT_EQ(idx.count(), entries.size());
    const std::string pack = idx_path.substr(0, idx_path.size() - 4) + ".pack";
    EXPECT_EQ(idx.pack_path(), pack);
    EXPECT_EQ(idx.pack_size(), file_size(pack));

    std::vector<uint64_t> sorted;
    for (const auto &e : entries)
        sorted.push_back(e.offset);
    std::sort(sorted.begin(), sorted.end());
    for (const auto &e : entries) {
        git_oid oid = test::to_oid(e.oid);
        uint64_t off = 0;
        ASSERT_TRUE(idx.lookup(oid, &off)) << e.oid;
        EXPECT_EQ(off, e.offset);
        int64_t pos = idx.find(oid);
        ASSERT_GE(pos, 0);
        EXPECT_EQ(test::to_hex(*reinterpret_cast<const git_oid *>(idx.oid_at(uint32_t(pos)))),
                  e.oid);
        EXPECT_EQ(idx.offset_at(uint32_t(pos)), e.offset);
        EXPECT_EQ(idx.pos_at_offset(e.offset), pos);
        auto next = std::upper_bound(sorted.begin(), sorted.end(), e.offset);
        EXPECT_EQ(idx.entry_end(e.offset), next == sorted.end() ? idx.pack_size() - 20 : *next);
    }
    EXPECT_EQ(idx.pos_at_offset(1), -1);
    EXPECT_THROW(idx.entry_end(1), Error);
    git_oid absent = test::to_oid("0123456789012345678901234567890123456789");
    uint64_t off;
    EXPECT_FALSE(idx.lookup(absent, &off));
    git_oid high = test::to_oid("ffffffffffffffffffffffffffffffffffffffff");
    EXPECT_FALSE(idx.lookup(high, &off));
}

TEST(PackIndex, AgreesWithShowIndexForEveryPack) {
    const PackRepo &r = PackRepo::get();
    auto idxs = pack_indexes(r.path());
    ASSERT_GE(idxs.size(), 3u);
    for (const auto &idx : idxs)
        check_index(idx);
}

// Enough objects for large fanout buckets (the lookup guesses a position
// inside the bucket before bisecting).
TEST(PackIndex, ManyObjects) {
    test::TempDir dir;
    const std::string d = dir.str();
    sh("git init -q --bare '" + d +
       "/many.git' && awk 'BEGIN { for (i = 1; i <= 5000; i++) "
       "printf \"blob\\ndata <<E\\nobject %d\\nE\\n\", i }' | git --git-dir='" +
       d + "/many.git' fast-import --quiet");
    auto idxs = pack_indexes(d + "/many.git");
    ASSERT_EQ(idxs.size(), 1u);
    check_index(idxs[0]);
    PackIndex idx(idxs[0]);
    ASSERT_EQ(idx.count(), 5000u);
    std::mt19937_64 rng(3);
    for (int i = 0; i < 20000; i++) {
        git_oid oid;
        for (auto &b : oid.id)
            b = uint8_t(rng());
        EXPECT_EQ(idx.find(oid), -1);
        // One bit away from a member.
        std::memcpy(oid.id, idx.oid_at(uint32_t(rng() % idx.count())), GIT_OID_RAWSZ);
        oid.id[19] ^= 1;
        EXPECT_EQ(idx.find(oid), -1);
    }
}

TEST(PackIndex, VersionOneAndLargeOffsets) {
    const PackRepo &r = PackRepo::get();
    test::TempDir dir;
    const std::string pack = pack_indexes(r.path())[0];
    const std::string src = pack.substr(0, pack.size() - 4) + ".pack";
    sh("cp '" + src + "' '" + dir.str() + "/pack-v1.pack' && cp '" + src + "' '" + dir.str() +
       "/pack-v2.pack'");
    // Version 1; and version 2 with every offset past 0x1000 in the 64-bit table.
    sh("git index-pack --index-version=1 -o '" + dir.str() + "/pack-v1.idx' '" + dir.str() +
       "/pack-v1.pack' >/dev/null");
    sh("git index-pack --index-version=2,0x1000 -o '" + dir.str() + "/pack-v2.idx' '" + dir.str() +
       "/pack-v2.pack' >/dev/null");
    EXPECT_EQ(PackIndex(dir.str() + "/pack-v1.idx").version(), 1);
    EXPECT_EQ(PackIndex(dir.str() + "/pack-v2.idx").version(), 2);
    check_index(dir.str() + "/pack-v1.idx");
    check_index(dir.str() + "/pack-v2.idx");
}

// With git's reverse index (.rev), the pack order comes from it.
TEST(PackIndex, ReverseIndexFile) {
    const PackRepo &r = PackRepo::get();
    test::TempDir dir;
    const std::string d = dir.str();
    sh("git clone -q --bare '" + r.path() + "' '" + d + "/rev.git' && git -C '" + d +
       "/rev.git' -c pack.writeReverseIndex=true repack -adq");
    auto idxs = pack_indexes(d + "/rev.git");
    ASSERT_EQ(idxs.size(), 1u);
    EXPECT_TRUE(PackIndex(idxs[0]).has_reverse_index());
    check_index(idxs[0]);
    // A .rev of another pack is not used.
    const std::string rev = idxs[0].substr(0, idxs[0].size() - 4) + ".rev";
    const std::string other = pack_indexes(r.path())[0];
    const std::string base = d + "/pack-x";
    sh("cp '" + other + "' '" + base + ".idx' && cp '" + other.substr(0, other.size() - 4) +
       ".pack' '" + base + ".pack' && cp '" + rev + "' '" + base + ".rev'");
    EXPECT_FALSE(PackIndex(base + ".idx").has_reverse_index());
    check_index(base + ".idx");
}

TEST(PackIndex, RejectsBrokenFiles) {
    const PackRepo &r = PackRepo::get();
    test::TempDir dir;
    const std::string idx = pack_indexes(r.path())[0];
    const std::string pack = idx.substr(0, idx.size() - 4) + ".pack";
    const std::string d = dir.str();
    // Truncated index.
    sh("cp '" + pack + "' '" + d + "/pack-a.pack' && head -c 2000 '" + idx + "' > '" + d +
       "/pack-a.idx'");
    EXPECT_THROW(PackIndex(d + "/pack-a.idx"), Error);
    // An index without its pack.
    sh("cp '" + idx + "' '" + d + "/pack-b.idx'");
    EXPECT_THROW(PackIndex(d + "/pack-b.idx"), Error);
    // A pack that is not the index's (its checksum differs).
    const std::string other = pack_indexes(r.path())[1];
    sh("cp '" + idx + "' '" + d + "/pack-c.idx' && cp '" + other.substr(0, other.size() - 4) +
       ".pack' '" + d + "/pack-c.pack'");
    EXPECT_THROW(PackIndex(d + "/pack-c.idx"), Error);
    // Not an index at all.
    sh("cp '" + pack + "' '" + d + "/pack-d.pack' && head -c 4000 /dev/zero | tr '\\0' x > '" + d +
       "/pack-d.idx'");
    EXPECT_THROW(PackIndex(d + "/pack-d.idx"), Error);
}

TEST(PackSet, FindsEveryPackedObjectAndSkipsAnIndexWithoutPack) {
    const PackRepo &r = PackRepo::get();
    RepoPtr repo = test::open_repo(r.path());
    PackSet packs(repo.get());
    auto idxs = pack_indexes(r.path());
    ASSERT_EQ(packs.size(), idxs.size());
    for (const auto &idx : idxs)
        for (const auto &e : show_index(idx)) {
            uint64_t off;
            int p = packs.find(test::to_oid(e.oid), &off);
            ASSERT_GE(p, 0) << e.oid;
            // It may be in several packs; the one named must hold it there.
            uint64_t off2;
            ASSERT_TRUE(packs[size_t(p)].lookup(test::to_oid(e.oid), &off2));
            EXPECT_EQ(off, off2);
        }

    test::TempDir dir;
    sh("cp '" + idxs[0] + "' '" + dir.str() + "/pack-1234.idx'");
    PackSet partial(dir.str());
    EXPECT_EQ(partial.size(), 0u);
    PackSet none(dir.str() + "/does-not-exist");
    EXPECT_EQ(none.size(), 0u);
}

TEST(PackFormat, HeaderVarintsRoundTrip) {
    std::mt19937_64 rng(1);
    for (int i = 0; i < 2000; i++) {
        uint64_t size = rng() >> (4 + rng() % 60); // sizes below 2^60
        uint64_t rel = (rng() >> (8 + rng() % 56)) | 1;
        uint8_t buf[kMaxEntryHeader];
        size_t n = encode_type_size(buf, kOfsDelta, size);
        n += encode_ofs(buf + n, rel);
        EntryHeader h;
        const uint64_t at = rel + 1000;
        ASSERT_TRUE(parse_entry_header(buf, n, at, &h));
        EXPECT_EQ(h.type, kOfsDelta);
        EXPECT_EQ(h.size, size);
        EXPECT_EQ(h.base_offset, at - rel);
        EXPECT_EQ(h.length, n);
        EXPECT_FALSE(parse_entry_header(buf, n - 1, at, &h)) << "truncated";
    }
    uint8_t buf[kMaxEntryHeader];
    size_t n = encode_type_size(buf, kBlob, 15);
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(buf[0], 0x3f);
    EXPECT_EQ(encode_type_size(buf, kBlob, 16), 2u);
    EXPECT_EQ(encode_ofs(buf, 127), 1u);
    EXPECT_EQ(encode_ofs(buf, 128), 2u);
    EXPECT_EQ(buf[0], 0x80);
    EXPECT_EQ(buf[1], 0x00);
    EntryHeader h;
    buf[0] = 0x50; // type 5 is reserved
    EXPECT_FALSE(parse_entry_header(buf, 1, 100, &h));
    n = encode_type_size(buf, kOfsDelta, 3);
    n += encode_ofs(buf + n, 200);
    EXPECT_FALSE(parse_entry_header(buf, n, 100, &h)) << "a base before the pack start";
}

TEST(PackFormat, ApplyDelta) {
    const std::string base = "hello, world, this is the base";
    // sizes; copy 7 bytes at 0; insert "there"; copy 5 bytes at 7.
    std::vector<uint8_t> delta = {
        uint8_t(base.size()), 17, 0x90, 7, 5, 't', 'h', 'e', 'r', 'e', 0x91, 7, 5};
    uint64_t bs, rs;
    ASSERT_TRUE(delta_sizes(delta.data(), delta.size(), &bs, &rs));
    EXPECT_EQ(bs, base.size());
    ASSERT_EQ(rs, 17u);
    std::string out(17, '\0');
    ASSERT_TRUE(apply_delta(reinterpret_cast<const uint8_t *>(base.data()), base.size(),
                            delta.data(), delta.size(), reinterpret_cast<uint8_t *>(out.data()),
                            out.size()));
    EXPECT_EQ(out, "hello, thereworld");
    // A copy past the end of the base, a wrong result size, a zero opcode.
    std::vector<uint8_t> bad = delta;
    bad[11] = 200;
    EXPECT_FALSE(apply_delta(reinterpret_cast<const uint8_t *>(base.data()), base.size(),
                             bad.data(), bad.size(), reinterpret_cast<uint8_t *>(out.data()),
                             out.size()));
    EXPECT_FALSE(apply_delta(reinterpret_cast<const uint8_t *>(base.data()), base.size(),
                             delta.data(), delta.size(), reinterpret_cast<uint8_t *>(out.data()),
                             out.size() - 1));
    bad = delta;
    bad[2] = 0;
    EXPECT_FALSE(apply_delta(reinterpret_cast<const uint8_t *>(base.data()), base.size(),
                             bad.data(), bad.size(), reinterpret_cast<uint8_t *>(out.data()),
                             out.size()));
}

// Every object of the fixture read through ObjectReader is what git cat-file
// says, with a cache large enough to keep everything and with one so small
// that it keeps evicting.
TEST(ObjectReader, ReadsEveryObjectLikeCatFile) {
    const PackRepo &r = PackRepo::get();
    RepoPtr repo = test::open_repo(r.path());
    PackSet packs(repo.get());
    std::string batch =
        sh("git --git-dir='" + r.path() +
           "' cat-file --batch-all-objects --batch='%(objectname) %(objecttype) %(objectsize)'");
    struct Obj {
        std::string type, data;
    };
    std::map<std::string, Obj> objects;
    size_t pos = 0;
    while (pos < batch.size()) {
        size_t nl = batch.find('\n', pos);
        std::istringstream head(batch.substr(pos, nl - pos));
        std::string oid, type;
        size_t size;
        head >> oid >> type >> size;
        objects[oid] = {type, batch.substr(nl + 1, size)};
        pos = nl + 1 + size + 1;
    }
    ASSERT_GT(objects.size(), 300u);
    for (size_t cache : {size_t(64) << 20, size_t(16) << 10}) {
        ObjectReader reader(repo.get(), packs, cache);
        for (int round = 0; round < 2; round++)
            for (const auto &[oid, obj] : objects) {
                ObjectReader::Object o = reader.read(test::to_oid(oid));
                ASSERT_STREQ(git_object_type2string(o.type), obj.type.c_str()) << oid;
                ASSERT_EQ(std::string(reinterpret_cast<const char *>(o.data), o.size), obj.data)
                    << oid;
                ObjectReader::Object prefix = reader.read(test::to_oid(oid), 10);
                ASSERT_EQ(prefix.size, std::min<size_t>(10, obj.data.size()));
                ASSERT_EQ(std::string(reinterpret_cast<const char *>(prefix.data), prefix.size),
                          obj.data.substr(0, 10));
            }
    }
    ObjectReader reader(repo.get(), packs);
    EXPECT_THROW(reader.read(test::to_oid("0123456789012345678901234567890123456789")), Error);
}

} // namespace
} // namespace gsh::pack

#include "pack/pack_stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "test_pack_repo.h"
#include "util/error.h"

namespace gsh::pack {
namespace {

using test::PackRepo;
using test::sh;

struct Written {
    std::string pack;
    PackStats stats;
    uint64_t file_bytes = 0; // taken as ranges of pack files
};

// Streams a pack of objects with reads of at most cap bytes into a file;
// with file_min, runs of at least that many bytes of a pack file are taken
// as ranges of it (take_file) and copied from the file, as sendfile would.
Written write_pack(const std::string &repo_path, const std::vector<git_oid> &objects,
                   bool ofs_delta, size_t cap, const std::string &file, size_t file_min = 0) {
    RepoPtr repo = test::open_repo(repo_path);
    PackStream ps(repo.get(), objects, ofs_delta);
    std::vector<uint8_t> buf(cap + 1, 0xee);
    std::ofstream out(file, std::ios::binary);
    uint64_t total = 0, file_bytes = 0;
    EXPECT_FALSE(ps.done());
    for (;;) {
        FileRange r;
        if (file_min > 0 && ps.take_file(file_min, cap, &r)) {
            // Shorter than file_min only at the end of a run taken so far.
            EXPECT_GT(r.len, 0u);
            EXPECT_LE(r.len, cap);
            std::string bytes(r.len, '\0');
            EXPECT_EQ(pread(r.fd, bytes.data(), r.len, off_t(r.offset)), ssize_t(r.len));
            out.write(bytes.data(), std::streamsize(r.len));
            total += r.len;
            file_bytes += r.len;
            continue;
        }
        size_t n = ps.read(buf.data(), cap);
        EXPECT_LE(n, cap);
        EXPECT_EQ(buf[cap], 0xee) << "wrote past cap";
        if (n == 0)
            break;
        out.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
        total += n;
    }
    EXPECT_TRUE(ps.done());
    EXPECT_EQ(ps.read(buf.data(), cap), 0u);
    FileRange none;
    EXPECT_FALSE(ps.take_file(1, cap, &none));
    EXPECT_EQ(ps.stats().bytes, total);
    return {file, ps.stats(), file_bytes};
}

// The deltas of a pack whose base is another entry of the pack at a later
// offset (a one-pass reader cannot resolve them; git's index-pack hides
// it). idx is the pack's index (made by index-pack, which accepts them);
// entries past limit (bases that index-pack --fix-thin appended) are not
// the pack's own: a delta may name them.
size_t forward_bases(const std::string &pack, const std::string &idx, uint64_t limit = UINT64_MAX) {
    std::ifstream in(pack, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::map<std::string, uint64_t> offset_of;
    std::vector<uint64_t> offsets;
    for (const auto &line : test::split_lines(sh("git show-index < '" + idx + "'"))) {
        const uint64_t off = std::stoull(line.substr(0, line.find(' ')));
        offset_of[line.substr(line.find(' ') + 1, GIT_OID_HEXSZ)] = off;
        offsets.push_back(off);
    }
    std::sort(offsets.begin(), offsets.end());
    size_t forward = 0;
    for (const uint64_t off : offsets) {
        if (off >= limit)
            continue;
        size_t p = off;
        uint8_t c = uint8_t(data.at(p++));
        const int type = (c >> 4) & 7;
        while (c & 0x80)
            c = uint8_t(data.at(p++));
        uint64_t base = 0;
        if (type == 6) {
            c = uint8_t(data.at(p++));
            uint64_t dist = c & 0x7f;
            while (c & 0x80) {
                c = uint8_t(data.at(p++));
                dist = ((dist + 1) << 7) | (c & 0x7f);
            }
            base = off - dist;
        } else if (type == 7) {
            git_oid oid;
            std::memcpy(oid.id, data.data() + p, GIT_OID_RAWSZ);
            const auto it = offset_of.find(test::to_hex(oid));
            if (it == offset_of.end() || it->second >= limit)
                continue; // a thin base
            base = it->second;
        } else {
            continue;
        }
        if (base >= off || !std::binary_search(offsets.begin(), offsets.end(), base))
            forward++;
    }
    return forward;
}

struct Verified {
    std::set<std::string> objects;
    // oid -> the delta base named by verify-pack, "" for a whole object.
    std::map<std::string, std::string> base;
    std::map<std::string, std::string> type;
};

// index-pack --strict in a fresh repository that holds only what is
// reachable from haves (so that every link out of the pack must resolve
// there), then verify-pack -v.
Verified verify_pack(const std::string &src_repo, const std::string &pack,
                     const std::vector<std::string> &haves, const std::string &work) {
    const std::string bare = work + "/verify.git";
    sh("rm -rf '" + bare + "' && git init -q --bare '" + bare + "'");
    if (!haves.empty()) {
        std::string list;
        for (const auto &h : haves)
            list += h + "\n";
        sh("printf '" + list + "' | git --git-dir='" + src_repo +
           "' pack-objects -q --revs --stdout | GIT_DIR='" + bare + "' git unpack-objects -q");
    }
    const std::string idx = pack.substr(0, pack.size() - 5) + ".idx";
    sh("GIT_DIR='" + bare + "' git index-pack --strict -o '" + idx + "' '" + pack + "' >/dev/null");
    EXPECT_EQ(forward_bases(pack, idx), 0u) << "deltas before their bases in " << pack;
    Verified v;
    for (const auto &o : test::verify_pack_objects(sh("git verify-pack -v '" + idx + "'"))) {
        v.objects.insert(o.oid);
        v.type[o.oid] = o.type;
        v.base[o.oid] = o.base;
    }
    return v;
}

// Entry types in a pack, read from the first byte of each entry.
std::map<int, int> entry_types(const std::string &pack) {
    const std::string idx = pack.substr(0, pack.size() - 5) + ".idx";
    std::ifstream in(pack, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::map<int, int> types;
    for (const auto &line : test::split_lines(sh("git show-index < '" + idx + "'"))) {
        size_t off = std::stoull(line.substr(0, line.find(' ')));
        types[(uint8_t(data[off]) >> 4) & 7]++;
    }
    return types;
}

// Every ref target (annotated tags as tag objects).
std::vector<std::string> all_ref_targets(const PackRepo &r) {
    std::vector<std::string> out;
    for (const auto &line : test::split_lines(r.git("for-each-ref --format='%(objectname)'")))
        out.push_back(line);
    return out;
}

std::vector<std::string> annotated_tags(const PackRepo &r) {
    std::vector<std::string> out;
    for (const auto &line :
         test::split_lines(r.git("for-each-ref refs/tags --format='%(objecttype) %(objectname)'")))
        if (line.compare(0, 4, "tag ") == 0)
            out.push_back(line.substr(4));
    return out;
}

// The tag chain of a tag object (itself first) and the object it ends at.
std::vector<std::string> tag_chain(const PackRepo &r, std::string oid, std::string *peeled) {
    std::vector<std::string> chain;
    while (test::split_lines(r.git("cat-file -t " + oid))[0] == "tag") {
        chain.push_back(oid);
        oid = r.git("cat-file tag " + oid).substr(7, GIT_OID_HEXSZ);
    }
    *peeled = oid;
    return chain;
}

class PackStreamTest : public ::testing::Test {
  protected:
    const PackRepo &repo_ = PackRepo::get();
    test::TempDir work_;

    std::vector<git_oid> enumerate(const std::vector<std::string> &wants,
                                   const std::vector<std::string> &haves,
                                   const std::vector<std::string> &include_tags = {}) {
        RepoPtr repo = test::open_repo(repo_.path());
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        in.include_tags = test::oids_of(include_tags);
        return enumerate_objects(repo.get(), in, nullptr).list();
    }

    // Writes the pack with several read sizes and checks each with git.
    void check_roundtrip(const std::vector<std::string> &wants,
                         const std::vector<std::string> &haves, bool ofs_delta,
                         const std::set<std::string> &expect) {
        std::vector<git_oid> objects = enumerate(wants, haves);
        ASSERT_EQ(test::hex_set(objects), expect);
        // The bytes do not depend on the read size: git checks the first
        // pack, the others must be the same bytes.
        // Nor on which runs of pack files are taken as file ranges.
        std::string first;
        uint64_t file_bytes = 0;
        const std::pair<size_t, size_t> caps[] = {
            {65515, 0}, {1, 0}, {7, 0}, {size_t(1) << 20, 0}, {65515, 1}, {7, 64}, {4096, 8192}};
        for (const auto &[cap, file_min] : caps) {
            SCOPED_TRACE("cap " + std::to_string(cap) + " file_min " + std::to_string(file_min));
            Written w = write_pack(repo_.path(), objects, ofs_delta, cap,
                                   work_.str() + "/out-" + std::to_string(cap) + "-" +
                                       std::to_string(file_min) + ".pack",
                                   file_min);
            file_bytes += w.file_bytes;
            EXPECT_EQ(w.stats.objects, expect.size());
            EXPECT_LE(w.stats.reused_deltas, w.stats.deltas);
            EXPECT_LE(w.stats.reused, w.stats.objects);
            if (!first.empty()) {
                EXPECT_EQ(sh("cmp '" + first + "' '" + w.pack + "' && echo same"), "same\n");
                continue;
            }
            first = w.pack;
            Verified v = verify_pack(repo_.path(), w.pack, haves, work_.str());
            EXPECT_EQ(v.objects, expect);
            if (!ofs_delta) {
                EXPECT_EQ(entry_types(w.pack).count(6), 0u) << "OFS_DELTA without ofs-delta";
            }
        }
        if (!objects.empty()) {
            EXPECT_GT(file_bytes, 0u) << "no run of a pack file was taken as a range";
        }
    }
};

TEST_F(PackStreamTest, FullCloneOfEveryRef) {
    auto wants = all_ref_targets(repo_);
    auto expect = test::rev_list_objects(repo_.path(), wants, {});
    ASSERT_GT(expect.size(), 300u);
    check_roundtrip(wants, {}, true, expect);
}

TEST_F(PackStreamTest, FullCloneWithoutOfsDelta) {
    auto wants = all_ref_targets(repo_);
    auto expect = test::rev_list_objects(repo_.path(), wants, {});
    check_roundtrip(wants, {}, false, expect);
}

TEST_F(PackStreamTest, FetchOfABranchSinceAnOlderCommit) {
    std::vector<std::string> wants = {repo_.rev("main")};
    std::vector<std::string> haves = {repo_.rev("main~12")};
    auto expect = test::rev_list_objects(repo_.path(), wants, haves);
    ASSERT_GT(expect.size(), 20u);
    check_roundtrip(wants, haves, true, expect);
    check_roundtrip(wants, haves, false, expect);
}

TEST_F(PackStreamTest, FetchWithSeveralHavesAndAnUnknownOne) {
    std::vector<std::string> wants = {repo_.rev("main"), repo_.rev("side")};
    std::vector<std::string> haves = {repo_.rev("main~6"), repo_.rev("side~2")};
    auto expect = test::rev_list_objects(repo_.path(), wants, haves);
    std::vector<std::string> with_unknown = haves;
    with_unknown.push_back("0123456789012345678901234567890123456789");
    std::vector<git_oid> objects = enumerate(wants, with_unknown);
    EXPECT_EQ(test::hex_set(objects), expect);
    check_roundtrip(wants, haves, true, expect);
}

TEST_F(PackStreamTest, OldCommitOnlyDeltaBasesNotSentComeOutWhole) {
    // The old versions are stored as deltas against newer ones, which are
    // not sent: those must be written whole.
    std::vector<std::string> wants = {repo_.rev("main~20")};
    auto expect = test::rev_list_objects(repo_.path(), wants, {});
    std::vector<git_oid> objects = enumerate(wants, {});
    ASSERT_EQ(test::hex_set(objects), expect);

    // Deltas on disk whose base is outside the set.
    std::set<std::string> orphans;
    for (const auto &idx :
         test::split_lines(sh("ls '" + repo_.path() + "'/objects/pack/pack-*.idx")))
        for (const auto &o : test::verify_pack_objects(sh("git verify-pack -v '" + idx + "'")))
            if (!o.base.empty() && expect.count(o.oid) && !expect.count(o.base))
                orphans.insert(o.oid);
    ASSERT_FALSE(orphans.empty()) << "the fixture should have such deltas";

    for (bool ofs : {true, false}) {
        Written w = write_pack(repo_.path(), objects, ofs, 4096, work_.str() + "/old.pack");
        Verified v = verify_pack(repo_.path(), w.pack, {}, work_.str());
        EXPECT_EQ(v.objects, expect);
        for (const auto &o : orphans) {
            // Either whole, or a delta against something that is sent
            // (another copy of the object in a different pack may differ).
            ASSERT_TRUE(v.base.count(o));
            if (!v.base[o].empty()) {
                EXPECT_TRUE(expect.count(v.base[o])) << o;
            }
        }
        EXPECT_LT(w.stats.reused, w.stats.objects);
    }
}

TEST_F(PackStreamTest, WantsThatAreTagsTreesAndBlobs) {
    std::vector<std::string> wants = {
        repo_.rev("tree-tag"),      repo_.rev("blob-tag"),    repo_.rev("v1-outer"),
        repo_.rev("main~2^{tree}"), repo_.rev("main:README"),
    };
    auto expect = test::rev_list_objects(repo_.path(), wants, {});
    check_roundtrip(wants, {}, true, expect);
}

TEST_F(PackStreamTest, IncludeTagAddsTagsOfSentObjectsWithTheirChains) {
    std::vector<std::string> wants = {repo_.rev("main")};
    std::vector<std::string> haves = {repo_.rev("main~16")};
    auto tags = annotated_tags(repo_);
    std::set<std::string> expect = test::rev_list_objects(repo_.path(), wants, haves);
    const std::set<std::string> sent = expect;
    size_t added = 0;
    for (const auto &t : tags) {
        std::string peeled;
        auto chain = tag_chain(repo_, t, &peeled);
        if (sent.count(peeled))
            for (const auto &c : chain)
                added += expect.insert(c).second;
    }
    ASSERT_GE(added, 3u); // v1, v1-outer through v1, tree-tag, blob-tag, v2...
    std::vector<git_oid> objects = enumerate(wants, haves, tags);
    EXPECT_EQ(test::hex_set(objects), expect);
    Written w = write_pack(repo_.path(), objects, true, 65515, work_.str() + "/tags.pack");
    EXPECT_EQ(verify_pack(repo_.path(), w.pack, haves, work_.str()).objects, expect);
}

TEST_F(PackStreamTest, NothingToSendIsAnEmptyPack) {
    std::vector<std::string> wants = {repo_.rev("main~3")};
    std::vector<std::string> haves = {repo_.rev("main")};
    std::vector<git_oid> objects = enumerate(wants, haves);
    EXPECT_TRUE(objects.empty());
    Written w = write_pack(repo_.path(), objects, true, 7, work_.str() + "/empty.pack");
    EXPECT_EQ(w.stats.bytes, 32u);
    EXPECT_EQ(w.stats.objects, 0u);
    sh("git init -q --bare '" + work_.str() + "/e.git' && GIT_DIR='" + work_.str() +
       "/e.git' git index-pack --strict -o '" + work_.str() + "/empty.idx' '" + w.pack +
       "' >/dev/null");
}

TEST_F(PackStreamTest, FullPackOfOneRepackedRepositoryIsItsPackFile) {
    // A repository packed into one pack (with a .rev): a clone is the pack
    // file itself.
    sh("git clone -q --bare '" + repo_.path() + "' '" + work_.str() + "/one.git' && git -C '" +
       work_.str() + "/one.git' -c pack.writeReverseIndex=true repack -adq");
    const std::string one = work_.str() + "/one.git";
    std::vector<std::string> wants;
    for (const auto &line :
         test::split_lines(sh("git -C '" + one + "' for-each-ref --format='%(objectname)'")))
        wants.push_back(line);
    RepoPtr repo = test::open_repo(one);
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    std::vector<std::string> progress;
    std::vector<git_oid> objects = enumerate_objects(repo.get(), in, [&](std::string_view s) {
                                       progress.emplace_back(s);
                                   }).list();
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(),
              "Enumerating objects: " + std::to_string(objects.size()) + ", done.\n");
    Written w = write_pack(one, objects, true, 65515, work_.str() + "/one.pack");
    EXPECT_EQ(w.stats.reused, w.stats.objects);
    const std::string disk = test::split_lines(sh("ls '" + one + "'/objects/pack/pack-*.pack"))[0];
    EXPECT_EQ(sh("cmp '" + disk + "' '" + w.pack + "' && echo same"), "same\n");
    // Taken as ranges of the pack file: all but its header and trailer.
    Written f = write_pack(one, objects, true, 65515, work_.str() + "/one-files.pack", 1);
    EXPECT_EQ(sh("cmp '" + disk + "' '" + f.pack + "' && echo same"), "same\n");
    EXPECT_EQ(f.file_bytes, std::filesystem::file_size(disk) - 12 - 20);
}

TEST_F(PackStreamTest, RefDeltasOnDisk) {
    // Every delta stored as REF_DELTA: kept when the base is sent, written
    // whole when it is not.
    const std::string ref = work_.str() + "/ref.git";
    sh("git clone -q --bare '" + repo_.path() + "' '" + ref + "' && git -C '" + ref +
       "' -c repack.useDeltaBaseOffset=false repack -adfq");
    ASSERT_GT(
        entry_types(test::split_lines(sh("ls '" + ref + "'/objects/pack/pack-*.pack"))[0]).count(7),
        0u);
    for (auto [wants, haves] :
         std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>{
             {{repo_.rev("main")}, {}},
             {{repo_.rev("main")}, {repo_.rev("main~10")}},
             {{repo_.rev("main~20")}, {}}}) {
        auto expect = test::rev_list_objects(ref, wants, haves);
        RepoPtr repo = test::open_repo(ref);
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        std::vector<git_oid> objects = enumerate_objects(repo.get(), in, nullptr).list();
        ASSERT_EQ(test::hex_set(objects), expect);
        for (bool ofs : {true, false}) {
            Written w = write_pack(ref, objects, ofs, 7, work_.str() + "/r.pack");
            EXPECT_EQ(verify_pack(ref, w.pack, haves, work_.str()).objects, expect);
        }
    }
}

// A repository that borrows objects (objects/info/alternates, as with
// clone --shared or fork networks): the borrowed packs are copied from too.
TEST_F(PackStreamTest, ObjectsFromAlternates) {
    const std::string fork = work_.str() + "/fork.git";
    sh("git clone -q --bare --shared '" + repo_.path() + "' '" + fork + "'");
    sh("cd '" + work_.str() + "' && git clone -q '" + fork +
       "' w && cd w && echo new > new.txt && " +
       "git add new.txt && git commit -q -m new && git push -q origin HEAD:main");
    std::vector<std::string> wants = {
        test::split_lines(sh("git --git-dir='" + fork + "' rev-parse main"))[0]};
    auto expect = test::rev_list_objects(fork, wants, {});
    RepoPtr repo = test::open_repo(fork);
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    std::vector<git_oid> objects = enumerate_objects(repo.get(), in, nullptr).list();
    ASSERT_EQ(test::hex_set(objects), expect);
    Written w = write_pack(fork, objects, true, 65515, work_.str() + "/fork.pack");
    EXPECT_GT(w.stats.reused, expect.size() / 2);
    EXPECT_EQ(verify_pack(fork, w.pack, {}, work_.str()).objects, expect);
}

// A large loose object is deflated from a stream, not read whole.
TEST_F(PackStreamTest, LargeLooseObject) {
    const std::string big = work_.str() + "/big";
    sh("git init -q '" + big + "' && cd '" + big + "' && seq 1 2500000 > numbers.txt && " +
       "echo small > small.txt && git add . && git commit -q -m big");
    const std::string git_dir = big + "/.git";
    std::vector<std::string> wants = {
        test::split_lines(sh("git -C '" + big + "' rev-parse HEAD"))[0]};
    auto expect = test::rev_list_objects(git_dir, wants, {});
    ASSERT_EQ(expect.size(), 4u);
    RepoPtr repo = test::open_repo(git_dir);
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    std::vector<git_oid> objects = enumerate_objects(repo.get(), in, nullptr).list();
    Written w = write_pack(git_dir, objects, true, 65515, work_.str() + "/big.pack");
    EXPECT_EQ(w.stats.reused, 0u);
    EXPECT_EQ(verify_pack(git_dir, w.pack, {}, work_.str()).objects, expect);
}

TEST_F(PackStreamTest, DuplicateOidsAreWrittenOnce) {
    std::vector<git_oid> objects = enumerate({repo_.rev("main")}, {repo_.rev("main~2")});
    auto expect = test::hex_set(objects);
    std::vector<git_oid> doubled = objects;
    doubled.insert(doubled.end(), objects.begin(), objects.end());
    Written w = write_pack(repo_.path(), doubled, true, 1000, work_.str() + "/dup.pack");
    EXPECT_EQ(w.stats.objects, expect.size());
    EXPECT_EQ(verify_pack(repo_.path(), w.pack, {repo_.rev("main~2")}, work_.str()).objects,
              expect);
}

// A repository holding exactly what haves reach (made by git), as the
// client of an incremental fetch; returns its path.
std::string client_repo(const std::string &src_repo, const std::vector<std::string> &haves,
                        const std::string &path) {
    sh("rm -rf '" + path + "' && git init -q --bare '" + path + "'");
    std::string list;
    for (const auto &h : haves)
        list += h + "\n";
    sh("printf '" + list + "' | git --git-dir='" + src_repo +
       "' pack-objects -q --revs --stdout | GIT_DIR='" + path + "' git unpack-objects -q");
    return path;
}

// Streams the pack of a fetch with options; returns the file.
Written write_fetch_pack(const std::string &repo_path, const std::vector<std::string> &wants,
                         const std::vector<std::string> &haves, PackOptions options,
                         const std::string &file) {
    RepoPtr repo = test::open_repo(repo_path);
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    in.haves = test::oids_of(haves);
    PackStream ps(repo.get(), enumerate_objects(repo.get(), in, nullptr), options);
    std::vector<uint8_t> buf(4096);
    std::ofstream out(file, std::ios::binary);
    while (size_t n = ps.read(buf.data(), buf.size()))
        out.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
    EXPECT_TRUE(ps.done());
    return {file, ps.stats()};
}

// Writes the pack of a fetch through a PackSet held here; returns how many
// packed objects of the wants' history its ObjectCache holds after.
size_t packed_objects_cached(const std::string &repo_path, const std::vector<std::string> &wants,
                             const std::vector<std::string> &haves, PackStats *stats) {
    RepoPtr repo = test::open_repo(repo_path);
    auto packs = std::make_shared<const PackSet>(repo.get());
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    in.haves = test::oids_of(haves);
    PackStream ps(repo.get(), enumerate_objects(repo.get(), packs, in, nullptr),
                  PackOptions{true, true});
    std::vector<uint8_t> buf(65536);
    while (ps.read(buf.data(), buf.size())) {
    }
    *stats = ps.stats();
    size_t cached = 0;
    uint64_t offset;
    for (const auto &hex : test::rev_list_objects(repo_path, wants, {})) {
        const git_oid oid = test::to_oid(hex);
        if (packs->find(oid, &offset) >= 0 && packs->object_cache().find(oid))
            cached++;
    }
    return cached;
}

// Whether git can index the pack with nothing but itself.
// Checks too that no delta comes before its base.
bool self_contained(const std::string &pack, const std::string &work) {
    if (sh("rm -rf '" + work + "/e.git' && git init -q --bare '" + work + "/e.git' && GIT_DIR='" +
           work + "/e.git' git index-pack --stdin < '" + pack +
           "' >/dev/null 2>&1 && echo yes || echo no") != "yes\n")
        return false;
    const std::string copy =
        test::split_lines(sh("ls '" + work + "'/e.git/objects/pack/*.pack"))[0];
    EXPECT_EQ(forward_bases(copy, copy.substr(0, copy.size() - 5) + ".idx"), 0u)
        << "deltas before their bases in " << pack;
    return true;
}

// The client's side of a thin pack: index-pack --fix-thin completes it with
// the bases it has; then everything the wants reach is there and sound.
// Returns the completed pack (the thin pack's entries at their offsets, the
// bases appended).
std::string check_thin_pack(const std::string &src_repo, const Written &w,
                            const std::vector<std::string> &wants,
                            const std::vector<std::string> &haves, const std::string &work) {
    const std::string client = client_repo(src_repo, haves, work + "/client.git");
    sh("GIT_DIR='" + client + "' git index-pack --strict --fix-thin --stdin < '" + w.pack +
       "' >/dev/null");
    const std::string completed =
        test::split_lines(sh("ls '" + client + "'/objects/pack/pack-*.pack"))[0];
    EXPECT_EQ(forward_bases(completed, completed.substr(0, completed.size() - 5) + ".idx",
                            std::filesystem::file_size(w.pack) - GIT_OID_RAWSZ),
              0u)
        << "deltas before their bases in the thin pack";
    std::string refs;
    for (size_t i = 0; i < wants.size(); i++)
        refs += "git update-ref refs/heads/w" + std::to_string(i) + " " + wants[i] + " && ";
    sh("cd '" + client + "' && " + refs + "git fsck --strict --no-dangling 2>&1");
    EXPECT_EQ(test::rev_list_objects(client, wants, {}),
              test::rev_list_objects(src_repo, wants, {}));
    return test::split_lines(sh("ls '" + client + "'/objects/pack/pack-*.pack"))[0];
}

TEST_F(PackStreamTest, ThinPackNamesBasesTheClientHas) {
    const std::string ofs_dir = work_.str() + "/shrink-ofs", ref_dir = work_.str() + "/shrink-ref";
    const std::string ofs_src = test::shrinking_repo(ofs_dir, false);
    const std::string ref_src = test::shrinking_repo(ref_dir, true);
    struct Case {
        std::string dir, src, have;
        bool ofs;
    };
    for (const Case &c :
         {Case{ofs_dir, ofs_src, "main~10", true}, Case{ofs_dir, ofs_src, "main~20", true},
          Case{ofs_dir, ofs_src, "main~10", false}, Case{ref_dir, ref_src, "main~10", true},
          Case{ref_dir, ref_src, "main~1", false}}) {
        SCOPED_TRACE(c.src + " --not " + c.have + (c.ofs ? " ofs-delta" : ""));
        auto rev = [&](const std::string &r) {
            return test::split_lines(sh("git -C '" + c.dir + "' rev-parse " + r))[0];
        };
        std::vector<std::string> wants = {rev("main")}, haves = {rev(c.have)};
        const auto expect = test::rev_list_objects(c.src, wants, haves);
        Written thin =
            write_fetch_pack(c.src, wants, haves, {c.ofs, true}, work_.str() + "/thin.pack");
        Written full =
            write_fetch_pack(c.src, wants, haves, {c.ofs, false}, work_.str() + "/full.pack");
        EXPECT_EQ(thin.stats.objects, expect.size());
        EXPECT_EQ(full.stats.objects, expect.size());
        EXPECT_GT(thin.stats.thin_deltas, 0u);
        EXPECT_EQ(full.stats.thin_deltas, 0u);
        EXPECT_LT(thin.stats.bytes, full.stats.bytes);
        EXPECT_FALSE(self_contained(thin.pack, work_.str()));
        EXPECT_TRUE(self_contained(full.pack, work_.str()));
        const std::string fixed = check_thin_pack(c.src, thin, wants, haves, work_.str());
        if (!c.ofs) {
            EXPECT_EQ(entry_types(fixed).count(6), 0u) << "OFS_DELTA without ofs-delta";
        }
    }
}

// g comes back at commit 26 as a delta against a version that is neither
// sent nor in the trees at the edge of the walk (main~10 has no g): the
// known set is widened to the haves' whole history and g goes thin too.
TEST_F(PackStreamTest, ThinPackFindsBasesBelowTheEdge) {
    const std::string dir = work_.str() + "/shrink";
    const std::string src = test::shrinking_repo(dir, false);
    auto rev = [&](const std::string &r) {
        return test::split_lines(sh("git -C '" + dir + "' rev-parse " + r))[0];
    };
    std::vector<std::string> wants = {rev("main")}, haves = {rev("main~10")};
    const std::string g26 = rev("main~4:g");
    RepoPtr repo = test::open_repo(src);
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    in.haves = test::oids_of(haves);
    Enumeration e = enumerate_objects(repo.get(), in, nullptr);
    ASSERT_TRUE(test::hex_set(e.list()).count(g26));
    const std::string g11 = rev("main~19:g"), a20 = rev("main~10:a"), a10 = rev("main~20:a");
    EXPECT_TRUE(e.client_has(test::to_oid(a20)));  // at the edge
    EXPECT_FALSE(e.client_has(test::to_oid(a10))); // below it
    EXPECT_FALSE(e.client_has(test::to_oid(g11)));
    EXPECT_FALSE(e.client_has(test::to_oid(g26))); // sent
    ASSERT_TRUE(e.can_widen());
    e.widen_known();
    EXPECT_FALSE(e.can_widen());
    EXPECT_TRUE(e.client_has(test::to_oid(a20)));
    EXPECT_TRUE(e.client_has(test::to_oid(a10)));
    EXPECT_TRUE(e.client_has(test::to_oid(g11)));
    EXPECT_FALSE(e.client_has(test::to_oid(g26)));

    Written w = write_fetch_pack(src, wants, haves, {true, true}, work_.str() + "/t.pack");
    const std::string fixed = check_thin_pack(src, w, wants, haves, work_.str());
    // Every blob sent (10 of a, 5 of g) is a delta, none was inflated.
    EXPECT_EQ(w.stats.thin_deltas + (w.stats.deltas - w.stats.thin_deltas), 15u);
    // The trees stored whole on disk are too small for a delta of their own.
    EXPECT_EQ(w.stats.reused, w.stats.objects);
    EXPECT_GT(entry_types(fixed).count(3), 0u) << "the bases appended by --fix-thin";
}

// Objects stored whole on disk (the newest versions in the pack) and loose
// objects get a delta made here against the object at the same path in the
// parent: what the client has (thin) or what is sent. The pack is valid for
// git and about as small as git's own thin pack, with or without a bitmap.
// A file stored as a delta against its version on a branch the client
// lacks (git's repack bases the smaller version on the larger) has lost its
// base in a fetch. One commit sent: pairing finds the client's previous
// version at the same path, a thin delta. 151 commits sent, all bitmapped:
// that one delta is written whole rather than every commit's trees diffed.
TEST_F(PackStreamTest, FetchOfManyCommitsDoesNotPairOneDeltaThatLostItsBase) {
    const std::string dir = work_.str() + "/orphan";
    sh("mkdir -p '" + dir + "' && cd '" + dir + "' && git init -q -b main w && cd w && " +
       "for i in $(seq 1 400); do echo \"line $i $(echo $i | sha1sum)\"; done > f && " +
       "git add f && git commit -qm base && git checkout -q -b other && " +
       "for i in $(seq 1 300); do echo \"extra $i\"; done >> f && git commit -qam other && " +
       "git checkout -q main && sed -i 's/^line 10 .*/changed/' f && git commit -qam main2");
    const std::string src = dir + "/r.git";
    auto rev = [&](const std::string &r) {
        return test::split_lines(sh("git -C '" + src + "' rev-parse " + r))[0];
    };
    auto repack = [&] {
        sh("rm -rf '" + src + "' && git clone -q --bare '" + dir + "/w' '" + src + "' && git -C '" +
           src + "' repack -adbq");
        const std::string verify =
            sh("git verify-pack -v " + src + "/objects/pack/*.idx | grep '^" + rev("main:f") + "'");
        ASSERT_NE(verify.find(rev("other:f")), std::string::npos)
            << "main:f is not a delta on other:f: " << verify;
    };
    repack();
    const std::vector<std::string> haves = {rev("main~1")};
    Written one = write_fetch_pack(src, {rev("main")}, haves, {true, true}, dir + "/one.pack");
    EXPECT_EQ(one.stats.encoded_deltas, 1u) << "paired with the client's main~1:f";
    check_thin_pack(src, one, {rev("main")}, haves, dir);

    sh("cd '" + dir + "/w' && for i in $(seq 1 150); do git commit -q --allow-empty -m e$i; done");
    repack();
    const std::vector<std::string> wants = {rev("main")};
    Written many = write_fetch_pack(src, wants, haves, {true, true}, dir + "/many.pack");
    EXPECT_EQ(many.stats.encoded_deltas, 0u) << "151 commits diffed for one delta";
    EXPECT_EQ(many.stats.objects, test::rev_list_objects(src, wants, haves).size());
    check_thin_pack(src, many, wants, haves, dir);
}

// What a fetch encodes (targets and bases resolved from delta chains) is
// kept in the PackSet's ObjectCache for the fetches after it.
TEST_F(PackStreamTest, FetchKeepsWhatItEncodesForTheFetchesAfterIt) {
    const std::string dir = work_.str() + "/shared";
    const std::string src = test::whole_newest_repo(dir, false);
    const std::string main = test::split_lines(sh("git -C '" + dir + "' rev-parse main"))[0];
    const std::string old = test::split_lines(sh("git -C '" + dir + "' rev-parse main~6"))[0];
    PackStats stats;
    EXPECT_GT(packed_objects_cached(src, {main}, {old}, &stats), 0u);
    ASSERT_GT(stats.encoded_deltas, 0u);
}

TEST_F(PackStreamTest, WholeObjectsBecomeDeltasAgainstTheSamePath) {
    for (const bool bitmap : {false, true}) {
        SCOPED_TRACE(bitmap ? "bitmap" : "no bitmap");
        const std::string dir = work_.str() + (bitmap ? "/whole-b" : "/whole");
        const std::string src = test::whole_newest_repo(dir, bitmap);
        auto rev = [&](const std::string &r) {
            return test::split_lines(sh("git -C '" + dir + "' rev-parse " + r))[0];
        };
        for (const std::string have : {"main~6", "main~2"}) {
            SCOPED_TRACE(have);
            std::vector<std::string> wants = {rev("main")}, haves = {rev(have)};
            Written thin =
                write_fetch_pack(src, wants, haves, {true, true}, work_.str() + "/thin.pack");
            Written full =
                write_fetch_pack(src, wants, haves, {true, false}, work_.str() + "/full.pack");
            EXPECT_GT(thin.stats.encoded_deltas, 0u);
            EXPECT_GT(full.stats.encoded_deltas, 0u) << "against objects sent";
            EXPECT_TRUE(self_contained(full.pack, work_.str()));
            check_thin_pack(src, thin, wants, haves, work_.str());
            const std::string git_pack = work_.str() + "/git.pack";
            sh("printf '" + wants[0] + "\\n--not\\n" + haves[0] + "\\n' | git --git-dir='" + src +
               "' pack-objects -q --revs --thin --delta-base-offset --stdout > '" + git_pack + "'");
            const uint64_t git_bytes = std::filesystem::file_size(git_pack);
            EXPECT_LE(thin.stats.bytes, git_bytes * 11 / 10);
            // Each version of a file is about 40 kB compressed. With a
            // bitmap, the bitmapped pack's entries are sent as they are on
            // disk, as git does: only the loose objects get deltas.
            if (!bitmap) {
                EXPECT_LT(thin.stats.bytes, 20000u);
            }
        }
    }
}

// oid -> its delta base in the packs on disk ("" for a whole object), from
// git verify-pack.
std::map<std::string, std::string> disk_bases(const std::string &repo) {
    std::map<std::string, std::string> bases;
    for (const auto &idx : test::split_lines(sh("ls '" + repo + "'/objects/pack/pack-*.idx")))
        for (const auto &o : test::verify_pack_objects(sh("git verify-pack -v '" + idx + "'")))
            bases[o.oid] = o.base;
    return bases;
}

// The deltas among sent whose base on disk is neither sent nor in client:
// each with the first base down its chain that is, "" when the chain ends
// at a whole object first.
std::map<std::string, std::string> orphans_of(const std::map<std::string, std::string> &bases,
                                              const std::set<std::string> &sent,
                                              const std::set<std::string> &client) {
    auto usable = [&](const std::string &o) { return sent.count(o) || client.count(o); };
    std::map<std::string, std::string> out;
    for (const auto &o : sent) {
        auto it = bases.find(o);
        if (it == bases.end() || it->second.empty() || usable(it->second))
            continue;
        std::string b = it->second;
        while (!b.empty() && !usable(b))
            b = bases.at(b);
        out[o] = b;
    }
    return out;
}

size_t composable(const std::map<std::string, std::string> &orphans) {
    return size_t(std::count_if(orphans.begin(), orphans.end(),
                                [](const auto &o) { return !o.second.empty(); }));
}

// The size of git's own pack for the same request.
uint64_t git_pack_size(const std::string &repo, const std::vector<std::string> &wants,
                       const std::vector<std::string> &haves, bool thin) {
    std::string list;
    for (const auto &w : wants)
        list += w + "\n";
    for (const auto &h : haves)
        list += "^" + h + "\n";
    return std::stoull(sh("printf '" + list + "' | git --git-dir='" + repo +
                          "' pack-objects -q --revs --stdout" + (thin ? " --thin" : "") +
                          " | wc -c"));
}

// The fetch of main from test::side_bases_repo.
class ComposeTest : public PackStreamTest {
  protected:
    void SetUp() override {
        dir_ = work_.str() + "/side-bases";
        src_ = test::side_bases_repo(dir_);
    }
    std::string rev(const std::string &r) const {
        return test::split_lines(sh("git -C '" + dir_ + "' rev-parse " + r))[0];
    }
    std::string dir_, src_;
};

// Main's newest versions are deltas against versions only the side branch
// has: a fetch of main makes them deltas against main's older ones (new,
// against the same path, or composed down their chains) instead of writing
// them whole, for about the size of git's pack (which searches new deltas
// for them).
TEST_F(ComposeTest, DeltasAgainstAnotherBranchAreComposed) {
    const std::vector<std::string> wants = {rev("main")};
    const auto expect = test::rev_list_objects(src_, wants, {});
    const auto orphans = orphans_of(disk_bases(src_), expect, {});
    // D of each file (four deltas down to M), and the two versions of g.txt
    // (down to the side branch's, whole).
    ASSERT_EQ(composable(orphans), 3u) << "the fixture should have such deltas";
    ASSERT_EQ(orphans.size(), 5u);
    const uint64_t git_size = git_pack_size(src_, wants, {}, false);
    for (bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        Written w = write_fetch_pack(src_, wants, {}, {ofs, false}, work_.str() + "/c.pack");
        EXPECT_EQ(w.stats.objects, expect.size());
        // Each a delta against M: made new against the same path (tried
        // first, as git searches new bases), or composed down the chain.
        const uint32_t made = w.stats.composed_deltas + w.stats.encoded_deltas;
        EXPECT_GE(made, 3u);
        EXPECT_EQ(w.stats.thin_deltas, 0u);
        EXPECT_EQ(w.stats.deltas, w.stats.reused_deltas + made);
        // Written whole: at most the two that reach no base that is sent.
        EXPECT_LE(w.stats.objects - w.stats.reused - made, 2u);
        EXPECT_LE(double(w.stats.bytes), 1.2 * double(git_size)) << "git: " << git_size;
        Verified v = verify_pack(src_, w.pack, {}, work_.str());
        EXPECT_EQ(v.objects, expect);
        for (const auto &[o, base] : orphans)
            EXPECT_EQ(v.base[o], base) << o;
        const auto types = entry_types(w.pack);
        if (ofs) {
            EXPECT_EQ(types.count(7), 0u) << "M comes first: no REF_DELTA is needed";
        } else {
            EXPECT_EQ(types.count(6), 0u) << "OFS_DELTA without ofs-delta";
        }
        // The same bytes whatever the read size.
        RepoPtr repo = test::open_repo(src_);
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        Written small = write_pack(src_, enumerate_objects(repo.get(), in, nullptr).list(), ofs, 7,
                                   work_.str() + "/small.pack");
        EXPECT_EQ(small.stats.composed_deltas, w.stats.composed_deltas);
        EXPECT_EQ(small.stats.encoded_deltas, w.stats.encoded_deltas);
        EXPECT_EQ(sh("cmp '" + w.pack + "' '" + small.pack + "' && echo same"), "same\n");
    }
}

// Looking for new bases by path reads the trees of every commit sent: in a
// clone with a long history and a few deltas that lost their base, they
// are composed or written whole instead, as a clone with a short history
// pairs them.
TEST_F(ComposeTest, CloneOfALongHistoryDoesNotPairAFewOrphans) {
    const std::vector<std::string> wants = {rev("main")};
    Written shortw = write_fetch_pack(src_, wants, {}, {true, false}, work_.str() + "/s.pack");
    EXPECT_GT(shortw.stats.encoded_deltas, 0u) << "two commits: the orphans are paired";
    sh("cd '" + dir_ +
       "' && for i in $(seq 1 150); do GIT_COMMITTER_DATE=\"@$((1800000000 + i)) +0000\" "
       "git commit -q --allow-empty -m empty$i; done");
    const std::vector<std::string> longer = {rev("main")};
    const auto expect = test::rev_list_objects(src_, longer, {});
    Written w = write_fetch_pack(src_, longer, {}, {true, false}, work_.str() + "/l.pack");
    EXPECT_EQ(w.stats.encoded_deltas, 0u) << "152 commits diffed for five orphans";
    EXPECT_EQ(w.stats.composed_deltas, 3u);
    EXPECT_EQ(verify_pack(src_, w.pack, {}, work_.str()).objects, expect);
}

// A clone's packed objects are not kept in the PackSet's ObjectCache: too
// many to keep, they would push out what the fetches share.
TEST_F(ComposeTest, CloneKeepsNoPackedObjectItEncodes) {
    PackStats stats;
    EXPECT_EQ(packed_objects_cached(src_, {rev("main")}, {}, &stats), 0u);
    ASSERT_GT(stats.encoded_deltas, 0u);
}

// A thin pack composes down to the versions the client has (M): REF_DELTA
// entries naming them. A full pack of the same fetch cannot (M is neither
// sent nor known), and writes them whole.
TEST_F(ComposeTest, ThinPackComposesAgainstWhatTheClientHas) {
    const std::vector<std::string> wants = {rev("main")}, haves = {rev("main~1")};
    const auto expect = test::rev_list_objects(src_, wants, haves);
    const auto orphans =
        orphans_of(disk_bases(src_), expect, test::rev_list_objects(src_, haves, {}));
    ASSERT_EQ(composable(orphans), 3u);
    const uint64_t git_size = git_pack_size(src_, wants, haves, true);
    for (bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        Written thin =
            write_fetch_pack(src_, wants, haves, {ofs, true}, work_.str() + "/thin.pack");
        EXPECT_EQ(thin.stats.objects, expect.size());
        EXPECT_EQ(thin.stats.composed_deltas + thin.stats.encoded_deltas, 3u);
        EXPECT_EQ(thin.stats.thin_deltas, 3u);
        EXPECT_LE(double(thin.stats.bytes), 1.2 * double(git_size)) << "git: " << git_size;
        EXPECT_FALSE(self_contained(thin.pack, work_.str()));
        check_thin_pack(src_, thin, wants, haves, work_.str());
        // The client's pack: the thin pack's entries, M appended.
        const auto client = disk_bases(work_.str() + "/client.git");
        for (const auto &[o, base] : orphans) {
            if (!base.empty()) {
                EXPECT_EQ(client.at(o), base) << o;
            }
        }

        Written full =
            write_fetch_pack(src_, wants, haves, {ofs, false}, work_.str() + "/full.pack");
        EXPECT_EQ(full.stats.composed_deltas, 0u);
        EXPECT_GT(full.stats.bytes, 2 * thin.stats.bytes);
        EXPECT_TRUE(self_contained(full.pack, work_.str()));
    }
}

// A pushed pack keeps its thin deltas and has their bases appended at its
// end (index-pack --fix-thin), after the deltas; it is the newest pack, so
// its entries come first. D is composed down to M, which the pack would
// send after it: M is written first instead, and D is an OFS_DELTA against
// it with ofs-delta (a REF_DELTA to an earlier entry without).
TEST_F(ComposeTest, BaseOnDiskAfterTheDeltaIsWrittenFirst) {
    const std::string server = work_.str() + "/server.git";
    sh("git init -q --bare '" + server + "' && git -C '" + server +
       "' config receive.unpackLimit 1 && git -C '" + dir_ + "' push -q '" + server +
       "' main~1:refs/heads/main && touch -d @1700000000 '" + server +
       "'/objects/pack/* && git -C '" + dir_ + "' push -q '" + server + "' side main");
    const std::vector<std::string> wants = {rev("main")};
    const auto expect = test::rev_list_objects(server, wants, {});
    ASSERT_EQ(composable(orphans_of(disk_bases(server), expect, {})), 3u);
    for (bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        Written w = write_fetch_pack(server, wants, {}, {ofs, false}, work_.str() + "/p.pack");
        EXPECT_EQ(verify_pack(server, w.pack, {}, work_.str()).objects, expect);
        const std::string idx = w.pack.substr(0, w.pack.size() - 5) + ".idx";
        EXPECT_EQ(forward_bases(w.pack, idx), 0u);
        const auto types = entry_types(w.pack);
        EXPECT_EQ(types.count(ofs ? 7 : 6), 0u);
        EXPECT_EQ(types.at(ofs ? 6 : 7), int(w.stats.deltas));
    }
    // Every ref: the pushed pack's REF_DELTAs are copied as they are on
    // disk, their appended bases written before them.
    const std::vector<std::string> all = {rev("main"), rev("side")};
    const auto expect_all = test::rev_list_objects(server, all, {});
    for (bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "all, ofs-delta" : "all, no ofs-delta");
        Written w = write_fetch_pack(server, all, {}, {ofs, false}, work_.str() + "/a.pack");
        EXPECT_GT(w.stats.reused_deltas, 0u);
        EXPECT_EQ(verify_pack(server, w.pack, {}, work_.str()).objects, expect_all);
    }
}

// A clone has no haves: thin-pack changes nothing.
TEST_F(PackStreamTest, ThinCloneIsTheFullPack) {
    std::vector<std::string> wants = {repo_.rev("main")};
    Written thin = write_fetch_pack(repo_.path(), wants, {}, {true, true}, work_.str() + "/a.pack");
    Written full =
        write_fetch_pack(repo_.path(), wants, {}, {true, false}, work_.str() + "/b.pack");
    EXPECT_EQ(thin.stats.thin_deltas, 0u);
    EXPECT_EQ(sh("cmp '" + thin.pack + "' '" + full.pack + "' && echo same"), "same\n");
}

TEST_F(PackStreamTest, MissingObjectThrows) {
    RepoPtr repo = test::open_repo(repo_.path());
    std::vector<git_oid> objects = {test::to_oid("0123456789012345678901234567890123456789")};
    EXPECT_THROW(PackStream(repo.get(), objects, true), Error);
}

} // namespace
} // namespace gsh::pack

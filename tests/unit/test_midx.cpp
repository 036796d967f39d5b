// The multi-pack-index and its bitmap, as git 2.39 writes them: the reader
// against git's own files, counting with the MIDX bitmap against git's
// object walk, and the packs written from its ranks, copied from several
// packs, checked as strictly as index-pack checks them.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/bitmap_order.h"
#include "odb/midx.h"
#include "odb/pack_index.h"
#include "pack/pack_stream.h"
#include "test_pack_repo.h"
#include "util/error.h"
#include "walk/bitmap_walk.h"

namespace gsh::pack {
namespace {

using test::sh;

// The pack fixture (three packs, one of REF_DELTA entries duplicating the
// others', and loose objects) with its loose objects packed too, under a
// multi-pack-index with a bitmap and no pack bitmap; then, outside it, a
// pack of new commits (one restoring an old file) and loose objects: more
// commits, a branch from deep in the history, new tags.
class MidxRepo {
  public:
    static const MidxRepo &get() {
        static MidxRepo repo;
        return repo;
    }
    std::string path() const { return dir_.str() + "/mx.git"; }
    std::string pack_dir() const { return path() + "/objects/pack"; }
    // The index names of the packs the multi-pack-index covers.
    const std::vector<std::string> &midx_packs() const { return midx_packs_; }
    std::string rev(const std::string &r) const {
        return test::split_lines(sh("git --git-dir='" + path() + "' rev-parse '" + r + "'"))[0];
    }

  private:
    MidxRepo() {
        const std::string src = test::PackRepo::get().path();
        dir_.run("git clone -q --bare '" + src +
                 "' mx.git && cd mx.git && git -c repack.writeBitmaps=false repack -dq && "
                 // The newest commits again, in the preferred pack: the
                 // pack that had them keeps only the rest.
                 "h=$(git rev-list --objects main~3..main | git pack-objects -q objects/pack/pack) "
                 "&& git multi-pack-index write --bitmap --preferred-pack=pack-$h.pack && "
                 "git multi-pack-index verify");
        midx_packs_ = test::split_lines(sh("cd '" + pack_dir() + "' && ls pack-*.idx"));
        dir_.run(test::history_above(
            "mx.git", "cd ../mx.git && git rev-list --objects main~2..main | git pack-objects -q "
                      "objects/pack/pack && git prune-packed && cd ../w"));
        EXPECT_GE(midx_packs_.size(), 4u);
        EXPECT_EQ(sh("ls '" + pack_dir() + "' | grep -c '^pack-.*\\.bitmap$' || true"), "0\n");
        EXPECT_NE(sh("find '" + path() + "'/objects -path '*/objects/[0-9a-f][0-9a-f]/*' | wc -l"),
                  "0\n");
    }
    test::TempDir dir_;
    std::vector<std::string> midx_packs_;
};

// Objects, "pack id offset" of each, from `git show-index` of each pack.
std::map<std::string, std::map<std::string, uint64_t>> pack_offsets(const MidxRepo &repo) {
    std::map<std::string, std::map<std::string, uint64_t>> out;
    for (const std::string &idx : repo.midx_packs())
        for (const auto &line :
             test::split_lines(sh("git show-index < '" + repo.pack_dir() + "/" + idx + "'"))) {
            std::istringstream in(line);
            uint64_t offset;
            std::string oid;
            in >> offset >> oid;
            out[idx][oid] = offset;
        }
    return out;
}

TEST(MidxReader, ReadsWhatGitWrote) {
    const MidxRepo &repo = MidxRepo::get();
    MultiPackIndex midx(repo.pack_dir());
    EXPECT_EQ(midx.pack_names(), repo.midx_packs());
    const auto offsets = pack_offsets(repo);
    std::set<std::string> all;
    for (const auto &[idx, objects] : offsets)
        for (const auto &[oid, off] : objects)
            all.insert(oid);
    ASSERT_EQ(midx.count(), all.size());
    ASSERT_TRUE(midx.has_order());
    // Every object where git's pack index says it is, found by its id.
    size_t pos = 0;
    for (const std::string &hex : all) {
        git_oid oid = test::to_oid(hex);
        ASSERT_EQ(midx.find(oid), int64_t(pos)) << hex;
        const std::string &idx = midx.pack_names().at(midx.pack_of(uint32_t(pos)));
        ASSERT_EQ(offsets.at(idx).count(hex), 1u) << hex;
        EXPECT_EQ(offsets.at(idx).at(hex), midx.offset_of(uint32_t(pos))) << hex;
        pos++;
    }
    git_oid absent = test::to_oid(std::string(40, 'f'));
    EXPECT_EQ(midx.find(absent), -1);
    // The pseudo-pack order: the preferred pack's objects, then the other
    // packs by id, each by offset; rank_of_pos its inverse.
    const uint32_t preferred = midx.pack_of(midx.pos_at_rank(0));
    std::pair<int64_t, uint64_t> last{-1, 0};
    for (uint32_t r = 0; r < midx.count(); r++) {
        const uint32_t p = midx.pos_at_rank(r);
        EXPECT_EQ(midx.rank_of_pos(p), r);
        const uint32_t pack = midx.pack_of(p);
        const std::pair<int64_t, uint64_t> key{pack == preferred ? -1 : int64_t(pack),
                                               midx.offset_of(p)};
        EXPECT_LT(last, key) << "rank " << r;
        last = key;
    }
}

// The ranks in blocks, one per pack: read directly where the pack's
// objects are all there; the pack that shares objects with the preferred
// pack keeps only its others.
TEST(MidxReader, BlocksOfRanks) {
    const MidxRepo &repo = MidxRepo::get();
    PackSet packs(repo.pack_dir());
    MidxOrder order(packs, std::make_unique<MultiPackIndex>(repo.pack_dir()));
    uint32_t total = 0;
    size_t direct = 0;
    for (const BitmapOrder::Block &b : order.blocks()) {
        total += b.count;
        direct += b.direct;
        for (uint32_t k = 0; k < b.count; k++) {
            const OrderedEntry e = order.entry_at_rank(b.first + k);
            ASSERT_EQ(e.pack, b.pack);
            if (b.direct) {
                EXPECT_EQ(e.offset, packs[b.pack].offset_at_rank(k));
            }
        }
    }
    EXPECT_EQ(total, order.count());
    EXPECT_LE(order.blocks().size(), repo.midx_packs().size());
    EXPECT_GE(direct, 1u);
    EXPECT_LT(direct, order.blocks().size()) << "no pack gave objects to another";
}

std::set<std::string> rev_list(const std::string &repo, const std::vector<std::string> &wants,
                               const std::vector<std::string> &haves,
                               const std::string &filter = "") {
    std::string cmd = "git --git-dir='" + repo + "' rev-list --objects --use-bitmap-index";
    if (!filter.empty())
        cmd += " --filter=" + filter;
    for (const auto &w : wants)
        cmd += " " + w;
    if (!haves.empty())
        cmd += " --not";
    for (const auto &h : haves)
        cmd += " " + h;
    std::set<std::string> out;
    for (const auto &line : test::split_lines(sh(cmd)))
        out.insert(line.substr(0, GIT_OID_HEXSZ));
    return out;
}

class MidxBitmapTest : public ::testing::Test {
  protected:
    const MidxRepo &repo_ = MidxRepo::get();
    test::TempDir work_;
    RepoPtr handle_;

    Enumeration enumerate(const std::string &path, const std::vector<std::string> &wants,
                          const std::vector<std::string> &haves, const std::string &filter = "") {
        handle_ = test::open_repo(path);
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        if (!filter.empty()) {
            std::string error;
            EXPECT_TRUE(parse_filter(filter, &in.filter, &error)) << error;
        }
        return enumerate_objects(handle_.get(), in, nullptr);
    }
    std::vector<std::string> revs(const std::vector<std::string> &names) {
        std::vector<std::string> out;
        for (const auto &n : names)
            out.push_back(repo_.rev(n));
        return out;
    }
    // Whether e was counted with a multi-pack-index's bitmap.
    static bool midx_counted(const Enumeration &e) {
        const BitmapOrder *order = nullptr;
        return e.pack_objects(&order) && order->from_midx();
    }
    // A copy of the repository, changed by script (run in its pack folder).
    std::string copy(const std::string &name, const std::string &script) {
        const std::string dst = work_.str() + "/" + name;
        sh("cp -r '" + repo_.path() + "' '" + dst + "' && cd '" + dst +
           "/objects/pack' && chmod -R u+w . && " + script);
        return dst;
    }
};

TEST_F(MidxBitmapTest, CountsAsGitDoes) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
        {{"main", "side", "feature", "v1", "v2", "v1-outer", "t-new", "t-old"}, {}},
        {{"main"}, {}},
        {{"main"}, {"main~3"}},  // the pack outside and loose objects
        {{"main"}, {"main~12"}}, // into the multi-pack-index
        {{"main~3"}, {"main~20"}},
        {{"feature"}, {"main"}},
        {{"main"}, {"feature", "v1"}},
        {{"side"}, {"main"}},
        {{"t-new", "t-old"}, {"main~2"}},
    };
    for (const auto &[w, h] : cases) {
        for (const std::string filter : {"", "blob:none", "tree:0"}) {
            SCOPED_TRACE(w[0] + " --not " + (h.empty() ? "" : h[0]) + " " + filter);
            const std::vector<std::string> wants = revs(w), haves = revs(h);
            Enumeration e = enumerate(repo_.path(), wants, haves, filter);
            // git gives up its bitmap when no have is in the objects it
            // covers (main and main~2 are newer than the multi-pack-index).
            const bool outside = h.size() == 1 && (h[0] == "main" || h[0] == "main~2");
            EXPECT_EQ(midx_counted(e), !outside) << "the MIDX bitmap used";
            const std::vector<git_oid> list = e.list();
            const std::set<std::string> got = test::hex_set(list);
            EXPECT_EQ(got.size(), list.size()) << "an object listed twice";
            EXPECT_EQ(got, rev_list(repo_.path(), wants, haves, filter));
        }
    }
    // The client has what the haves reach, by rank or outside the ranks.
    const std::vector<std::string> haves = revs({"main~12", "feature"});
    Enumeration e = enumerate(repo_.path(), revs({"main"}), haves);
    const auto reached = rev_list(repo_.path(), haves, {});
    for (const auto &o : rev_list(repo_.path(), revs({"main", "feature"}), {}))
        EXPECT_EQ(e.client_has(test::to_oid(o)), reached.count(o) > 0) << o;
}

// verify-pack -v of a pack: oid -> (offset, delta base or "").
std::map<std::string, std::pair<uint64_t, std::string>> entries_of(const std::string &idx) {
    std::map<std::string, std::pair<uint64_t, std::string>> out;
    for (const auto &line : test::split_lines(sh("git verify-pack -v '" + idx + "'"))) {
        std::istringstream in(line);
        std::vector<std::string> f;
        std::string w;
        while (in >> w)
            f.push_back(w);
        if (f.size() >= 5 && f[0].size() == GIT_OID_HEXSZ)
            out[f[0]] = {std::stoull(f[4]), f.size() >= 7 ? f[6] : ""};
    }
    return out;
}

// Packs written from MIDX ranks: copied from several packs, every delta
// after its base, as strict index-pack and fsck want them.
TEST_F(MidxBitmapTest, PacksFromSeveralPacksAreValid) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
        {{"main", "side", "feature", "t-new", "v2", "v1-outer"}, {}}, {{"main"}, {"main~12"}}};
    for (const auto &[w, h] : cases) {
        const std::vector<std::string> wants = revs(w), haves = revs(h);
        const auto expect = rev_list(repo_.path(), wants, haves);
        for (bool thin : {false, true}) {
            SCOPED_TRACE(w[0] + (h.empty() ? "" : " --not " + h[0]) + (thin ? " thin" : ""));
            Enumeration e = enumerate(repo_.path(), wants, haves);
            ASSERT_TRUE(midx_counted(e));
            PackStream ps(handle_.get(), std::move(e), PackOptions{true, thin});
            const std::string pack = work_.str() + "/p.pack", idx = work_.str() + "/p.idx";
            {
                std::ofstream out(pack, std::ios::binary);
                std::vector<uint8_t> buf(65536);
                while (size_t n = ps.read(buf.data(), buf.size()))
                    out.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
            }
            EXPECT_EQ(ps.stats().objects, expect.size());
            EXPECT_GT(ps.stats().reused, expect.size() / 2) << "entries not copied";
            const std::string client = work_.str() + "/client.git";
            sh("rm -rf '" + client + "' && git init -q --bare '" + client + "'");
            if (!haves.empty())
                sh("echo " + haves[0] + " | git --git-dir='" + repo_.path() +
                   "' pack-objects -q --revs --stdout | GIT_DIR='" + client +
                   "' git unpack-objects -q");
            // Without --fix-thin first: the base-before-delta check reads
            // the pack as it was sent.
            if (!thin) {
                sh("GIT_DIR='" + client + "' git index-pack --strict -o '" + idx + "' '" + pack +
                   "' >/dev/null");
                const auto entries = entries_of(idx);
                EXPECT_EQ(entries.size(), expect.size());
                for (const auto &[oid, at] : entries) {
                    if (!at.second.empty()) {
                        EXPECT_LT(entries.at(at.second).first, at.first)
                            << oid << ": its base " << at.second << " comes after it";
                    }
                }
            }
            sh("GIT_DIR='" + client + "' git index-pack --strict --fix-thin --stdin < '" + pack +
               "' >/dev/null");
            std::string refs;
            for (size_t i = 0; i < wants.size(); i++)
                refs += "git update-ref refs/w" + std::to_string(i) + " " + wants[i] + " && ";
            sh("cd '" + client + "' && " + refs + "git fsck --strict --no-dangling 2>&1");
        }
    }
}

// A geometric repack often leaves one pack under the multi-pack-index: a
// clone of everything is then that pack file, as with a pack bitmap.
TEST_F(MidxBitmapTest, CloneOfAMidxOfOnePackIsThePackFile) {
    const std::string one =
        copy("one.git", "cd ../.. && git -c repack.writeBitmaps=false repack -adq && "
                        "git multi-pack-index write --bitmap && ls objects/pack/pack-*.pack");
    const std::string disk = test::split_lines(sh("ls '" + one + "'/objects/pack/pack-*.pack"))[0];
    const std::vector<std::string> wants =
        test::split_lines(sh("git --git-dir='" + one + "' for-each-ref --format='%(objectname)'"));
    const size_t objects = test::rev_list_objects(one, wants, {}).size();
    Enumeration e = enumerate(one, wants, {});
    ASSERT_TRUE(midx_counted(e));
    PackStream ps(handle_.get(), std::move(e), PackOptions{true, false});
    const std::string out = work_.str() + "/out.pack";
    {
        std::ofstream f(out, std::ios::binary);
        std::vector<uint8_t> buf(65536);
        while (size_t n = ps.read(buf.data(), buf.size()))
            f.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
    }
    EXPECT_EQ(ps.stats().objects, objects);
    EXPECT_EQ(ps.stats().pack_reused, objects);
    EXPECT_EQ(sh("cmp -s '" + disk + "' '" + out + "' && echo same || echo differs"), "same\n");
}

} // namespace
} // namespace gsh::pack

namespace gsh::pack {
namespace {

// Renames the RIDX chunk of the multi-pack-index in the current folder so
// that readers skip it (its trailer, and so its bitmap's, is unchanged).
const char *kHideRidx =
    "python3 -c \"import sys; d=bytearray(open('multi-pack-index','rb').read()); "
    "i=d.index(b'RIDX', 12, 12 + 12 * (d[6] + 1)); d[i:i+4]=b'XXXX'; "
    "open('multi-pack-index','wb').write(d)\"";

// git 2.39 writes the order as a RIDX chunk; with GIT_TEST_MIDX_WRITE_REV
// also as multi-pack-index-<checksum>.rev, as earlier gits did.
TEST_F(MidxBitmapTest, OrderFromTheRevFile) {
    const std::string path =
        copy("rev.git", "rm -f multi-pack-index* && GIT_TEST_MIDX_WRITE_REV=1 git "
                        "multi-pack-index write --bitmap && ls multi-pack-index-*.rev && " +
                            std::string(kHideRidx));
    MultiPackIndex midx(path + "/objects/pack");
    EXPECT_TRUE(midx.has_order());
    const std::vector<std::string> wants = revs({"main", "feature"}), haves = revs({"main~12"});
    Enumeration e = enumerate(path, wants, haves);
    EXPECT_TRUE(midx_counted(e));
    EXPECT_EQ(test::hex_set(e.list()), rev_list(path, wants, haves));
}

// A multi-pack-index that cannot be used is left aside, never trusted:
// the objects counted are the same.
TEST_F(MidxBitmapTest, UnusableMidxFallsBack) {
    const std::vector<std::string> wants = revs({"main", "feature"}), haves = revs({"main~12"});
    // What git's walk finds without a bitmap: with one, less (the haves'
    // whole history is left out, not only what the walk meets).
    const auto expect = test::rev_list_objects(repo_.path(), wants, haves);
    EXPECT_NE(expect, rev_list(repo_.path(), wants, haves));
    const std::vector<std::pair<std::string, std::string>> broken = {
        {"no order", kHideRidx},
        {"truncated", "truncate -s 2000 multi-pack-index"},
        {"bad pack id", "python3 -c \"d=bytearray(open('multi-pack-index','rb').read()); "
                        "i=d.index(b'OOFF', 12); o=int.from_bytes(d[i+4:i+12],'big'); "
                        "d[o:o+4]=b'\\x00\\x00\\x00\\x63'; "
                        "open('multi-pack-index','wb').write(d)\""},
        {"order not by offset", "python3 -c \"d=bytearray(open('multi-pack-index','rb').read()); "
                                "i=d.index(b'RIDX', 12); o=int.from_bytes(d[i+4:i+12],'big'); "
                                "d[o:o+4], d[o+4:o+8] = d[o+4:o+8], d[o:o+4]; "
                                "open('multi-pack-index','wb').write(d)\""},
        {"bitmap of another", "for b in multi-pack-index-*.bitmap; do printf XXXX | dd of=$b bs=1 "
                              "seek=12 conv=notrunc 2>/dev/null; done"},
    };
    int n = 0;
    for (const auto &[name, script] : broken) {
        SCOPED_TRACE(name);
        const std::string path = copy("broken" + std::to_string(n++) + ".git", script);
        Enumeration e = enumerate(path, wants, haves);
        const BitmapOrder *order = nullptr;
        EXPECT_EQ(e.pack_objects(&order), nullptr);
        EXPECT_EQ(test::hex_set(e.list()), expect);
    }
}

// git prefers the multi-pack-index's bitmap to a pack's, and uses the
// pack's when the multi-pack-index's names packs that are gone.
TEST_F(MidxBitmapTest, PreferredToAPackBitmapUnlessStale) {
    const std::string both = copy("both.git", "cd ../.. && git repack -adbq && "
                                              "git multi-pack-index write --bitmap && "
                                              "ls objects/pack/pack-*.bitmap");
    const std::string stale = copy("stale.git", "mkdir ../../old && cp multi-pack-index* "
                                                "../../old && cd ../.. && git repack -adbq && "
                                                "cp old/* objects/pack/");
    const std::vector<std::string> wants = revs({"main", "feature"}), haves = revs({"main~12"});
    for (const auto &[path, midx] : {std::pair{both, true}, std::pair{stale, false}}) {
        SCOPED_TRACE(path);
        Enumeration e = enumerate(path, wants, haves);
        const BitmapOrder *order = nullptr;
        ASSERT_NE(e.pack_objects(&order), nullptr);
        EXPECT_EQ(order->from_midx(), midx);
        EXPECT_EQ(test::hex_set(e.list()), rev_list(repo_.path(), wants, haves));
    }
}

} // namespace
} // namespace gsh::pack

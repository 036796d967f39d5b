// Counting with the reachability bitmap, against git's own object walk:
// wants minus everything the haves reach, as git's bitmap counting does.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/pack_index.h"
#include "pack/pack_stream.h"
#include "test_pack_repo.h"
#include "walk/bitmap_walk.h"

namespace gsh::pack {
namespace {

using test::sh;

// The pack fixture as a server keeps it: one pack with a bitmap; then
// history on top that the bitmap does not cover: a second pack, and loose
// objects (pushes too small to be kept as packs), among them old contents
// restored and a branch forked from deep in the history.
class BitmapRepo {
  public:
    static const BitmapRepo &get() {
        static BitmapRepo repo;
        return repo;
    }
    std::string path() const { return dir_.str() + "/bm.git"; }
    std::string rev(const std::string &r) const {
        return test::split_lines(sh("git --git-dir='" + path() + "' rev-parse '" + r + "'"))[0];
    }

  private:
    BitmapRepo() {
        const test::PackRepo &src = test::PackRepo::get();
        // A second pack of new commits, then loose objects.
        dir_.run("git clone -q --bare '" + src.path() +
                 "' bm.git && git -C bm.git repack -adbq && " +
                 test::history_above("bm.git",
                                     "git -C ../bm.git -c repack.writeBitmaps=false repack -dq"));
        const std::string packs = sh("ls '" + path() + "'/objects/pack/");
        EXPECT_EQ(test::split_lines(sh("ls '" + path() + "'/objects/pack/*.pack")).size(), 2u);
        EXPECT_EQ(test::split_lines(sh("ls '" + path() + "'/objects/pack/*.bitmap")).size(), 1u);
        EXPECT_NE(sh("find '" + path() + "'/objects -path '*/objects/[0-9a-f][0-9a-f]/*' | wc -l"),
                  "0\n");
    }
    test::TempDir dir_;
};

std::set<std::string> rev_list(const std::string &repo, const std::vector<std::string> &revs) {
    std::set<std::string> out;
    if (revs.empty())
        return out;
    std::string cmd = "git --git-dir='" + repo + "' rev-list --objects";
    for (const auto &r : revs)
        cmd += " " + r;
    for (const auto &line : test::split_lines(sh(cmd)))
        out.insert(line.substr(0, GIT_OID_HEXSZ));
    return out;
}

// Everything the wants reach that the haves do not.
std::set<std::string> wants_minus_haves(const std::string &repo,
                                        const std::vector<std::string> &wants,
                                        const std::vector<std::string> &haves) {
    std::set<std::string> out = rev_list(repo, wants);
    for (const auto &o : rev_list(repo, haves))
        out.erase(o);
    return out;
}

// What git itself counts (rev-list with its bitmap, as pack-objects uses it).
std::set<std::string> git_bitmap_rev_list(const std::string &repo,
                                          const std::vector<std::string> &wants,
                                          const std::vector<std::string> &haves) {
    std::vector<std::string> revs = {"--use-bitmap-index"};
    revs.insert(revs.end(), wants.begin(), wants.end());
    for (const auto &h : haves)
        revs.push_back("^" + h);
    return rev_list(repo, revs);
}

class BitmapWalkTest : public ::testing::Test {
  protected:
    const BitmapRepo &repo_ = BitmapRepo::get();
    test::TempDir work_;

    Enumeration enumerate(const std::string &path, const std::vector<std::string> &wants,
                          const std::vector<std::string> &haves,
                          const std::vector<std::string> &include_tags = {}) {
        repo_handle_ = test::open_repo(path);
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        in.include_tags = test::oids_of(include_tags);
        return enumerate_objects(repo_handle_.get(), in, nullptr);
    }

    std::vector<std::string> revs(const std::vector<std::string> &names) {
        std::vector<std::string> out;
        for (const auto &n : names)
            out.push_back(repo_.rev(n));
        return out;
    }

    RepoPtr repo_handle_;
};

TEST_F(BitmapWalkTest, MatchesGitWithPacksAndLooseObjectsOutsideTheBitmap) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
        {{"main"}, {}},
        {{"main", "side", "feature", "v1", "v2", "v1-outer", "t-new", "t-old"}, {}},
        {{"main"}, {"main~1"}},        // all new: loose
        {{"main"}, {"main~3"}},        // the second pack and loose objects
        {{"main"}, {"main~12"}},       // into the bitmapped pack
        {{"main~3"}, {"main~20"}},     // bitmapped only
        {{"feature"}, {"main"}},       // a branch from deep in the history
        {{"main"}, {"feature", "v1"}}, // a have outside the bitmap
        {{"side"}, {"main"}},
        {{"main"}, {"main"}},
        {{"main~5"}, {"main"}},
        {{"t-new", "t-old"}, {"main~2"}},       // new tags, of new and old commits
        {{"main"}, {"main~3^{tree}"}},          // a tree as a have
        {{"main"}, {"main~3:src/big.txt"}},     // a blob as a have
        {{"tree-tag", "blob-tag"}, {}},         // tags of a tree and of a blob
        {{"main^{tree}", "main:new2.txt"}, {}}, // a tree and a blob as wants
        {{"v1-outer"}, {"v1"}},
    };
    for (const auto &[w, h] : cases) {
        std::string name;
        for (const auto &x : w)
            name += x + " ";
        name += "--not";
        for (const auto &x : h)
            name += " " + x;
        SCOPED_TRACE(name);
        std::vector<std::string> wants = revs(w), haves = revs(h);
        Enumeration e = enumerate(repo_.path(), wants, haves);
        // git gives up its bitmap when no have is in the bitmapped pack
        // (main, main~1 and main~2 are newer).
        const std::set<std::string> newer = {"main", "main~1", "main~2"};
        const bool bitmapped = h.empty() || std::any_of(h.begin(), h.end(), [&](const auto &x) {
                                   return newer.count(x) == 0;
                               });
        const BitmapOrder *pack = nullptr;
        EXPECT_EQ(e.pack_objects(&pack) != nullptr, bitmapped) << "bitmap used";
        std::vector<git_oid> list = e.list();
        std::set<std::string> got = test::hex_set(list);
        EXPECT_EQ(got.size(), list.size()) << "an object listed twice";
        EXPECT_EQ(got.size(), e.count());
        EXPECT_EQ(got, git_bitmap_rev_list(repo_.path(), wants, haves));
        if (bitmapped) {
            EXPECT_EQ(got, wants_minus_haves(repo_.path(), wants, haves));
        }
    }
}

// Filters on history that the bitmap covers only in part: the commits above
// the bitmapped pack are walked (their trees only as far as the filter needs
// them), and the answer is git's.
TEST_F(BitmapWalkTest, FiltersMatchGitAboveTheBitmappedPack) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
        {{"main", "side", "feature", "v1", "t-new", "t-old"}, {}},
        {{"main", "feature"}, {"main~12"}},
        {{"main^{tree}", "main:new2.txt"}, {}},
    };
    for (const std::string spec : {"blob:none", "tree:0", "object:type=commit",
                                   "combine:tree:0+blob:none", "blob:limit=100"}) {
        for (const auto &[w, h] : cases) {
            SCOPED_TRACE(spec + " " + w[0] + (h.empty() ? "" : " --not " + h[0]));
            RepoPtr repo = test::open_repo(repo_.path());
            EnumerateInput in;
            in.wants = test::oids_of(revs(w));
            in.haves = test::oids_of(revs(h));
            std::string error;
            ASSERT_TRUE(parse_filter(spec, &in.filter, &error)) << error;
            Enumeration e = enumerate_objects(repo.get(), in, nullptr);
            const BitmapOrder *pack = nullptr;
            EXPECT_NE(e.pack_objects(&pack), nullptr) << "the bitmap was not used";
            std::vector<std::string> args = {"--filter=" + spec};
            for (const auto &x : revs(w))
                args.push_back(x);
            for (const auto &x : revs(h))
                args.push_back("^" + x);
            EXPECT_EQ(test::hex_set(e.list()), git_bitmap_rev_list(repo_.path(), args, {}));
        }
    }
}

// A fetch whose haves are all newer than the bitmapped pack is counted by
// the walk, as git 2.39 counts it: an old file restored on the wants' side
// is sent, though an ancestor of the have holds it (the bitmap would leave
// it out), and the have's history down to the bitmapped commits is not
// walked.
TEST_F(BitmapWalkTest, HavesOutsideTheBitmappedPackAreCountedByTheWalk) {
    test::TempDir dir;
    dir.run("git init -q -b main w && cd w && echo v1 > a && git add a && git commit -qm c1 && "
            "git clone -q --bare . ../s.git && git -C ../s.git repack -adbq && "
            "echo v2 > a && git commit -qam c2 && echo v1 > a && git commit -qam c3 && "
            "git push -q ../s.git main");
    const std::string path = dir.str() + "/s.git";
    const std::string want = test::split_lines(sh("git -C '" + path + "' rev-parse main"))[0];
    const std::string have = test::split_lines(sh("git -C '" + path + "' rev-parse main~1"))[0];
    const std::string v1 = test::split_lines(sh("git -C '" + path + "' rev-parse main:a"))[0];
    Enumeration e = enumerate(path, {want}, {have});
    const BitmapOrder *pack = nullptr;
    EXPECT_EQ(e.pack_objects(&pack), nullptr) << "counted with the bitmap";
    const std::set<std::string> got = test::hex_set(e.list());
    EXPECT_EQ(got.count(v1), 1u) << "the restored file is left out";
    EXPECT_EQ(got, git_bitmap_rev_list(path, {want}, {have}));
}

TEST_F(BitmapWalkTest, ClientHasEverythingTheHavesReach) {
    std::vector<std::string> wants = revs({"main"}), haves = revs({"main~12", "feature"});
    Enumeration e = enumerate(repo_.path(), wants, haves);
    EXPECT_FALSE(e.can_widen());
    const auto reached = rev_list(repo_.path(), haves);
    for (const auto &o : rev_list(repo_.path(), {repo_.rev("main"), repo_.rev("feature")}))
        EXPECT_EQ(e.client_has(test::to_oid(o)), reached.count(o) > 0) << o;
}

TEST_F(BitmapWalkTest, IncludeTag) {
    std::vector<std::string> tags;
    for (const auto &line :
         test::split_lines(sh("git --git-dir='" + repo_.path() +
                              "' for-each-ref refs/tags --format='%(objecttype) %(objectname)'")))
        if (line.compare(0, 4, "tag ") == 0)
            tags.push_back(line.substr(4));
    const std::string git = "git --git-dir='" + repo_.path() + "' ";
    for (const char *have : {"main~19", "main~8"}) {
        SCOPED_TRACE(have);
        std::vector<std::string> wants = revs({"main"}), haves = revs({have});
        const std::set<std::string> base = wants_minus_haves(repo_.path(), wants, haves);
        const std::set<std::string> client = rev_list(repo_.path(), haves);
        // A tag comes along when its chain ends at an object sent, with the
        // tags of the chain the client lacks.
        std::set<std::string> expect = base;
        for (const auto &t : tags) {
            std::vector<std::string> chain;
            std::string o = t;
            while (test::split_lines(sh(git + "cat-file -t " + o))[0] == "tag") {
                chain.push_back(o);
                o = sh(git + "cat-file tag " + o).substr(7, GIT_OID_HEXSZ);
            }
            if (base.count(o))
                for (const auto &c : chain)
                    if (!client.count(c))
                        expect.insert(c);
        }
        std::set<std::string> got =
            test::hex_set(enumerate(repo_.path(), wants, haves, tags).list());
        EXPECT_EQ(got, expect);
        if (std::string(have) == "main~19") {
            EXPECT_TRUE(got.count(repo_.rev("v1")));
            EXPECT_TRUE(got.count(repo_.rev("v1-outer")));
        }
        EXPECT_FALSE(got.count(repo_.rev("t-old")));
        EXPECT_FALSE(got.count(repo_.rev("t-new")));
    }
}

// Packs written from bitmap counting are valid and hold the right objects.
TEST_F(BitmapWalkTest, PacksFromBitmapCounting) {
    for (const auto &[w, h] :
         std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>{
             {{"main", "feature", "t-new"}, {}}, {{"main"}, {"main~12"}}}) {
        std::vector<std::string> wants = revs(w), haves = revs(h);
        const auto expect = wants_minus_haves(repo_.path(), wants, haves);
        for (bool thin : {false, true}) {
            SCOPED_TRACE(w[0] + (thin ? " thin" : ""));
            Enumeration e = enumerate(repo_.path(), wants, haves);
            PackStream ps(repo_handle_.get(), std::move(e), PackOptions{true, thin});
            const std::string pack = work_.str() + "/p.pack";
            {
                std::ofstream out(pack, std::ios::binary);
                std::vector<uint8_t> buf(65536);
                while (size_t n = ps.read(buf.data(), buf.size()))
                    out.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
            }
            EXPECT_EQ(ps.stats().objects, expect.size());
            // A client holding what the haves reach.
            const std::string client = work_.str() + "/client.git";
            sh("rm -rf '" + client + "' && git init -q --bare '" + client + "'");
            if (!haves.empty())
                sh("echo " + haves[0] + " | git --git-dir='" + repo_.path() +
                   "' pack-objects -q --revs --stdout | GIT_DIR='" + client +
                   "' git unpack-objects -q");
            sh("GIT_DIR='" + client + "' git index-pack --strict --fix-thin --stdin < '" + pack +
               "' >/dev/null");
            std::string refs;
            for (size_t i = 0; i < wants.size(); i++)
                refs += "git update-ref refs/w" + std::to_string(i) + " " + wants[i] + " && ";
            sh("cd '" + client + "' && " + refs + "git fsck --strict --no-dangling 2>&1");
        }
    }
}

// A bitmap that cannot be used (here: of a pack that was rewritten) is
// ignored: the walk counts the same objects.
TEST_F(BitmapWalkTest, UnusableBitmapFallsBackToTheWalk) {
    const std::string copy = work_.str() + "/copy.git";
    sh("cp -r '" + repo_.path() + "' '" + copy + "' && cd '" + copy +
       "'/objects/pack && for b in *.bitmap; do chmod u+w $b; printf 'XXXX' | dd of=$b bs=1 "
       "seek=12 conv=notrunc 2>/dev/null; done");
    std::vector<std::string> wants = revs({"main"}), haves = revs({"main~12"});
    Enumeration e = enumerate(copy, wants, haves);
    const BitmapOrder *pack = nullptr;
    EXPECT_EQ(e.pack_objects(&pack), nullptr);
    EXPECT_EQ(test::hex_set(e.list()), test::rev_list_objects(copy, wants, haves));
}

} // namespace
} // namespace gsh::pack

namespace gsh::pack {
namespace {

// A clone of a repository packed into one bitmapped pack is that pack file,
// sent without looking at its entries; a client without ofs-delta gets the
// entries rewritten instead.
TEST_F(BitmapWalkTest, CloneOfOneBitmappedPackIsThePackFile) {
    const std::string one = work_.str() + "/one.git";
    sh("git clone -q --mirror '" + repo_.path() + "' '" + one + "' && git -C '" + one +
       "' repack -adbq");
    const std::string disk = test::split_lines(sh("ls '" + one + "'/objects/pack/pack-*.pack"))[0];
    std::vector<std::string> wants =
        test::split_lines(sh("git --git-dir='" + one + "' for-each-ref --format='%(objectname)'"));
    const size_t objects = test::rev_list_objects(one, wants, {}).size();
    for (bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        Enumeration e = enumerate(one, wants, {});
        const BitmapOrder *pack = nullptr;
        ASSERT_NE(e.pack_objects(&pack), nullptr) << "the bitmap was not used";
        PackStream ps(repo_handle_.get(), std::move(e), PackOptions{ofs, false});
        const std::string out = work_.str() + "/out.pack";
        {
            std::ofstream f(out, std::ios::binary);
            std::vector<uint8_t> buf(65536);
            while (size_t n = ps.read(buf.data(), buf.size()))
                f.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
        }
        EXPECT_EQ(ps.stats().objects, objects);
        EXPECT_EQ(ps.stats().pack_reused, ofs ? objects : 0u);
        EXPECT_EQ(sh("cmp -s '" + disk + "' '" + out + "' && echo same || echo differs"),
                  ofs ? "same\n" : "differs\n");
        sh("git index-pack --strict -o '" + work_.str() + "/out.idx' '" + out + "' >/dev/null");
    }
}

} // namespace
} // namespace gsh::pack

namespace gsh::pack {
namespace {

// Counting with the bitmap is chosen unless the haves and wants lead to too
// many commits no bitmap covers; a clone always uses it.
TEST_F(BitmapWalkTest, BitmapIsWorthItUnlessManyCommitsAreUncovered) {
    RepoPtr repo = test::open_repo(repo_.path());
    auto packs = std::make_shared<const PackSet>(repo.get());
    const BitmapOrder *pack = nullptr;
    const BitmapIndex *bitmap = packs->bitmap(&pack);
    ASSERT_NE(bitmap, nullptr);
    BitmapEnumerator e(repo.get(), packs, *pack, *bitmap, nullptr);
    EnumerateInput fetch;
    fetch.wants = test::oids_of(revs({"main", "feature"}));
    fetch.haves = test::oids_of(revs({"main~12"}));
    EXPECT_TRUE(e.worth_it(fetch, 1000));
    // main's commits above the bitmapped pack, and feature's, are uncovered.
    EXPECT_FALSE(e.worth_it(fetch, 2));
    EnumerateInput clone;
    clone.wants = fetch.wants;
    EXPECT_TRUE(e.worth_it(clone, 0));
}

} // namespace
} // namespace gsh::pack

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "walk/enumerate_commits.h"
#include "walk/object_walk.h"
#include "odb/pack_index.h"
#include "pack/pack_stream.h"
#include "test_pack_repo.h"
#include "util/error.h"

namespace gsh::pack {
namespace {

using test::PackRepo;

class EnumerateTest : public ::testing::Test {
  protected:
    const PackRepo &repo_ = PackRepo::get();

    std::set<std::string> run(const std::vector<std::string> &wants,
                              const std::vector<std::string> &haves,
                              const std::vector<std::string> &include_tags = {},
                              std::vector<std::string> *progress = nullptr) {
        RepoPtr repo = test::open_repo(repo_.path());
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        in.include_tags = test::oids_of(include_tags);
        ProgressFn fn;
        if (progress)
            fn = [progress](std::string_view s) { progress->emplace_back(s); };
        std::vector<git_oid> out = enumerate_objects(repo.get(), in, fn).list();
        std::set<std::string> set = test::hex_set(out);
        EXPECT_EQ(set.size(), out.size()) << "an object listed twice";
        return set;
    }

    // rev_list_haves: what git rev-list is given instead, when it differs.
    void expect_like_rev_list(const std::vector<std::string> &wants,
                              const std::vector<std::string> &haves,
                              const std::vector<std::string> &rev_list_haves = {}) {
        std::vector<std::string> w = repo_.revs(wants), h = repo_.revs(haves),
                                 g = rev_list_haves.empty() ? h : repo_.revs(rev_list_haves);
        EXPECT_EQ(run(w, h), test::rev_list_objects(repo_.path(), w, g));
    }
};

TEST_F(EnumerateTest, MatchesRevListObjects) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
        {{"main"}, {}},
        {{"main", "side", "v1", "v2", "v1-outer"}, {}},
        {{"main"}, {"main~1"}},
        {{"main"}, {"main~12"}},
        {{"main"}, {"side"}},
        {{"side"}, {"main"}},
        {{"main", "side"}, {"main~4", "side~1", "v1"}},
        {{"main~5"}, {"main"}},                 // the client is ahead
        {{"main"}, {"main"}},                   // up to date
        {{"main"}, {"main~3^{tree}"}},          // a tree as a have
        {{"main"}, {"main~3:src/big.txt"}},     // a blob as a have
        {{"tree-tag", "blob-tag"}, {}},         // tags of a tree and of a blob
        {{"main~2^{tree}", "main:README"}, {}}, // a tree and a blob as wants
        {{"main:src"}, {"main~1:src"}},
        {{"v1-outer"}, {"v1"}}, // a tag of a tag, the inner tag known
    };
    for (const auto &[wants, haves] : cases) {
        std::string name;
        for (const auto &w : wants)
            name += w + " ";
        name += "--not";
        for (const auto &h : haves)
            name += " " + h;
        SCOPED_TRACE(name);
        expect_like_rev_list(wants, haves);
    }
}

// Everything reachable from a have is left out, also when no commit is
// walked: rev-list (like pack-objects) only leaves out the trees of the
// commits at the edge of the walk, so it is told about the tree itself.
TEST_F(EnumerateTest, HaveCommitWithoutWalkedCommits) {
    expect_like_rev_list({"main:src"}, {"main~1"}, {"main~1^{tree}"});
    expect_like_rev_list({"main^{tree}", "blob-tag"}, {"main~2"}, {"main~2^{tree}"});
    // The tag is new, the blob it tags is in v1's tree.
    expect_like_rev_list({"blob-tag"}, {"v1"}, {"v1^{tree}"});
}

// A have whose date is older than the history it builds on: git's walk
// lists the wanted commits' ancestors (newer by date) before it learns from
// the have that the client has them, and pack-objects then takes their
// trees as the client's. The blob deleted in C1 and brought back in W is in
// B's tree only: git does not send it, and neither does the walk.
TEST(EnumerateSkew, CommitsListedBeforeTheHaveReachesThemAreTheClients) {
    test::TempDir dir;
    dir.run("git init -q r && cd r && "
            "c() { GIT_COMMITTER_DATE=\"@$1 +0000\" GIT_AUTHOR_DATE=\"@$1 +0000\" "
            "git commit -qam \"$2\"; }; "
            "echo gone >a.txt && echo 1 >b.txt && git add . && c 1000000100 B && "
            "git rm -q a.txt && echo 2 >b.txt && c 1000000200 C1 && "
            "echo 3 >b.txt && c 1000000300 C2 && git branch want && "
            "echo 4 >b.txt && c 1000000060 P && echo 5 >b.txt && c 1000000050 H && "
            "git checkout -q want && echo gone >a.txt && git add a.txt && echo 6 >b.txt && "
            "c 1000000400 W");
    const std::string repo_path = dir.str() + "/r/.git";
    auto rev = [&](const std::string &spec) {
        std::string out = test::sh("git --git-dir='" + repo_path + "' rev-parse " + spec);
        return out.substr(0, GIT_OID_HEXSZ);
    };
    const std::string w = rev("want"), h = rev("master");
    RepoPtr repo = test::open_repo(repo_path);
    EnumerateInput in;
    in.wants = test::oids_of({w});
    in.haves = test::oids_of({h});
    const std::set<std::string> got = test::hex_set(enumerate_objects(repo.get(), in, {}).list());
    EXPECT_EQ(got, test::rev_list_objects(repo_path, {w}, {h}));
    EXPECT_FALSE(got.count(rev("want:a.txt")));
    EXPECT_EQ(got.size(), 3u); // W, its tree, b.txt
}

// The history walk of a fetch with haves checks in once per commit, so that
// git_smart_http_timeout can stop it before any object is counted.
TEST(EnumerateCommits, CheckInCanStopTheHistoryWalk) {
    test::TempDir dir;
    dir.run("git init -q r && cd r && for i in 1 2 3 4 5; do "
            "echo $i >f && git add f && git commit -qm $i; done");
    const std::string repo_path = dir.str() + "/r/.git";
    RepoPtr repo = test::open_repo(repo_path);
    PackSet packs(repo.get());
    ObjectParser objects(repo.get(), packs);
    const std::vector<git_oid> wants = test::oids_of(
        {test::sh("git --git-dir='" + repo_path + "' rev-parse HEAD").substr(0, GIT_OID_HEXSZ)});
    const std::vector<git_oid> haves = test::oids_of(
        {test::sh("git --git-dir='" + repo_path + "' rev-parse HEAD~4").substr(0, GIT_OID_HEXSZ)});
    size_t calls = 0;
    EXPECT_THROW(limit_commits(objects, wants, haves,
                               [&] {
                                   if (++calls == 2)
                                       throw Error("stop");
                               }),
                 Error);
    EXPECT_EQ(calls, 2u);
    calls = 0;
    EXPECT_EQ(limit_commits(objects, wants, haves, [&] { calls++; }).commits.size(), 4u);
    EXPECT_GE(calls, 4u);
}

TEST_F(EnumerateTest, GitlinksAreNotObjectsToSend) {
    auto got = run({repo_.rev("main")}, {});
    EXPECT_FALSE(got.count("1234567890abcdef1234567890abcdef12345678"));
    // ... yet the tree that holds it is sent.
    EXPECT_TRUE(got.count(repo_.rev("main^{tree}")));
}

TEST_F(EnumerateTest, UnknownHavesAreIgnored) {
    const std::string unknown = "0123456789012345678901234567890123456789";
    EXPECT_EQ(run({repo_.rev("main")}, {unknown, repo_.rev("main~2")}),
              test::rev_list_objects(repo_.path(), {repo_.rev("main")}, {repo_.rev("main~2")}));
}

TEST_F(EnumerateTest, UnknownWantThrows) {
    EXPECT_THROW(run({"0123456789012345678901234567890123456789"}, {}), Error);
}

TEST_F(EnumerateTest, ProgressEndsWithDone) {
    std::vector<std::string> progress;
    auto got = run({repo_.rev("main")}, {}, {}, &progress);
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), "Enumerating objects: " + std::to_string(got.size()) + ", done.\n");
    for (size_t i = 0; i + 1 < progress.size(); i++)
        EXPECT_EQ(progress[i].back(), '\r');
}

TEST_F(EnumerateTest, IncludeTags) {
    const std::string v1 = repo_.rev("v1"), outer = repo_.rev("v1-outer"), v2 = repo_.rev("v2"),
                      tree_tag = repo_.rev("tree-tag"), blob_tag = repo_.rev("blob-tag"),
                      light = repo_.rev("light");
    const std::vector<std::string> tags = {v1, outer, v2, tree_tag, blob_tag, light};
    // v1 is a dozen commits below main: a fetch since main~16 brings its commit, so v1 and
    // v1-outer (through v1) come along; a fetch since main~10 does not.
    auto base = test::rev_list_objects(repo_.path(), {repo_.rev("main")}, {repo_.rev("main~16")});
    auto got = run({repo_.rev("main")}, {repo_.rev("main~16")}, tags);
    ASSERT_TRUE(base.count(repo_.rev("v1^{commit}")));
    EXPECT_TRUE(got.count(v1));
    EXPECT_TRUE(got.count(outer));
    EXPECT_TRUE(got.count(v2));
    EXPECT_FALSE(got.count(light)) << "a lightweight tag is a commit, not a tag to include";
    std::set<std::string> extra;
    for (const auto &o : got)
        if (!base.count(o))
            extra.insert(o);
    for (const auto &o : extra)
        EXPECT_TRUE(o == v1 || o == outer || o == v2 || o == tree_tag || o == blob_tag) << o;

    auto later = run({repo_.rev("main")}, {repo_.rev("main~10")}, tags);
    EXPECT_FALSE(later.count(v1));
    EXPECT_FALSE(later.count(outer));
    EXPECT_TRUE(later.count(v2));
    // An unknown include-tag is ignored.
    EXPECT_NO_THROW(run({repo_.rev("main")}, {}, {"0123456789012345678901234567890123456789"}));
}

} // namespace
} // namespace gsh::pack

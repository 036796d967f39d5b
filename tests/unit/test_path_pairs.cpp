#include "walk/path_pairs.h"

#include <gtest/gtest.h>

#include <string>

#include "fixture.h"
#include "odb/pack_index.h"
#include "test_pack_repo.h"

namespace gsh::pack {
namespace {

using test::sh;

class PathPairsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        work_.run("git init -q -b main r && cd r && git config gc.auto 0 && "
                  "mkdir -p d/e && echo one > d/e/f && echo keep > k && echo t > turns && "
                  "echo gone > gone && git add -A && git commit -qm root && "
                  // f and its trees change, k does not, turns becomes a
                  // tree, gone is renamed, new is added.
                  "echo two > d/e/f && rm turns && mkdir turns && echo x > turns/x && "
                  "git mv gone renamed && echo new > new && git add -A && git commit -qm second");
        path_ = work_.str() + "/r/.git";
    }
    std::string rev(const std::string &r) {
        return test::split_lines(work_.run("git -C r rev-parse " + r))[0];
    }
    // What oid of rev a was paired with, "" for nothing.
    std::string base_of(const PathPairs &pairs, const std::string &a) {
        const git_oid *b = pairs.base_of(test::to_oid(rev(a)));
        return b ? test::to_hex(*b) : "";
    }

    test::TempDir work_;
    std::string path_;
};

TEST_F(PathPairsTest, PairsWhatChangedAtTheSamePath) {
    RepoPtr repo = test::open_repo(path_);
    PackSet packs(repo.get());
    ObjectParser objects(repo.get(), packs);
    PathPairs pairs;
    pairs.add_commit(objects, test::to_oid(rev("main")));
    EXPECT_EQ(base_of(pairs, "main:d/e/f"), rev("main~1:d/e/f"));
    EXPECT_EQ(base_of(pairs, "main:d/e"), rev("main~1:d/e"));
    EXPECT_EQ(base_of(pairs, "main:d"), rev("main~1:d"));
    EXPECT_EQ(base_of(pairs, "main^{tree}"), rev("main~1^{tree}"));
    EXPECT_EQ(base_of(pairs, "main:k"), "") << "unchanged";
    EXPECT_EQ(base_of(pairs, "main:turns"), "") << "a blob became a tree";
    EXPECT_EQ(base_of(pairs, "main:renamed"), "") << "no rename detection";
    EXPECT_EQ(base_of(pairs, "main:new"), "");
    EXPECT_EQ(pairs.size(), 4u);
}

// git sorts a tree "a" as "a/": after "a-b" and "a.c", where a plain sort
// of names puts it first. Both sides are walked in git's order.
TEST_F(PathPairsTest, NamesAroundATreeOfTheSamePrefix) {
    // Each file's content names it: no two blobs are the same object.
    work_.run("cd r && mkdir a && for f in a/x a-b a.c a0; do echo 1 $f > $f; done && "
              "git add -A && git commit -qm prefixes && "
              "for f in a/x a-b a.c a0; do echo 2 $f > $f; done && git add -A && "
              "git commit -qm changed");
    RepoPtr repo = test::open_repo(path_);
    PackSet packs(repo.get());
    ObjectParser objects(repo.get(), packs);
    PathPairs pairs;
    pairs.add_commit(objects, test::to_oid(rev("main")));
    for (const char *path : {"a/x", "a", "a-b", "a.c", "a0"})
        EXPECT_EQ(base_of(pairs, std::string("main:") + path), rev(std::string("main~1:") + path))
            << path;
    EXPECT_EQ(pairs.size(), 6u); // and the root tree
}

TEST_F(PathPairsTest, RootCommitPairsNothing) {
    RepoPtr repo = test::open_repo(path_);
    PackSet packs(repo.get());
    ObjectParser objects(repo.get(), packs);
    PathPairs pairs;
    pairs.add_commit(objects, test::to_oid(rev("main~1")));
    EXPECT_EQ(pairs.size(), 0u);
}

TEST_F(PathPairsTest, StopsAtItsLimit) {
    RepoPtr repo = test::open_repo(path_);
    PackSet packs(repo.get());
    ObjectParser objects(repo.get(), packs);
    PathPairs pairs(2);
    pairs.add_commit(objects, test::to_oid(rev("main")));
    EXPECT_EQ(pairs.size(), 2u);
    EXPECT_TRUE(pairs.full());
    EXPECT_EQ(base_of(pairs, "main^{tree}"), rev("main~1^{tree}"));
}

// A commit whose parent the repository lacks (beyond a shallow boundary)
// pairs nothing instead of failing.
TEST_F(PathPairsTest, MissingParentPairsNothing) {
    work_.run("git clone -q --depth 1 --no-local r s");
    RepoPtr repo = test::open_repo(work_.str() + "/s/.git");
    PackSet packs(repo.get());
    ObjectParser objects(repo.get(), packs);
    PathPairs pairs;
    pairs.add_commit(objects, test::to_oid(rev("main")));
    EXPECT_EQ(pairs.size(), 0u);
}

} // namespace
} // namespace gsh::pack

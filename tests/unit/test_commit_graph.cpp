// The commit-graph reader and ObjectParser's use of it, against git's own
// answers (git log) for every commit: single file, split chains, octopus
// merges, generation numbers, commits newer than the graph, damaged and
// lying files, and the settings under which git reads no graph.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/commit_graph.h"
#include "odb/pack_index.h"
#include "test_pack_repo.h"
#include "util/git_ptr.h"
#include "util/sha1.h"
#include "walk/object_walk.h"

namespace gsh::pack {
namespace {

using test::sh;

struct Truth {
    std::string tree;
    int64_t date = 0;
    std::vector<std::string> parents;
};

// History with merges of two and of four parents (an EDGE list), a commit
// dated far before its parent (a corrected date that needs GDO2), and tags
// s1 < s2 < s3 marking three stages; main goes one commit past s3.
void make_history(const test::TempDir &d) {
    d.run("git init -q -b main w && cd w && "
          "c() { echo \"$1\" > \"f$2\" && git add . && "
          "GIT_COMMITTER_DATE=\"@$1 +0000\" GIT_AUTHOR_DATE=\"@$1 +0000\" "
          "git commit -qm \"$2\"; } && "
          "for i in 1 2 3 4 5; do c $((1500000000 + i)) m$i; done && git tag s1 && "
          "for b in a b d; do git checkout -q -b $b main~2 && c 1500000100 $b; done && "
          "git checkout -q main && c 1500000200 m6 && "
          "GIT_COMMITTER_DATE='@1500000300 +0000' git merge -q --no-edit -m oct a b d && "
          "git tag s2 && git checkout -q -b skew main~1 && c 4000000000 future && "
          "c 100000000 past && git checkout -q main && "
          "GIT_COMMITTER_DATE='@1500000400 +0000' git merge -q --no-edit -m two skew && "
          "c 1500000500 m7 && git tag s3 && c 1500000600 m8 && cd .. && "
          "git clone -q --bare w r.git");
}

std::map<std::string, Truth> truth(const std::string &repo) {
    std::map<std::string, Truth> out;
    for (const auto &line : test::split_lines(sh("git -c core.commitGraph=false --git-dir='" +
                                                 repo + "' log --all --format='%H %T %ct %P'"))) {
        std::istringstream in(line);
        std::string id;
        Truth t;
        in >> id >> t.tree >> t.date;
        for (std::string p; in >> p;)
            t.parents.push_back(p);
        out[id] = t;
    }
    return out;
}

class CommitGraphTest : public ::testing::Test {
  protected:
    void SetUp() override {
        git_libgit2_init();
        make_history(dir_);
    }
    void TearDown() override { git_libgit2_shutdown(); }

    std::string repo() const { return dir_.str() + "/r.git"; }
    std::string objects() const { return repo() + "/objects"; }
    void git(const std::string &args) const { sh("git --git-dir='" + repo() + "' " + args); }

    // Checks the graph's answers for every commit it lists against git's,
    // and that a parent's generation is below its child's. Returns how many
    // commits the graph answered.
    size_t check_graph(const CommitGraph &g) const {
        size_t found = 0;
        std::map<std::string, Truth> all = truth(repo());
        for (const auto &[id, t] : all) {
            uint32_t pos;
            if (!g.find(test::to_oid(id), &pos))
                continue;
            found++;
            git_oid tree;
            std::vector<git_oid> parents;
            int64_t date = -1;
            EXPECT_TRUE(g.commit(pos, &tree, &parents, &date)) << id;
            EXPECT_EQ(test::to_hex(tree), t.tree) << id;
            EXPECT_EQ(date, t.date) << id;
            std::vector<std::string> hex;
            for (const git_oid &p : parents) {
                hex.push_back(test::to_hex(p));
                uint32_t ppos;
                EXPECT_TRUE(g.find(p, &ppos));
                EXPECT_LT(g.generation(ppos), g.generation(pos)) << id;
            }
            EXPECT_EQ(hex, t.parents) << id;
            EXPECT_GT(g.generation(pos), 0u);
        }
        return found;
    }

    // ObjectParser's answers, both overloads, for every commit; returns
    // whether it used a graph.
    bool check_parser() const {
        git_repository *raw = nullptr;
        git_check(git_repository_open_bare(&raw, repo().c_str()), "open");
        RepoPtr r(raw);
        PackSet packs(r.get());
        ObjectParser parser(r.get(), packs);
        if (truth_.empty()) // before any grafts or shallow file, which git log would follow
            truth_ = truth(repo());
        for (const auto &[id, t] : truth_) {
            git_oid tree, tree2;
            std::vector<git_oid> parents, parents2;
            int64_t date = -1;
            parser.parse_commit(test::to_oid(id), &tree, &parents, &date);
            parser.parse_commit(test::to_oid(id), &tree2, &parents2);
            EXPECT_EQ(test::to_hex(tree), t.tree) << id;
            EXPECT_EQ(test::to_hex(tree2), t.tree) << id;
            EXPECT_EQ(date, t.date) << id;
            std::vector<std::string> hex, hex2;
            for (const git_oid &p : parents)
                hex.push_back(test::to_hex(p));
            for (const git_oid &p : parents2)
                hex2.push_back(test::to_hex(p));
            EXPECT_EQ(hex, t.parents) << id;
            EXPECT_EQ(hex2, t.parents) << id;
        }
        return parser.commit_graph() != nullptr;
    }

    test::TempDir dir_;
    mutable std::map<std::string, Truth> truth_;
};

TEST_F(CommitGraphTest, SingleFileAnswersEveryCommitAsGitDoes) {
    git("commit-graph write --reachable");
    std::unique_ptr<CommitGraph> g = CommitGraph::open(objects());
    ASSERT_TRUE(g);
    EXPECT_EQ(g->layers(), 1u);
    EXPECT_TRUE(g->corrected_dates());
    const size_t commits = truth(repo()).size();
    EXPECT_EQ(g->size(), commits);
    EXPECT_EQ(check_graph(*g), commits);
    EXPECT_TRUE(check_parser());
}

TEST_F(CommitGraphTest, TopologicalLevelsWithoutCorrectedDates) {
    git("-c commitGraph.generationVersion=1 commit-graph write --reachable");
    std::unique_ptr<CommitGraph> g = CommitGraph::open(objects());
    ASSERT_TRUE(g);
    EXPECT_FALSE(g->corrected_dates());
    EXPECT_EQ(check_graph(*g), truth(repo()).size());
    uint32_t pos;
    const std::string root =
        test::split_lines(sh("git --git-dir='" + repo() + "' rev-list --max-parents=0 main"))[0];
    ASSERT_TRUE(g->find(test::to_oid(root), &pos));
    EXPECT_EQ(g->generation(pos), 1u);
}

TEST_F(CommitGraphTest, SplitChainOfThreeLayersAndACommitNewerThanIt) {
    for (const char *stage : {"s1", "s2", "s3"})
        sh("git --git-dir='" + repo() + "' rev-parse " + stage + " | git --git-dir='" + repo() +
           "' commit-graph write --split=no-merge --stdin-commits");
    ASSERT_EQ(test::split_lines(sh("cat '" + objects() + "/info/commit-graphs/commit-graph-chain'"))
                  .size(),
              3u);
    std::unique_ptr<CommitGraph> g = CommitGraph::open(objects());
    ASSERT_TRUE(g);
    EXPECT_EQ(g->layers(), 3u);
    const size_t in_graph =
        test::split_lines(sh("git --git-dir='" + repo() + "' rev-list s3")).size();
    EXPECT_EQ(g->size(), in_graph);
    EXPECT_EQ(check_graph(*g), in_graph);
    uint32_t pos;
    EXPECT_FALSE(g->find(
        test::to_oid(sh("git --git-dir='" + repo() + "' rev-parse main").substr(0, 40)), &pos));
    EXPECT_TRUE(check_parser());

    // A damaged top layer: the two below it still serve.
    const std::string top =
        test::split_lines(sh("cat '" + objects() + "/info/commit-graphs/commit-graph-chain'"))[2];
    sh("printf 'X' | dd of='" + objects() + "/info/commit-graphs/graph-" + top +
       ".graph' bs=1 seek=200 conv=notrunc 2>/dev/null");
    g = CommitGraph::open(objects());
    ASSERT_TRUE(g);
    EXPECT_EQ(g->layers(), 2u);
    EXPECT_EQ(check_graph(*g), g->size());
    EXPECT_TRUE(check_parser());
}

TEST_F(CommitGraphTest, TruncatedOrDamagedFileIsRefused) {
    git("commit-graph write --reachable");
    const std::string file = objects() + "/info/commit-graph";
    sh("cp '" + file + "' '" + dir_.str() + "/good' && chmod u+w '" + file + "'");
    for (const std::string &spoil :
         {"truncate -s 100 '" + file + "'", "truncate -s 0 '" + file + "'",
          "printf '\\377\\377' | dd of='" + file + "' bs=1 seek=30 conv=notrunc 2>/dev/null",
          "printf 'Z' | dd of='" + file + "' bs=1 seek=600 conv=notrunc 2>/dev/null"}) {
        sh("cp '" + dir_.str() + "/good' '" + file + "' && " + spoil);
        EXPECT_FALSE(CommitGraph::open(objects())) << spoil;
        EXPECT_FALSE(check_parser()) << spoil;
    }
}

// A graph whose checksum holds but whose parent positions point nowhere:
// those commits are parsed from the objects instead.
TEST_F(CommitGraphTest, LyingParentPositionsFallBackToTheObject) {
    git("commit-graph write --reachable");
    const std::string file = objects() + "/info/commit-graph";
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    auto be = [&](size_t at, int n) {
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
            v = v << 8 | uint8_t(bytes[at + size_t(i)]);
        return v;
    };
    size_t cdat = 0;
    for (size_t e = 8; be(e, 4) != 0; e += 12)
        if (bytes.compare(e, 4, "CDAT") == 0)
            cdat = size_t(be(e + 4, 8));
    ASSERT_NE(cdat, 0u);
    for (size_t i = 0; i < 3; i++) // first parent of the first three commits
        bytes.replace(cdat + i * 36 + 20, 4, "\x6f\xff\xff\xff", 4);
    const Sha1::Digest sum = Sha1::of(bytes.data(), bytes.size() - 20);
    bytes.replace(bytes.size() - 20, 20, reinterpret_cast<const char *>(sum.data()), 20);
    sh("chmod u+w '" + file + "'");
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;

    std::unique_ptr<CommitGraph> g = CommitGraph::open(objects());
    ASSERT_TRUE(g);
    git_oid tree;
    std::vector<git_oid> parents;
    EXPECT_FALSE(g->commit(0, &tree, &parents, nullptr));
    EXPECT_TRUE(check_parser());
}

TEST_F(CommitGraphTest, NotReadWhereGitReadsNone) {
    git("commit-graph write --reachable");
    ASSERT_TRUE(check_parser());
    git("config core.commitGraph false");
    EXPECT_FALSE(check_parser());
    git("config core.commitGraph true");
    ASSERT_TRUE(check_parser());
    sh("mkdir -p '" + repo() + "/info' && git --git-dir='" + repo() + "' rev-parse s1 > '" +
       repo() + "/info/grafts'");
    EXPECT_FALSE(check_parser());
    sh("rm '" + repo() + "/info/grafts' && git --git-dir='" + repo() + "' rev-parse s1 > '" +
       repo() + "/shallow'");
    EXPECT_FALSE(check_parser());
}

} // namespace
} // namespace gsh::pack

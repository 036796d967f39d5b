// CommitMemo: ObjectParser answers a commit it parsed before on the same
// packs from the memo (even once the object is gone), with the date only
// when the date was read; the memo stops growing at its bound.
#include "walk/commit_memo.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture.h"
#include "test_pack_repo.h"
#include "walk/object_walk.h"

namespace gsh::pack {
namespace {

using test::sh;

TEST(CommitMemoTest, ASecondParseOnTheSamePacksIsAnsweredByTheMemo) {
    test::TempDir work;
    const std::string dir = work.str() + "/r";
    sh("git init -q '" + dir + "' && cd '" + dir +
       "' && git commit -q --allow-empty -m one && git commit -q --allow-empty -m two");
    const git_oid head = test::to_oid(sh("git -C '" + dir + "' rev-parse HEAD"));
    const git_oid parent = test::to_oid(sh("git -C '" + dir + "' rev-parse HEAD~1"));
    RepoPtr repo = test::open_repo(dir + "/.git");
    PackSet packs(repo.get());
    const CommitMemo &memo = packs.memo<CommitMemo>();
    git_oid tree, again;
    std::vector<git_oid> parents;
    int64_t date = 0, date_again = 0;
    ObjectParser(repo.get(), packs).parse_commit(head, &tree, &parents);
    EXPECT_GT(memo.bytes(), 0u);
    EXPECT_EQ(memo.hits(), 0u);

    ObjectParser later(repo.get(), packs);
    parents.clear();
    later.parse_commit(head, &again, &parents);
    EXPECT_EQ(memo.hits(), 1u);
    EXPECT_TRUE(git_oid_equal(&again, &tree));
    ASSERT_EQ(parents.size(), 1u);
    EXPECT_TRUE(git_oid_equal(&parents[0], &parent));
    // The date was not read the first time: read now, and kept.
    later.parse_commit(head, &again, &parents, &date);
    EXPECT_EQ(memo.hits(), 1u);
    EXPECT_GT(date, 0);
    later.parse_commit(head, &again, &parents, &date_again);
    EXPECT_EQ(memo.hits(), 2u);
    EXPECT_EQ(date_again, date);
    // Other packs have a memo of their own.
    PackSet other(repo.get());
    ObjectParser(repo.get(), other).parse_commit(head, &again, &parents);
    EXPECT_EQ(other.memo<CommitMemo>().hits(), 0u);
}

TEST(CommitMemoTest, KeepsDatesWhenReadAndStopsAtItsBound) {
    CommitMemo memo;
    git_oid id{}, tree{}, got;
    std::vector<git_oid> parents(2), out;
    int64_t date = 0;
    const int64_t when = 1700000000;
    memo.keep(id, tree, parents, nullptr);
    EXPECT_TRUE(memo.find(id, &got, &out, nullptr));
    EXPECT_EQ(out.size(), 2u);
    EXPECT_FALSE(memo.find(id, &got, &out, &date));
    memo.keep(id, tree, parents, &when);
    ASSERT_TRUE(memo.find(id, &got, &out, &date));
    EXPECT_EQ(date, when);
    for (uint32_t i = 1; i <= CommitMemo::kMaxCommits; i++) {
        std::memcpy(id.id, &i, sizeof i);
        memo.keep(id, tree, {}, nullptr);
    }
    EXPECT_FALSE(memo.find(id, &got, &out, nullptr)) << "kept past its bound";
    const uint32_t last = CommitMemo::kMaxCommits - 1;
    std::memset(id.id, 0, sizeof id.id);
    std::memcpy(id.id, &last, sizeof last);
    EXPECT_TRUE(memo.find(id, &got, &out, nullptr));
}

} // namespace
} // namespace gsh::pack

// The clone memo: a repeat clone of the same refs on the same packs is
// answered from the first count, anything else is counted.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/bitmap_order.h"
#include "odb/pack_index.h"
#include "test_pack_repo.h"
#include "walk/clone_memo.h"
#include "walk/enumerate.h"

namespace gsh::pack {
namespace {

using test::sh;

class CloneMemoTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = work_.str() + "/m.git";
        sh("git clone -q --bare '" + test::PackRepo::get().path() + "' '" + path_ +
           "' && git -C '" + path_ + "' repack -adbq");
        repo_ = test::open_repo(path_);
        packs_ = std::make_shared<const PackSet>(repo_.get());
    }
    EnumerateInput input(const std::vector<std::string> &wants,
                         const std::vector<std::string> &haves = {}) {
        EnumerateInput in;
        for (const auto &w : wants)
            in.wants.push_back(test::to_oid(rev(w)));
        for (const auto &h : haves)
            in.haves.push_back(test::to_oid(rev(h)));
        return in;
    }
    std::string rev(const std::string &r) {
        return test::split_lines(sh("git --git-dir='" + path_ + "' rev-parse '" + r + "'"))[0];
    }
    std::set<std::string> count(const std::shared_ptr<const PackSet> &packs,
                                const EnumerateInput &in) {
        return test::hex_set(enumerate_objects(repo_.get(), packs, in, nullptr).list());
    }

    test::TempDir work_;
    std::string path_;
    RepoPtr repo_;
    std::shared_ptr<const PackSet> packs_;
};

TEST_F(CloneMemoTest, RepeatCloneIsAnsweredFromTheFirstCount) {
    CloneMemo &memo = CloneMemo::process();
    const EnumerateInput clone = input({"main", "side", "v1"});
    const auto first = count(packs_, clone);
    const uint64_t hits = memo.hits();
    EXPECT_EQ(count(packs_, clone), first);
    EXPECT_EQ(memo.hits(), hits + 1);
    // The same wants in another order, listed twice: the same request.
    EXPECT_EQ(count(packs_, input({"v1", "main", "side", "main"})), first);
    EXPECT_EQ(memo.hits(), hits + 2);
    EXPECT_EQ(first, test::rev_list_objects(path_, {rev("main"), rev("side"), rev("v1")}, {}));
}

TEST_F(CloneMemoTest, OtherRequestsAndNewPacksAreCounted) {
    CloneMemo &memo = CloneMemo::process();
    count(packs_, input({"main"}));
    const uint64_t hits = memo.hits();
    // Other wants, a fetch, a sparse filter (its blob-ish may name a ref).
    EXPECT_EQ(count(packs_, input({"main~1"})), test::rev_list_objects(path_, {rev("main~1")}, {}));
    const EnumerateInput fetch = input({"main"}, {"main~2"});
    EXPECT_EQ(count(packs_, fetch), test::rev_list_objects(path_, {rev("main")}, {rev("main~2")}));
    count(packs_, fetch);
    EnumerateInput sparse = input({"main"});
    std::string error;
    ASSERT_TRUE(parse_filter("sparse:oid=" + rev("main") + ":f", &sparse.filter, &error));
    EnumerateInput combined = input({"main"});
    ASSERT_TRUE(parse_filter("combine:blob:none+sparse:oid=main:f", &combined.filter, &error));
    EXPECT_FALSE(CloneMemo::applies(sparse));
    EXPECT_FALSE(CloneMemo::applies(combined));
    EXPECT_FALSE(CloneMemo::applies(fetch));
    EXPECT_EQ(memo.hits(), hits);
}

// A partial clone is kept by its filter: the same filter finds it, another
// (or none) does not.
TEST_F(CloneMemoTest, PartialClonesAreKeptByTheirFilter) {
    CloneMemo &memo = CloneMemo::process();
    auto filtered = [&](const std::string &spec) {
        EnumerateInput in = input({"main", "side"});
        std::string error;
        EXPECT_TRUE(parse_filter(spec, &in.filter, &error)) << error;
        return in;
    };
    const auto git = [&](const std::string &spec) {
        const std::vector<std::string> lines = test::split_lines(
            sh("git --git-dir='" + path_ +
               "' rev-list --objects --no-object-names --filter=" + spec + " main side"));
        return std::set<std::string>(lines.begin(), lines.end());
    };
    const auto blobless = count(packs_, filtered("blob:none"));
    EXPECT_EQ(blobless, git("blob:none"));
    uint64_t hits = memo.hits();
    EXPECT_EQ(count(std::make_shared<const PackSet>(repo_.get()), filtered("blob:none")), blobless);
    EXPECT_EQ(memo.hits(), ++hits);
    EXPECT_EQ(count(packs_, filtered("tree:0")), git("tree:0"));
    EXPECT_EQ(count(packs_, filtered("blob:limit=1")), git("blob:limit=1"));
    EXPECT_EQ(memo.hits(), hits) << "other filters";
    EXPECT_EQ(count(packs_, filtered("tree:0")), git("tree:0"));
    EXPECT_EQ(memo.hits(), ++hits);
    EXPECT_EQ(count(packs_, input({"main", "side"})),
              test::rev_list_objects(path_, {rev("main"), rev("side")}, {}));
    EXPECT_EQ(memo.hits(), hits) << "no filter";
}

// The repository cache may let a pack set go between two clones: the same
// packs read again find the count, which then ranks objects in the new
// set's bitmap order.
TEST_F(CloneMemoTest, SamePacksReadAgainFindTheCount) {
    CloneMemo &memo = CloneMemo::process();
    const EnumerateInput clone = input({"main", "side"});
    const auto first = count(packs_, clone);
    const uint64_t hits = memo.hits();
    auto again = std::make_shared<const PackSet>(repo_.get());
    packs_.reset();
    Enumeration kept = enumerate_objects(repo_.get(), again, clone, nullptr);
    EXPECT_EQ(memo.hits(), hits + 1);
    EXPECT_EQ(test::hex_set(kept.list()), first);
    const BitmapOrder *order = nullptr, *ours = nullptr;
    ASSERT_TRUE(kept.pack_objects(&order));
    again->bitmap(&ours);
    EXPECT_EQ(order, ours) << "the copy ranks in the pack set it was found for";
}

// A pack added beside the bitmapped one (a push) changes no clone of the
// same wants; a repack writes another bitmap, and another repository is
// another key, even with the same packs.
TEST_F(CloneMemoTest, OnlyAnotherBitmapOrRepositoryCountsAnew) {
    CloneMemo &memo = CloneMemo::process();
    const EnumerateInput clone = input({"main"});
    const auto first = count(packs_, clone);
    uint64_t hits = memo.hits();
    sh("cd '" + work_.str() + "' && git clone -q '" + path_ + "' w && cd w && " +
       "git commit -q --allow-empty -m more && git push -q origin HEAD:refs/heads/more && " +
       "git -C '" + path_ + "' repack -dq --no-write-bitmap-index");
    ASSERT_EQ(test::split_lines(sh("ls '" + path_ + "/objects/pack/' | grep -c '\\.pack$'"))[0],
              "2");
    EXPECT_EQ(count(std::make_shared<const PackSet>(repo_.get()), clone), first);
    EXPECT_EQ(memo.hits(), ++hits);
    const EnumerateInput more = input({"main", "more"});
    EXPECT_EQ(count(std::make_shared<const PackSet>(repo_.get()), more),
              test::rev_list_objects(path_, {rev("main"), rev("more")}, {}));
    EXPECT_EQ(memo.hits(), hits);

    sh("git -C '" + path_ + "' repack -adbq");
    RepoPtr repacked = test::open_repo(path_);
    EXPECT_EQ(count(std::make_shared<const PackSet>(repacked.get()), clone), first);
    EXPECT_EQ(memo.hits(), hits) << "another bitmap: its ranks differ";

    const std::string copy = work_.str() + "/copy.git";
    sh("cp -r '" + path_ + "' '" + copy + "'");
    RepoPtr other = test::open_repo(copy);
    EXPECT_EQ(
        test::hex_set(enumerate_objects(other.get(), std::make_shared<const PackSet>(other.get()),
                                        clone, nullptr)
                          .list()),
        first);
    EXPECT_EQ(memo.hits(), hits) << "another repository";
}

TEST_F(CloneMemoTest, KeepsAtMostItsEntriesAndNothingTooLarge) {
    CloneMemo memo(2, size_t(1) << 20);
    RepoPtr other = test::open_repo(path_);
    for (const char *w : {"main", "side", "v1"}) {
        const EnumerateInput in = input({w});
        memo.keep(packs_, in, enumerate_objects(repo_.get(), packs_, in, nullptr));
    }
    EXPECT_EQ(memo.size(), 2u);
    EXPECT_FALSE(memo.find(packs_, input({"main"}), other.get())) << "the oldest stays";
    std::optional<Enumeration> hit = memo.find(packs_, input({"v1"}), other.get());
    ASSERT_TRUE(hit);
    EXPECT_EQ(test::hex_set(hit->list()), test::rev_list_objects(path_, {rev("v1")}, {}));
    // Two counts that do not fit together: the older goes.
    const size_t one =
        enumerate_objects(repo_.get(), packs_, input({"main"}), nullptr).memory_bytes();
    CloneMemo pair(4, one + one / 2);
    pair.keep(packs_, input({"main"}),
              enumerate_objects(repo_.get(), packs_, input({"main"}), nullptr));
    pair.keep(packs_, input({"main", "side"}),
              enumerate_objects(repo_.get(), packs_, input({"main", "side"}), nullptr));
    EXPECT_EQ(pair.size(), 1u);
    EXPECT_FALSE(pair.find(packs_, input({"main"}), other.get()));
    CloneMemo tiny(2, 16);
    tiny.keep(packs_, input({"main"}),
              enumerate_objects(repo_.get(), packs_, input({"main"}), nullptr));
    EXPECT_EQ(tiny.size(), 0u);
}

// A kept count holds no pack set: the repository cache alone bounds their
// memory and open pack files.
TEST_F(CloneMemoTest, KeepsNoPackSetAlive) {
    CloneMemo memo(4, size_t(1) << 20);
    auto packs = std::make_shared<const PackSet>(repo_.get());
    const std::weak_ptr<const PackSet> weak = packs;
    const EnumerateInput in = input({"main"});
    memo.keep(packs, in, enumerate_objects(repo_.get(), packs, in, nullptr));
    EXPECT_TRUE(memo.find(packs, in, repo_.get()));
    packs.reset();
    EXPECT_TRUE(weak.expired()) << "the memo keeps the pack set (and its open files)";
}

} // namespace
} // namespace gsh::pack

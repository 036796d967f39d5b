// PlanMemo: a repeat clone on the same packs shares the plan kept with them,
// and writes the very bytes that planning again would; fetches keep none.
#include "pack/plan_memo.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fixture.h"
#include "pack/pack_writer.h"
#include "test_pack_repo.h"

namespace gsh::pack {
namespace {

using test::PackRepo;
using test::sh;

class PlanMemoTest : public ::testing::Test {
  protected:
    void SetUp() override {
        repo_ = test::open_repo(PackRepo::get().path());
        packs_ = std::make_shared<const PackSet>(repo_.get());
        wants_ = test::oids_of(test::split_lines(sh("git --git-dir='" + PackRepo::get().path() +
                                                    "' for-each-ref --format='%(objectname)'")));
    }
    PackPlan plan(const std::vector<git_oid> &haves = {}, PackOptions options = {true, false}) {
        EnumerateInput in;
        in.wants = wants_;
        in.haves = haves;
        return PackPlan(repo_.get(), enumerate_objects(repo_.get(), packs_, in, nullptr), options);
    }
    size_t kept() const { return packs_->memo<PlanMemo>().bytes(); }

    RepoPtr repo_;
    std::shared_ptr<const PackSet> packs_;
    std::vector<git_oid> wants_;
};

// The clone that plans it keeps its plan without a copy of its own, and a
// repeat clone shares that one.
TEST_F(PlanMemoTest, ARepeatCloneSharesThePlanAndWritesTheSameBytes) {
    EXPECT_EQ(kept(), 0u);
    PackPlan first = plan();
    const std::vector<PlanEntry> *planned = &first.entries();
    const size_t after_first = kept();
    EXPECT_GE(after_first, planned->size() * sizeof(PlanEntry)) << "the clone's plan was not kept";
    const std::string bytes = test::write_pack(std::move(first));
    PackPlan second = plan();
    EXPECT_EQ(packs_->memo<PlanMemo>().hits(), 1u);
    EXPECT_EQ(&second.entries(), planned) << "the kept plan was copied";
    EXPECT_EQ(kept(), after_first) << "kept twice";
    EXPECT_EQ(test::write_pack(std::move(second)), bytes);
}

// Clones in flight at once hold one copy of the kept plan between them, not
// one each (10 MB each for 330k objects), and writing one leaves it as it
// was for the others.
TEST_F(PlanMemoTest, ClonesInFlightShareTheKeptPlan) {
    const std::string alone = test::write_pack(plan());
    PackWriter a(plan()), b(plan());
    EXPECT_EQ(&a.plan().entries(), &b.plan().entries()) << "each clone copied the plan";
    std::string got_a, got_b;
    std::vector<uint8_t> buf(4096);
    for (bool more = true; more;) {
        more = false;
        for (auto [w, out] : {std::pair{&a, &got_a}, std::pair{&b, &got_b}})
            if (const size_t n = w->read(buf.data(), buf.size())) {
                out->append(reinterpret_cast<const char *>(buf.data()), n);
                more = true;
            }
    }
    EXPECT_EQ(got_a, alone);
    EXPECT_EQ(got_b, alone);
}

TEST_F(PlanMemoTest, FetchesAreNotKeptAndOtherOptionsAreKeptApart) {
    const std::vector<git_oid> have = test::oids_of({PackRepo::get().rev("HEAD~3")});
    plan(have);
    EXPECT_EQ(kept(), 0u) << "a fetch's plan depends on what the client has";
    plan();
    const size_t one = kept();
    plan({}, PackOptions{false, false});
    EXPECT_GT(kept(), one) << "without ofs-delta, another plan";
}

TEST(PlanMemoSlots, TheLeastRecentlyUsedGoesFirst) {
    PlanMemo memo;
    auto plan_of = [](size_t n) {
        auto p = std::make_shared<PlanMemo::Plan>();
        p->entries = std::make_shared<const std::vector<PlanEntry>>(n);
        return p;
    };
    std::vector<PlanMemo::Key> keys(5);
    for (size_t i = 0; i < keys.size(); i++)
        keys[i][0] = uint8_t(i + 1);
    for (size_t i = 0; i < 4; i++)
        memo.keep(keys[i], plan_of(i + 1));
    EXPECT_EQ(memo.bytes(), 10 * sizeof(PlanEntry));
    ASSERT_NE(memo.find(keys[0]), nullptr); // keys[1] is now the oldest
    memo.keep(keys[4], plan_of(5));
    EXPECT_EQ(memo.find(keys[1]), nullptr);
    for (size_t i : {0, 2, 3, 4})
        EXPECT_NE(memo.find(keys[i]), nullptr) << i;
    EXPECT_EQ(memo.bytes(), (1 + 3 + 4 + 5) * sizeof(PlanEntry));
}

} // namespace
} // namespace gsh::pack

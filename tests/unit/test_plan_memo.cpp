// PlanMemo: a repeat clone on the same packs shares the plan kept with them,
// and writes the very bytes that planning again would; fetches keep none.
#include "pack/plan_memo.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fixture.h"
#include "pack/pack_writer.h"
#include "test_pack_repo.h"
#include "util/error.h"

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

// Identical clones planned at once on four threads end with one plan
// between them, each claim released.
TEST_F(PlanMemoTest, IdenticalClonesAtOnceEndWithOnePlan) {
    constexpr size_t kClones = 4;
    std::vector<RepoPtr> repos; // a handle each, as requests have
    for (size_t i = 0; i < kClones; i++)
        repos.push_back(test::open_repo(PackRepo::get().path()));
    std::vector<std::optional<PackPlan>> plans(kClones);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < kClones; i++)
        threads.emplace_back([&, i] {
            EnumerateInput in;
            in.wants = wants_;
            git_repository *r = repos[i].get();
            plans[i].emplace(r, enumerate_objects(r, packs_, in, nullptr),
                             PackOptions{true, false});
        });
    for (std::thread &t : threads)
        t.join();
    for (const auto &p : plans)
        EXPECT_EQ(&p->entries(), &plans[0]->entries());
    EXPECT_EQ(packs_->memo<PlanMemo>().hits(), kClones - 1) << "planned more than once";
}

// A clone stopped while it plans (its checkpoint throws) ends its claim:
// the next identical clone plans at once instead of waiting for it.
TEST_F(PlanMemoTest, AStoppedPlanEndsItsClaim) {
    EnumerateInput in;
    in.wants = wants_;
    const PackOptions options{true, false};
    const PlanMemo::Key key =
        *PlanMemo::key_of(enumerate_objects(repo_.get(), packs_, in, nullptr), options);
    EXPECT_THROW(PackPlan(repo_.get(), enumerate_objects(repo_.get(), packs_, in, nullptr), options,
                          [] { throw Error("stopped"); }),
                 Error);
    bool claimed = false;
    const auto waited = [] { throw Error("waited for the stopped plan's claim"); };
    EXPECT_NO_THROW(
        EXPECT_EQ(packs_->memo<PlanMemo>().find_or_claim(key, waited, &claimed), nullptr));
    EXPECT_TRUE(claimed);
    packs_->memo<PlanMemo>().release(key);
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

std::shared_ptr<PlanMemo::Plan> plan_of(size_t n) {
    auto p = std::make_shared<PlanMemo::Plan>();
    p->entries = std::make_shared<const std::vector<PlanEntry>>(n);
    return p;
}

TEST(PlanMemoSlots, TheLeastRecentlyUsedGoesFirst) {
    PlanMemo memo;
    constexpr size_t kSlots = PlanMemo::kSlots;
    constexpr size_t kAll = kSlots * (kSlots + 1) / 2; // plans of 1..kSlots entries
    std::vector<PlanMemo::Key> keys(kSlots + 1);
    for (size_t i = 0; i < keys.size(); i++)
        keys[i][0] = uint8_t(i + 1);
    for (size_t i = 0; i < kSlots; i++)
        memo.keep(keys[i], plan_of(i + 1));
    EXPECT_EQ(memo.bytes(), kAll * sizeof(PlanEntry));
    ASSERT_NE(memo.find(keys[0]), nullptr); // keys[1] is now the oldest
    memo.keep(keys[kSlots], plan_of(kSlots + 1));
    EXPECT_EQ(memo.find(keys[1]), nullptr);
    for (size_t i = 0; i < keys.size(); i++) {
        if (i != 1) {
            EXPECT_NE(memo.find(keys[i]), nullptr) << i;
        }
    }
    EXPECT_EQ(memo.bytes(), (kAll - 2 + kSlots + 1) * sizeof(PlanEntry));
}

// The five kinds of clone a repository is asked for in turn (git's, a thin
// one, blobless, treeless, shallow) are all kept: with four slots, each kept
// plan evicted the one asked for next, and a second round found none.
TEST(PlanMemoSlots, FiveKindsOfCloneAskedInTurnAreAllKept) {
    PlanMemo memo;
    std::vector<PlanMemo::Key> keys(5);
    for (size_t i = 0; i < keys.size(); i++) {
        keys[i][0] = uint8_t(i + 1);
        memo.keep(keys[i], plan_of(i + 1));
    }
    for (int round = 0; round < 2; round++)
        for (const PlanMemo::Key &k : keys)
            EXPECT_NE(memo.find(k), nullptr) << "round " << round << ", plan " << int(k[0]);
}

// A request that finds a plan being made waits for it, and gets it; one
// whose planner kept nothing plans on its own, without a claim of its own
// (identical clones behind it then plan at once, not one after another).
// The waiter's checkpoint says when it waits, and may stop it.
class PlanMemoClaim : public ::testing::Test {
  protected:
    // Runs find_or_claim(key_) on a thread, once it waits.
    void start_waiter() {
        waiter_ = std::thread([this] {
            try {
                got_ = memo_.find_or_claim(
                    key_,
                    [this] {
                        waiting_.set_value_once();
                        if (stop_)
                            throw Error("stopped");
                    },
                    &claimed_);
            } catch (const Error &) {
                stopped_ = true;
            }
        });
        ASSERT_EQ(waiting_.future.wait_for(std::chrono::seconds(30)), std::future_status::ready)
            << "the second request did not wait for the first one's plan";
    }
    void TearDown() override {
        if (waiter_.joinable())
            waiter_.join();
    }
    struct Once {
        std::promise<void> promise;
        std::future<void> future = promise.get_future();
        std::once_flag flag;
        void set_value_once() {
            std::call_once(flag, [this] { promise.set_value(); });
        }
    };

    PlanMemo memo_;
    PlanMemo::Key key_{1};
    Once waiting_;
    std::thread waiter_;
    std::atomic<bool> stop_{false};
    std::shared_ptr<const PlanMemo::Plan> got_;
    bool claimed_ = true, stopped_ = false;
};

TEST_F(PlanMemoClaim, ASecondRequestWaitsForThePlanBeingMade) {
    bool claimed = false;
    EXPECT_EQ(memo_.find_or_claim(key_, {}, &claimed), nullptr);
    ASSERT_TRUE(claimed);
    start_waiter();
    auto plan = std::make_shared<PlanMemo::Plan>();
    plan->entries = std::make_shared<const std::vector<PlanEntry>>(3);
    memo_.keep(key_, plan);
    memo_.release(key_);
    waiter_.join();
    EXPECT_EQ(got_, plan);
    EXPECT_FALSE(claimed_);
}

TEST_F(PlanMemoClaim, AWaiterWhosePlannerKeptNothingPlansUnclaimed) {
    bool claimed = false;
    memo_.find_or_claim(key_, {}, &claimed);
    ASSERT_TRUE(claimed);
    start_waiter();
    memo_.release(key_);
    waiter_.join();
    EXPECT_EQ(got_, nullptr);
    EXPECT_FALSE(claimed_) << "the waiter claimed the plan: the next ones would wait for it";
}

TEST_F(PlanMemoClaim, AWaiterIsStoppedByItsCheckpoint) {
    bool claimed = false;
    memo_.find_or_claim(key_, {}, &claimed);
    stop_ = true;
    start_waiter();
    waiter_.join();
    EXPECT_TRUE(stopped_);
    memo_.release(key_);
}

} // namespace
} // namespace gsh::pack

// DeltaMemo: the deltas a fetch made are kept with the packs, and the next
// fetch of the same objects sends them from there, byte for byte the same.
#include "pack/delta_memo.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fixture.h"
#include "pack/pack_writer.h"
#include "test_pack_repo.h"

namespace gsh::pack {
namespace {

using test::sh;

TEST(DeltaMemoTest, TheNextFetchSendsTheKeptDeltasByteForByte) {
    // A repacked clone of the fixture with two later edits of a large file,
    // loose: a fetch of the last makes a delta against the one before.
    test::TempDir work;
    const std::string dir = work.str() + "/w";
    sh("git clone -q '" + test::PackRepo::get().work() + "' '" + dir + "' && cd '" + dir +
       "' && git repack -adq && git config gc.auto 0 && for i in 1 2; do "
       "sed -i \"${i}0s/$/ edited $i/\" src/big.txt && git commit -qam \"edit $i\"; done");
    const std::string git_dir = dir + "/.git";
    const auto rev = [&](const std::string &name) {
        return test::split_lines(sh("git --git-dir='" + git_dir + "' rev-parse " + name))[0];
    };
    RepoPtr repo = test::open_repo(git_dir);
    auto packs = std::make_shared<const PackSet>(repo.get());
    EnumerateInput in;
    in.wants = test::oids_of({rev("HEAD")});
    in.haves = test::oids_of({rev("HEAD~1")});
    const auto fetch = [&](PackStats *stats) {
        return test::write_pack(PackPlan(repo.get(),
                                         enumerate_objects(repo.get(), packs, in, nullptr),
                                         PackOptions{true, true}),
                                stats);
    };
    DeltaMemo &memo = packs->memo<DeltaMemo>();
    PackStats first, second;
    const std::string bytes = fetch(&first);
    ASSERT_GT(first.encoded_deltas, 0u) << "the fixture's fetch makes no delta";
    EXPECT_GT(memo.bytes(), 0u);
    EXPECT_EQ(memo.hits(), 0u);
    EXPECT_EQ(fetch(&second), bytes);
    EXPECT_EQ(second.encoded_deltas, first.encoded_deltas);
    EXPECT_GE(memo.hits(), first.encoded_deltas);
}

TEST(DeltaMemoTest, BoundedByBytesOldestFirstAndLargeOnesNotKept) {
    DeltaMemo memo;
    const auto key = [](uint32_t n) {
        DeltaMemo::Key k{};
        std::memcpy(k.oid.id, &n, sizeof n);
        return k;
    };
    const auto delta = [](size_t n) {
        auto d = std::make_shared<DeltaMemo::Delta>();
        d->size = n;
        d->deflated.assign(n, 'x');
        return d;
    };
    memo.keep(key(0), delta(DeltaMemo::kMaxDelta + 1));
    EXPECT_EQ(memo.find(key(0)), nullptr);
    const uint32_t n = uint32_t(DeltaMemo::kMaxBytes / DeltaMemo::kMaxDelta) + 4;
    for (uint32_t i = 1; i <= n; i++)
        memo.keep(key(i), delta(DeltaMemo::kMaxDelta));
    EXPECT_LE(memo.bytes(), DeltaMemo::kMaxBytes);
    EXPECT_EQ(memo.find(key(1)), nullptr);
    ASSERT_NE(memo.find(key(n)), nullptr);
    EXPECT_EQ(memo.find(key(n))->deflated.size(), DeltaMemo::kMaxDelta);
    // A pair whose delta was not kept is remembered as such.
    memo.keep(key(n + 1), std::make_shared<const DeltaMemo::Delta>());
    ASSERT_NE(memo.find(key(n + 1)), nullptr);
    EXPECT_FALSE(memo.find(key(n + 1))->kept());
}

} // namespace
} // namespace gsh::pack

// PackPlan alone: the entries it plans and their order, with nothing written.
#include "pack/pack_plan.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/pack_format.h"
#include "test_pack_repo.h"
#include "util/error.h"

namespace gsh::pack {
namespace {

using test::PackRepo;
using test::sh;

class PackPlanTest : public ::testing::Test {
  protected:
    const PackRepo &repo_ = PackRepo::get();
    test::TempDir work_;

    PackPlan plan(const std::string &repo_path, const std::vector<std::string> &wants,
                  const std::vector<std::string> &haves, PackOptions options) {
        repo_ptr_ = test::open_repo(repo_path);
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        return PackPlan(repo_ptr_.get(), enumerate_objects(repo_ptr_.get(), in, nullptr), options);
    }

    std::vector<std::string> all_refs(const std::string &repo_path) {
        return test::split_lines(
            sh("git --git-dir='" + repo_path + "' for-each-ref --format='%(objectname)'"));
    }

    static std::string rev(const std::string &git_dir, const std::string &name) {
        return test::split_lines(sh("git --git-dir='" + git_dir + "' rev-parse " + name))[0];
    }

    RepoPtr repo_ptr_;
};

std::set<std::string> planned_oids(const PackPlan &p) {
    std::set<std::string> out;
    for (const PlanEntry &e : p.entries())
        out.insert(test::to_hex(p.oid_of(e)));
    return out;
}

// Every planned base is an earlier entry, of the right kind for its action.
void expect_consistent(const PackPlan &p) {
    const auto &entries = p.entries();
    for (size_t i = 0; i < entries.size(); i++) {
        const PlanEntry &e = entries[i];
        SCOPED_TRACE("entry " + std::to_string(i));
        const uint32_t b = p.planned_base(i);
        if (b != PlanEntry::kNone) {
            EXPECT_LT(b, i) << "base after its delta";
        }
        switch (e.action) {
        case Action::Copy:
            EXPECT_NE(e.pack, PlanEntry::kLoose);
            break;
        case Action::Ofs:
            ASSERT_LT(e.base, entries.size());
            EXPECT_EQ(e.type, kOfsDelta);
            EXPECT_EQ(entries[e.base].pack, e.pack) << "OFS_DELTA reused across packs";
            EXPECT_TRUE(p.options().ofs_delta);
            break;
        case Action::ToRef:
        case Action::Compose:
        case Action::Encode:
            EXPECT_LT(e.base, entries.size());
            break;
        case Action::Thin:
        case Action::ComposeThin:
        case Action::EncodeThin:
            ASSERT_LT(e.base, p.thin_bases().size());
            EXPECT_TRUE(p.options().thin);
            break;
        case Action::Whole:
            break;
        }
    }
    // A thin base is never also sent.
    const std::set<std::string> sent = planned_oids(p);
    for (const git_oid &b : p.thin_bases())
        EXPECT_EQ(sent.count(test::to_hex(b)), 0u) << test::to_hex(b);
}

TEST_F(PackPlanTest, HoldsExactlyTheEnumeratedObjectsOnce) {
    // Several packs with duplicated objects, loose objects, REF_DELTAs.
    const auto wants = all_refs(repo_.path());
    const std::set<std::string> expect = test::rev_list_objects(repo_.path(), wants, {});
    for (const bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        PackPlan p = plan(repo_.path(), wants, {}, PackOptions{ofs, false});
        EXPECT_EQ(p.count(), expect.size());
        EXPECT_EQ(p.entries().size(), expect.size());
        EXPECT_EQ(planned_oids(p), expect);
        EXPECT_EQ(p.whole_pack(), SIZE_MAX);
        EXPECT_EQ(p.whole_file(), SIZE_MAX);
        expect_consistent(p);
        size_t loose = 0, ofs_entries = 0;
        for (const PlanEntry &e : p.entries()) {
            loose += e.pack == PlanEntry::kLoose;
            ofs_entries += e.action == Action::Ofs;
        }
        EXPECT_EQ(loose, p.loose().size());
        EXPECT_GT(loose, 0u);
        if (ofs) {
            EXPECT_GT(ofs_entries, 0u) << "no OFS_DELTA reused";
        } else {
            EXPECT_EQ(ofs_entries, 0u);
        }
    }
}

TEST_F(PackPlanTest, ThinFetchNamesOnlyBasesTheClientHasAndOrdersBasesFirst) {
    const std::string git_dir = test::shrinking_repo(work_.str() + "/shrink", false);
    const std::string want = rev(git_dir, "main"), have = rev(git_dir, "main~4");
    const std::set<std::string> expect = test::rev_list_objects(git_dir, {want}, {have});
    PackPlan p = plan(git_dir, {want}, {have}, PackOptions{true, true});
    EXPECT_EQ(planned_oids(p), expect);
    expect_consistent(p);
    EXPECT_FALSE(p.thin_bases().empty()) << "a thin fetch of shrinking files names no base";
    for (const git_oid &b : p.thin_bases()) {
        // The client has it: reachable from the have.
        EXPECT_EQ(sh("git --git-dir='" + git_dir + "' rev-list --objects " + have +
                     " | grep -c '^" + test::to_hex(b) + "'"),
                  "1\n");
    }
    // The same fetch without thin-pack names none.
    PackPlan full = plan(git_dir, {want}, {have}, PackOptions{true, false});
    EXPECT_TRUE(full.thin_bases().empty());
    expect_consistent(full);
}

TEST_F(PackPlanTest, BasesFoundByPathAreMovedBeforeTheirDeltas) {
    // Objects stored whole on disk with older versions in later entries or
    // other packs: their planned bases must still come first.
    const std::string git_dir = test::whole_newest_repo(work_.str() + "/newest", false);
    const std::vector<std::string> wants = {rev(git_dir, "main")};
    const std::string have = rev(git_dir, "main~6");
    PackPlan p = plan(git_dir, wants, {have}, PackOptions{true, false});
    EXPECT_EQ(planned_oids(p), test::rev_list_objects(git_dir, wants, {have}));
    expect_consistent(p);
    size_t encode = 0;
    for (const PlanEntry &e : p.entries())
        encode += e.action == Action::Encode;
    EXPECT_GT(encode, 0u) << "no base found by path";
}

TEST_F(PackPlanTest, CloneOfOnePackedRepositoryIsThatPackWhole) {
    const std::string one = work_.str() + "/one.git";
    sh("git clone -q --bare '" + repo_.path() + "' '" + one + "' && git -C '" + one +
       "' -c repack.writeBitmaps=true repack -adq");
    const auto wants = all_refs(one);
    PackPlan p = plan(one, wants, {}, PackOptions{true, false});
    ASSERT_NE(p.whole_pack(), SIZE_MAX);
    EXPECT_EQ(p.whole_file(), p.whole_pack());
    EXPECT_TRUE(p.entries().empty()) << "entries listed for a whole pack";
    EXPECT_EQ(p.count(), test::rev_list_objects(one, wants, {}).size());
    // Without ofs-delta the pack's OFS_DELTAs must be rewritten: planned
    // entry by entry.
    PackPlan ref = plan(one, wants, {}, PackOptions{false, false});
    EXPECT_EQ(ref.whole_pack(), SIZE_MAX);
    EXPECT_EQ(ref.whole_file(), SIZE_MAX);
    EXPECT_EQ(ref.count(), p.count());
    expect_consistent(ref);
}

TEST_F(PackPlanTest, CheckpointStopsThePlanning) {
    const auto wants = all_refs(repo_.path());
    RepoPtr repo = test::open_repo(repo_.path());
    EnumerateInput in;
    in.wants = test::oids_of(wants);
    int steps = 0;
    EXPECT_THROW(PackPlan(repo.get(), enumerate_objects(repo.get(), in, nullptr),
                          PackOptions{true, false},
                          [&steps] {
                              if (++steps == 3)
                                  throw Error("stopped");
                          }),
                 Error);
    EXPECT_EQ(steps, 3);
}

} // namespace
} // namespace gsh::pack

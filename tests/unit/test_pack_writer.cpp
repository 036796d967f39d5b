// PackWriter alone: packs written from plans made here by hand, checked by
// git's index-pack --strict and verify-pack.
#include "pack/pack_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/pack_format.h"
#include "pack_bytes.h"
#include "test_pack_repo.h"
#include "util/sha1.h"

namespace gsh::pack {
namespace {

using test::PackRepo;
using test::sh;

// The whole pack, read cap bytes at a time.
std::string write_all(PackWriter &w, size_t cap) {
    std::string out;
    std::vector<uint8_t> buf(cap);
    while (size_t n = w.read(buf.data(), cap)) {
        EXPECT_LE(n, cap);
        out.append(reinterpret_cast<const char *>(buf.data()), n);
    }
    EXPECT_TRUE(w.done());
    EXPECT_EQ(w.stats().bytes, out.size());
    return out;
}

void save(const std::string &path, const std::string &data) {
    std::ofstream(path, std::ios::binary).write(data.data(), std::streamsize(data.size()));
}

// index-pack --strict in an empty repository (every link must resolve in
// the pack), then verify-pack -v: oid -> its delta base ("" when whole).
std::map<std::string, std::string> index_strict(const std::string &pack, const std::string &work) {
    const std::string bare = work + "/verify.git";
    const std::string idx = pack.substr(0, pack.size() - 5) + ".idx";
    sh("rm -rf '" + bare + "' && git init -q --bare '" + bare + "' && GIT_DIR='" + bare +
       "' git index-pack --strict -o '" + idx + "' '" + pack + "' >/dev/null");
    std::map<std::string, std::string> out;
    for (const auto &o : test::verify_pack_objects(sh("git verify-pack -v '" + idx + "'")))
        out[o.oid] = o.base;
    return out;
}

class PackWriterTest : public ::testing::Test {
  protected:
    test::TempDir work_;

    // A clone of the fixture repository packed into one pack, with two
    // commits that change src/big.txt on top as loose objects.
    std::string make_repo() {
        const std::string dir = work_.str() + "/w";
        sh("git clone -q '" + PackRepo::get().work() + "' '" + dir + "' && cd '" + dir +
           "' && git repack -adq && git config gc.auto 0 && for i in 1 2; do "
           "sed -i \"${i}0s/$/ edited $i/\" src/big.txt && git commit -qam \"edit $i\"; done");
        return dir + "/.git";
    }
};

// What the hand-made plan is made of: make_repo()'s pack in offset order
// with the bases of its deltas, its loose objects, and the two versions of
// src/big.txt that the last commit has (to be encoded) apart.
struct Objects {
    std::vector<std::string> by_offset;
    std::map<std::string, std::string> disk_base;
    std::vector<std::string> loose;
    std::string older, newer;
};

Objects objects_of(const std::string &git_dir) {
    Objects o;
    const auto git = [&](const std::string &args) {
        return test::split_lines(sh("git --git-dir='" + git_dir + "' " + args));
    };
    const std::string idx =
        test::split_lines(sh("ls '" + git_dir + "'/objects/pack/pack-*.idx"))[0];
    std::vector<std::pair<uint64_t, std::string>> at;
    for (const auto &line : test::split_lines(sh("git show-index < '" + idx + "'")))
        at.emplace_back(std::stoull(line.substr(0, line.find(' '))),
                        line.substr(line.find(' ') + 1, GIT_OID_HEXSZ));
    std::sort(at.begin(), at.end());
    for (const auto &[offset, oid] : at)
        o.by_offset.push_back(oid);
    for (const auto &v : test::verify_pack_objects(sh("git verify-pack -v '" + idx + "'")))
        o.disk_base[v.oid] = v.base;
    o.older = git("rev-parse HEAD~1:src/big.txt")[0];
    o.newer = git("rev-parse HEAD:src/big.txt")[0];
    for (const auto &line : git("rev-list --objects HEAD~2..HEAD"))
        if (line.compare(0, GIT_OID_HEXSZ, o.newer) != 0 &&
            line.compare(0, GIT_OID_HEXSZ, o.older) != 0)
            o.loose.push_back(line.substr(0, GIT_OID_HEXSZ));
    return o;
}

// The pack's entries copied (whole ones), or reused as OFS_DELTA or
// REF_DELTA; the loose objects whole; the newer big.txt encoded against the
// older. *reused: how many entries come from the pack.
PackPlan hand_made_plan(git_repository *repo, bool ofs, const Objects &o, size_t *reused) {
    PackPlan plan(repo, PackOptions{ofs, false});
    std::map<std::string, uint32_t> index;
    size_t deltas = 0;
    for (const std::string &oid : o.by_offset) {
        const uint32_t i = plan.add(test::to_oid(oid));
        index[oid] = i;
        PlanEntry &e = plan.edit_entries()[i];
        EXPECT_NE(e.pack, PlanEntry::kLoose);
        ++*reused;
        if (!is_delta(e.type)) {
            e.action = Action::Copy;
            continue;
        }
        EXPECT_EQ(e.type, kOfsDelta);
        e.base = index.at(o.disk_base.at(oid));
        // In the second half, every other delta as a REF_DELTA: the
        // OFS_DELTAs after it move and get new distances; those of the
        // first half keep theirs.
        const bool second_half = i >= o.by_offset.size() / 2;
        e.action = ofs && (!second_half || deltas++ % 2) ? Action::Ofs : Action::ToRef;
    }
    for (const auto &oid : o.loose)
        plan.add(test::to_oid(oid)); // written whole
    const uint32_t base = plan.add(test::to_oid(o.older));
    const uint32_t delta = plan.add(test::to_oid(o.newer));
    plan.edit_entries()[delta].action = Action::Encode;
    plan.edit_entries()[delta].base = base;
    EXPECT_EQ(plan.loose().size(), o.loose.size() + 2);
    return plan;
}

TEST_F(PackWriterTest, HandMadePlanOfCopiesRewrittenDeltasWholeAndEncoded) {
    const std::string git_dir = make_repo();
    const Objects o = objects_of(git_dir);
    const std::set<std::string> expect = test::rev_list_objects(git_dir, {"--all"}, {});
    for (const bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        RepoPtr repo = test::open_repo(git_dir);
        size_t reused = 0;
        PackPlan plan = hand_made_plan(repo.get(), ofs, o, &reused);
        const size_t count = plan.entries().size();
        PackWriter w(std::move(plan));
        const std::string bytes = write_all(w, 7);
        EXPECT_EQ(w.stats().objects, count);
        EXPECT_EQ(w.stats().reused, reused);
        EXPECT_EQ(w.stats().encoded_deltas, 1u);
        const std::string file = work_.str() + "/out.pack";
        save(file, bytes);
        const std::map<std::string, std::string> bases = index_strict(file, work_.str());
        std::set<std::string> got;
        for (const auto &[oid, b] : bases)
            got.insert(oid);
        EXPECT_EQ(got, expect);
        EXPECT_EQ(bases.at(o.newer), o.older) << "the encoded delta";
        // Both kinds of OFS_DELTA were written: kept as on disk, and with a
        // new distance.
        if (ofs) {
            size_t same = 0, moved = 0;
            const auto &entries = w.plan().entries();
            for (size_t i = 0; i < entries.size(); i++) {
                const PlanEntry &e = entries[i];
                if (e.action != Action::Ofs)
                    continue;
                const PlanEntry &b = entries[e.base];
                (w.position(i) - w.position(e.base) == e.offset - b.offset ? same : moved)++;
            }
            EXPECT_GT(same, 0u);
            EXPECT_GT(moved, 0u);
        }
    }
}

// A clone writes the loose objects that a later version of a packed file
// made as deltas against the version at the same path in the parent commit
// (as git's pack-objects deltifies them), not whole: the two loose versions
// of src/big.txt, and trees that hold them.
TEST_F(PackWriterTest, ACloneWritesLooseObjectsAsDeltasAgainstTheirParentsVersion) {
    const std::string git_dir = make_repo();
    const Objects o = objects_of(git_dir);
    const std::string oldest =
        test::split_lines(sh("git --git-dir='" + git_dir + "' rev-parse HEAD~2:src/big.txt"))[0];
    RepoPtr repo = test::open_repo(git_dir);
    EnumerateInput in;
    in.wants =
        test::oids_of(test::split_lines(sh("git --git-dir='" + git_dir + "' rev-parse HEAD")));
    PackWriter w(
        PackPlan(repo.get(), enumerate_objects(repo.get(), in, nullptr), PackOptions{true, false}));
    const std::string file = work_.str() + "/out.pack";
    save(file, write_all(w, 4096));
    const std::map<std::string, std::string> bases = index_strict(file, work_.str());
    EXPECT_EQ(bases.at(o.newer), o.older);
    EXPECT_EQ(bases.at(o.older), oldest);
    // And some of the four loose trees (src and the root, twice): a delta
    // is kept when it is less than half its object.
    EXPECT_GE(w.stats().encoded_deltas, 3u);
}

// An entry's length or size of 4 GiB or more does not fit the plan's 32 bit
// fields: it is marked kLong and read again from the pack. Marking every
// entry so must not change a byte: the rewritten headers (new OFS_DELTA
// distances, REF_DELTAs) need the size, every copy the length.
TEST_F(PackWriterTest, LengthsAndSizesReadAgainFromThePackGiveTheSameBytes) {
    const std::string git_dir = make_repo();
    const Objects o = objects_of(git_dir);
    for (const bool ofs : {true, false}) {
        SCOPED_TRACE(ofs ? "ofs-delta" : "no ofs-delta");
        std::string bytes[2];
        for (const bool marked : {false, true}) {
            RepoPtr repo = test::open_repo(git_dir);
            size_t reused = 0;
            PackPlan plan = hand_made_plan(repo.get(), ofs, o, &reused);
            size_t rewritten = 0;
            for (PlanEntry &e : plan.edit_entries()) {
                if (e.pack == PlanEntry::kLoose)
                    continue;
                rewritten += e.action == Action::ToRef;
                if (marked) {
                    const uint64_t end = plan.end_of(e), size = plan.size_of(e);
                    e.len = e.size = PlanEntry::kLong;
                    EXPECT_EQ(plan.end_of(e), end);
                    EXPECT_EQ(plan.size_of(e), size);
                }
            }
            EXPECT_GT(rewritten, 0u);
            PackWriter w(std::move(plan));
            bytes[marked] = write_all(w, 4096);
        }
        EXPECT_EQ(bytes[1], bytes[0]);
    }
}

TEST_F(PackWriterTest, TheBytesDoNotDependOnTheReadSize) {
    const std::string git_dir = make_repo();
    std::string first;
    for (const size_t cap : {size_t(1), size_t(4096), size_t(1) << 20}) {
        RepoPtr repo = test::open_repo(git_dir);
        PackPlan plan(repo.get(), PackOptions{true, false});
        for (const auto &line : test::split_lines(
                 sh("git --git-dir='" + git_dir + "' rev-list --objects HEAD~3..HEAD")))
            plan.add(test::to_oid(line.substr(0, GIT_OID_HEXSZ)));
        PackWriter w(std::move(plan));
        const std::string bytes = write_all(w, cap);
        if (first.empty())
            first = bytes;
        EXPECT_EQ(bytes, first) << "cap " << cap;
    }
    ASSERT_GT(first.size(), 32u);
    EXPECT_EQ(first.compare(0, 4, "PACK"), 0);
}

TEST_F(PackWriterTest, AnEmptyPlanIsAHeaderAndItsChecksum) {
    RepoPtr repo = test::open_repo(PackRepo::get().path());
    PackWriter w(PackPlan(repo.get(), PackOptions{true, false}));
    const std::string bytes = write_all(w, 5);
    ASSERT_EQ(bytes.size(), 32u);
    EXPECT_EQ(bytes.substr(0, 12), std::string("PACK\0\0\0\2\0\0\0\0", 12));
    Sha1 sha;
    sha.update(reinterpret_cast<const uint8_t *>(bytes.data()), 12);
    const Sha1::Digest d = sha.final();
    EXPECT_EQ(bytes.substr(12), std::string(reinterpret_cast<const char *>(d.data()), d.size()));
    EXPECT_EQ(w.stats().objects, 0u);
}

// Two packs that hold the same two blobs x and y, each as a delta against
// the other in one of them, and a blob of their own each (w in the newer,
// v in the older). With x, v, y looked up in that order, x is found in the
// newer pack (looked in first) and y, after v, in the older: the copies
// chosen make a cycle of deltas.
class DeltaCycleTest : public PackWriterTest {
  protected:
    const std::string x = std::string(300, 'x'), y = x + "and more";
    const std::string x_to_y =
        test::delta(x.size(), y.size(), 0, 200, std::string(100, 'x') + "and more");

    static std::string hex(const std::string &data) {
        git_oid o;
        git_oid_fromraw(&o, reinterpret_cast<const unsigned char *>(test::blob_oid(data).data()));
        return test::to_hex(o);
    }
    // A repository of the newer pack (y whole, x a delta against it, w) and
    // the older one, of the entries given.
    std::string make(const std::vector<std::string> &older) {
        const std::string git_dir = work_.str() + "/cycle.git";
        sh("rm -rf '" + git_dir + "' && git init -q --bare '" + git_dir + "'");
        const auto add_pack = [&](const std::vector<std::string> &entries,
                                  const std::string &when) {
            const std::string file = work_.str() + "/in.pack";
            save(file, test::make_pack(entries));
            const std::string name =
                sh("GIT_DIR='" + git_dir + "' git index-pack --stdin < '" + file + "'");
            sh("touch -d '" + when + "' '" + git_dir + "/objects/pack/pack-" +
               name.substr(name.find('\t') + 1, GIT_OID_HEXSZ) + "'.*");
        };
        const std::string y_whole = test::whole(kBlob, y);
        add_pack({y_whole,
                  test::ofs_delta(y_whole.size(),
                                  test::delta(y.size(), x.size(), 0, 250, std::string(50, 'x'))),
                  test::whole(kBlob, "w")},
                 "2020-01-02");
        add_pack(older, "2020-01-01");
        return git_dir;
    }
    // The pack of x, v and y: how many entries are written whole, how many
    // are deltas; checked by index-pack --strict.
    void write(const std::string &git_dir, size_t *whole, size_t *deltas) {
        RepoPtr repo = test::open_repo(git_dir);
        PackPlan plan(repo.get(), Enumeration(test::oids_of({hex(x), hex("v"), hex(y)})),
                      PackOptions{true, false});
        *whole = *deltas = 0;
        for (size_t i = 0; i < plan.entries().size(); i++) {
            *whole += plan.entries()[i].action == Action::Whole;
            *deltas += plan.planned_base(i) != PlanEntry::kNone;
        }
        PackWriter w(std::move(plan));
        const std::string pack = work_.str() + "/out.pack";
        save(pack, write_all(w, 4096));
        EXPECT_EQ(index_strict(pack, work_.str()).size(), 3u);
        EXPECT_EQ(w.stats().reused, 3u);
    }
};

// The cycle is broken by sending another copy of one of its objects, not by
// writing an object whole (resolved and deflated again on every clone).
TEST_F(DeltaCycleTest, BrokenWithAnotherCopy) {
    const std::string x_whole = test::whole(kBlob, x);
    size_t whole, deltas;
    write(make({x_whole, test::ofs_delta(x_whole.size(), x_to_y), test::whole(kBlob, "v")}), &whole,
          &deltas);
    EXPECT_EQ(whole, 0u);
    EXPECT_EQ(deltas, 1u);
}

// Here the other copy of x is the last entry of the older pack, which then
// gives every entry: the pack sent is not that pack file (its entries are
// in another order), and its checksum is its own.
TEST_F(DeltaCycleTest, AnotherCopyDoesNotMakeThePackAFileOnDisk) {
    size_t whole, deltas;
    write(make({test::whole(kBlob, "v"), test::ref_delta(test::blob_oid(x), x_to_y),
                test::whole(kBlob, x)}),
          &whole, &deltas);
    EXPECT_EQ(whole, 0u);
    EXPECT_EQ(deltas, 1u);
}

} // namespace
} // namespace gsh::pack

// The negotiation of upload-pack: which haves are common (Negotiator), when
// the server may stop asking (ok_to_give_up), which wants a client may ask for,
// and the ACK/NAK lines protocol v0 and v2 write from those decisions.
// Expected answers are spelled out here; test_upload_pack_v0/v2 compare the
// same answers with git's.
#include <gtest/gtest.h>

#include <git2.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/pack_index.h"
#include "pkt_lines.h"
#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "repo/repo_access.h"
#include "repo/upload_pack_config.h"
#include "service/pack_section.h"
#include "service/upload_pack_v0.h"
#include "service/upload_pack_v2.h"
#include "test_pack_repo.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"
#include "walk/negotiation.h"

using namespace gsh;
using gsh::test::pkts;

namespace {

const std::string kUnknown = "1234567890123456789012345678901234567890";

// History, dates rising in the order made:
//   main:   c1 - c2 - c3 - c4 - c5
//   side:          c2 - s1 - s2
//   lonely: r1 (a root of its own)
//   refs/hidden/h (hidden): c5 - h1 - h2
// and loose: a commit no ref reaches.
class Negotiation : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        git_libgit2_init();
        dir = new test::TempDir();
        dir->run("git init -q -b main repo && cd repo && t=1600000000 && "
                 "c() { t=$((t+100)); echo \"$1\" >> f; git add f; "
                 "GIT_COMMITTER_DATE=\"$t +0000\" GIT_AUTHOR_DATE=\"$t +0000\" "
                 "git commit -qm \"$1\"; } && "
                 "c c1 && c c2 && c c3 && c c4 && c c5 && "
                 "git checkout -q -b side main~3 && c s1 && c s2 && "
                 "git checkout -q -b hidden main && c h1 && c h2 && "
                 "git update-ref refs/hidden/h hidden && git checkout -q main && "
                 "git branch -D -q hidden && "
                 "git checkout -q --orphan lonely && c r1 && git checkout -q main && "
                 "git tag -a -m annotated v1 main~2 && "
                 "git update-ref refs/loose-tmp $(git commit-tree -m loose HEAD^{tree}) && "
                 "git rev-parse refs/loose-tmp > ../loose && git update-ref -d refs/loose-tmp && "
                 "git config uploadpack.hideRefs refs/hidden");
        path = dir->str() + "/repo/.git";
        git_repository *raw = nullptr;
        ASSERT_EQ(git_repository_open(&raw, path.c_str()), 0);
        repo.reset(raw);
    }
    static void TearDownTestSuite() {
        repo.reset();
        delete dir;
        git_libgit2_shutdown();
    }

    static std::string hex(const std::string &what) {
        if (what == "loose")
            return dir->run("cat loose").substr(0, 40);
        return dir->run("cd repo && git rev-parse " + what).substr(0, 40);
    }
    static git_oid oid(const std::string &what) {
        git_oid out;
        const std::string h = what == "unknown" ? kUnknown : hex(what);
        EXPECT_TRUE(parse_oid(h, &out)) << what;
        return out;
    }
    static std::vector<git_oid> oids(const std::vector<std::string> &whats) {
        std::vector<git_oid> out;
        for (const std::string &w : whats)
            out.push_back(oid(w));
        return out;
    }

    // A v0 request: the wants (caps on the first), a flush, then lines.
    static std::string v0(const std::vector<std::string> &wants, const std::string &caps,
                          const std::vector<std::string> &rest) {
        std::string out;
        for (size_t i = 0; i < wants.size(); i++)
            proto::pkt_write_line(out, "want " + hex(wants[i]) + (i == 0 ? " " + caps : ""));
        proto::pkt_flush(out);
        return out + pkts(rest);
    }

    struct Answer {
        std::string text;
        bool pack = false;
        bool refused = false;
    };
    static Answer answer_of_v0(const std::string &body, size_t max_haves = 0) {
        RepoAccess access(path);
        access.set_limits(0, max_haves);
        std::unique_ptr<PackSection> pack;
        Answer a;
        a.text = answer_v0(access, body, &pack, &a.refused);
        a.pack = pack != nullptr;
        return a;
    }
    static Answer answer_of_v2(const std::vector<std::string> &args) {
        std::string body;
        proto::pkt_write_line(body, "command=fetch");
        proto::pkt_write_line(body, "object-format=sha1");
        proto::pkt_delim(body);
        for (const std::string &a : args)
            proto::pkt_write_line(body, a);
        proto::pkt_flush(body);
        RepoAccess access(path);
        std::unique_ptr<PackSection> pack;
        Answer a;
        a.text = answer_v2(access, proto::parse_v2_request(body), &pack, &a.refused);
        a.pack = pack != nullptr;
        return a;
    }

    static std::optional<git_oid> forbidden(const std::vector<std::string> &wants, unsigned allow) {
        RepoAccess access(path);
        return first_forbidden_want(repo.get(), oids(wants), access.snapshot().tips(), allow);
    }

    static inline test::TempDir *dir = nullptr;
    static inline std::string path;
    static inline RepoPtr repo;
};

using Have = Negotiator::Have;

TEST_F(Negotiation, HavesAreMissingNewOrKnown) {
    Negotiator neg(repo.get(), oids({"main"}));
    EXPECT_EQ(neg.got(oid("unknown")), Have::Missing);
    EXPECT_EQ(neg.got(oid("main~2")), Have::New);
    EXPECT_EQ(neg.got(oid("main~2")), Have::Known) << "the same have again";
    // A have's parent is known to be on the client from then on.
    EXPECT_EQ(neg.got(oid("main~3")), Have::Known);
    // ... and so, once that parent is a have, is its own parent.
    EXPECT_EQ(neg.got(oid("main~4")), Have::Known);
    EXPECT_EQ(neg.got(oid("side")), Have::New);
    ASSERT_EQ(neg.have_objects().size(), 2u);
    EXPECT_EQ(oid_hex(neg.have_objects()[0]), hex("main~2"));
    EXPECT_EQ(oid_hex(neg.have_objects()[1]), hex("side"));
}

TEST_F(Negotiation, NonCommitHavesAreRecordedEachTime) {
    Negotiator neg(repo.get(), oids({"main"}));
    EXPECT_EQ(neg.got(oid("main^{tree}")), Have::New);
    EXPECT_EQ(neg.got(oid("main^{tree}")), Have::New);
    EXPECT_EQ(neg.got(oid("v1")), Have::New) << "an annotated tag";
    EXPECT_EQ(neg.have_objects().size(), 3u);
}

TEST_F(Negotiation, NoHavesNeverGivesUp) {
    Negotiator neg(repo.get(), oids({"main"}));
    EXPECT_FALSE(neg.ok_to_give_up());
    EXPECT_EQ(neg.got(oid("unknown")), Have::Missing);
    EXPECT_FALSE(neg.ok_to_give_up()) << "only haves we lack";
}

TEST_F(Negotiation, GivesUpWhenEveryWantReachesAHave) {
    Negotiator neg(repo.get(), oids({"main", "side"}));
    neg.got(oid("main~2"));
    // side reaches c2, the parent of the have c3.
    EXPECT_TRUE(neg.ok_to_give_up());
    EXPECT_GT(neg.walk_steps(), 0u);

    Negotiator with_lonely(repo.get(), oids({"main", "lonely"}));
    with_lonely.got(oid("main~2"));
    EXPECT_FALSE(with_lonely.ok_to_give_up()) << "lonely shares nothing with c3";
    with_lonely.got(oid("lonely"));
    EXPECT_TRUE(with_lonely.ok_to_give_up());
}

TEST_F(Negotiation, CommitsOlderThanTheOldestHaveAreNotWalked) {
    Negotiator neg(repo.get(), oids({"side"}));
    neg.got(oid("main~1")); // c4: its parent c3 is newer than c2, where side forks
    EXPECT_FALSE(neg.ok_to_give_up());
    neg.got(oid("main~4")); // c1: older, so the walk goes down to c2
    EXPECT_TRUE(neg.ok_to_give_up());
}

TEST_F(Negotiation, WantsThatAreNoCommitCountAsReached) {
    Negotiator neg(repo.get(), oids({"main", "main^{tree}"}));
    neg.got(oid("main~2"));
    EXPECT_TRUE(neg.ok_to_give_up());
    // An annotated tag is peeled to its commit, which must be reached.
    Negotiator tag(repo.get(), oids({"v1"}));
    tag.got(oid("side"));
    EXPECT_FALSE(tag.ok_to_give_up()) << "c3 is older than the have s2";
    tag.got(oid("main~3"));
    EXPECT_TRUE(tag.ok_to_give_up());
}

TEST_F(Negotiation, AnswerIsRememberedUntilAHaveChangesIt) {
    Negotiator neg(repo.get(), oids({"main"}));
    neg.got(oid("main~2"));
    ASSERT_TRUE(neg.ok_to_give_up());
    const size_t steps = neg.walk_steps();
    neg.got(oid("unknown"));
    neg.got(oid("main~2"));
    EXPECT_TRUE(neg.ok_to_give_up());
    EXPECT_EQ(neg.walk_steps(), steps) << "nothing changed: no walk";
    neg.got(oid("main~4"));
    EXPECT_TRUE(neg.ok_to_give_up());
    EXPECT_GT(neg.walk_steps(), steps) << "a new have: walked again";
}

TEST_F(Negotiation, FirstMissingWant) {
    const pack::PackSet none(repo.get()); // every object is loose
    EXPECT_EQ(first_missing(repo.get(), none, oids({"main", "side"})), std::nullopt);
    std::optional<git_oid> missing =
        first_missing(repo.get(), none, oids({"main", "unknown", "side"}));
    ASSERT_TRUE(missing);
    EXPECT_EQ(oid_hex(*missing), kUnknown);
}

// Packed wants are found in the packs, a loose one beside them through the
// object database.
TEST_F(Negotiation, FirstMissingWantAmongPacksAndLooseObjects) {
    test::TempDir work;
    const std::string copy = work.str() + "/copy.git";
    const std::string loose = test::split_lines(
        work.run("git clone -q --bare '" + path + "' '" + copy + "' && git -C '" + copy +
                 "' repack -adq && echo fresh | git -C '" + copy + "' hash-object -w --stdin"))[0];
    RepoPtr packed = test::open_repo(copy);
    const pack::PackSet packs(packed.get());
    ASSERT_EQ(packs.size(), 1u);
    std::vector<git_oid> wants = oids({"main", "side", "v1"});
    git_oid fresh;
    ASSERT_TRUE(parse_oid(loose, &fresh));
    wants.push_back(fresh);
    EXPECT_EQ(first_missing(packed.get(), packs, wants), std::nullopt);
    wants.insert(wants.begin() + 2, oids({"unknown"})[0]);
    std::optional<git_oid> missing = first_missing(packed.get(), packs, wants);
    ASSERT_TRUE(missing);
    EXPECT_EQ(oid_hex(*missing), kUnknown);
}

TEST_F(Negotiation, WantsMustBeVisibleTipsOrReachableFromThem) {
    EXPECT_EQ(forbidden({"main", "lonely"}, 0), std::nullopt);
    EXPECT_EQ(forbidden({"main~3"}, 0), std::nullopt) << "reachable from a tip";
    EXPECT_EQ(forbidden({"v1"}, 0), std::nullopt) << "an advertised tag";

    std::optional<git_oid> hidden = forbidden({"main", "refs/hidden/h"}, 0);
    ASSERT_TRUE(hidden);
    EXPECT_EQ(oid_hex(*hidden), hex("refs/hidden/h"));
    EXPECT_EQ(forbidden({"refs/hidden/h"}, kAllowTipSha1), std::nullopt);
    EXPECT_TRUE(forbidden({"refs/hidden/h~1"}, 0)) << "reachable only from a hidden tip";
    EXPECT_EQ(forbidden({"refs/hidden/h~1"}, kAllowReachableSha1), std::nullopt);

    std::optional<git_oid> loose = forbidden({"loose"}, kAllowTipSha1 | kAllowReachableSha1);
    ASSERT_TRUE(loose) << "no ref reaches it";
    EXPECT_EQ(oid_hex(*loose), hex("loose"));
    EXPECT_EQ(forbidden({"loose"}, kAllowAnySha1), std::nullopt);
}

// Protocol v0, one stateless round per request.

TEST_F(Negotiation, V0WithoutMultiAckAcksOnlyTheFirstCommonHave) {
    const std::string c3 = hex("main~2"), c1 = hex("main~4");
    Answer a = answer_of_v0(v0({"main"}, "ofs-delta", {"have " + kUnknown, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"NAK"}));
    EXPECT_FALSE(a.pack);
    a = answer_of_v0(v0({"main"}, "ofs-delta", {"have " + c3, "have " + c1, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3})) << "no NAK once a have is common";
    EXPECT_FALSE(a.pack);
    a = answer_of_v0(v0({"main"}, "ofs-delta", {"have " + c3, "done"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3}));
    EXPECT_TRUE(a.pack);
    a = answer_of_v0(v0({"main"}, "ofs-delta", {"done"}));
    EXPECT_EQ(a.text, pkts({"NAK"}));
    EXPECT_TRUE(a.pack);
}

TEST_F(Negotiation, V0MultiAckContinuesAndAcksTheLastAtDone) {
    const std::string c3 = hex("main~2"), c1 = hex("main~4");
    Answer a = answer_of_v0(v0({"main"}, "multi_ack", {"have " + c3, "have " + kUnknown, "FLUSH"}));
    // Once it may give up, a have we lack is acknowledged too.
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " continue", "ACK " + kUnknown + " continue", "NAK"}));
    EXPECT_FALSE(a.pack);
    a = answer_of_v0(v0({"main"}, "multi_ack", {"have " + kUnknown, "have " + c3, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " continue", "NAK"}));
    a = answer_of_v0(v0({"main"}, "multi_ack", {"have " + c3, "have " + c1, "done"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " continue", "ACK " + c1 + " continue", "ACK " + c1}));
    EXPECT_TRUE(a.pack);
}

TEST_F(Negotiation, V0MultiAckDetailedSaysCommonAndReady) {
    const std::string c3 = hex("main~2"), lonely = hex("lonely");
    Answer a = answer_of_v0(v0({"main"}, "multi_ack_detailed", {"have " + c3, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "ACK " + c3 + " ready", "NAK"}));
    EXPECT_FALSE(a.pack) << "without no-done the client sends done next";
    // A have we lack in the round: no ready at the flush.
    a = answer_of_v0(
        v0({"main"}, "multi_ack_detailed", {"have " + kUnknown, "have " + c3, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "NAK"}));
    // Not every want reached: common, never ready.
    a = answer_of_v0(v0({"main", "lonely"}, "multi_ack_detailed", {"have " + c3, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "NAK"}));
    a = answer_of_v0(
        v0({"main", "lonely"}, "multi_ack_detailed", {"have " + c3, "have " + lonely, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "ACK " + lonely + " common",
                            "ACK " + lonely + " ready", "NAK"}));
}

TEST_F(Negotiation, V0NoDoneSendsThePackAfterReady) {
    const std::string c3 = hex("main~2");
    Answer a = answer_of_v0(v0({"main"}, "multi_ack_detailed no-done", {"have " + c3, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "ACK " + c3 + " ready", "NAK", "ACK " + c3}));
    EXPECT_TRUE(a.pack);
    a = answer_of_v0(v0({"main", "lonely"}, "multi_ack_detailed no-done", {"have " + c3, "FLUSH"}));
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "NAK"}));
    EXPECT_FALSE(a.pack) << "not ready: another round";
}

TEST_F(Negotiation, V0RequestCutShortSendsNoPack) {
    Answer a = answer_of_v0(v0({"main"}, "multi_ack_detailed", {"have " + hex("main~2")}));
    EXPECT_EQ(a.text, pkts({"ACK " + hex("main~2") + " common"}));
    EXPECT_FALSE(a.pack);
    EXPECT_FALSE(a.refused);
}

TEST_F(Negotiation, V0HaveLimitStopsTheRoundWithAnError) {
    const std::string c3 = hex("main~2"), c2 = hex("main~3"), c1 = hex("main~4");
    const std::string body =
        v0({"main"}, "multi_ack_detailed", {"have " + c3, "have " + c2, "have " + c1, "done"});
    Answer a = answer_of_v0(body, 2);
    std::string err;
    proto::pkt_write(err, "ERR upload-pack: too many haves (the limit is 2)");
    EXPECT_EQ(a.text, pkts({"ACK " + c3 + " common", "ACK " + c2 + " common"}) + err);
    EXPECT_TRUE(a.refused);
    EXPECT_FALSE(a.pack);
    a = answer_of_v0(body, 3);
    EXPECT_FALSE(a.refused);
    EXPECT_TRUE(a.pack);
}

// Protocol v2: an acknowledgments section unless the client said done.

TEST_F(Negotiation, V2AcknowledgmentsNakWithoutCommonHaves) {
    Answer a = answer_of_v2({"want " + hex("main"), "have " + kUnknown});
    EXPECT_EQ(a.text, pkts({"acknowledgments", "NAK", "FLUSH"}));
    EXPECT_FALSE(a.pack);
}

TEST_F(Negotiation, V2AcknowledgmentsAckCommonHavesAndSayReady) {
    const std::string c3 = hex("main~2"), c2 = hex("main~3");
    Answer a = answer_of_v2({"want " + hex("main"), "have " + kUnknown, "have " + c3});
    EXPECT_EQ(a.text, pkts({"acknowledgments", "ACK " + c3, "ready", "DELIM", "packfile"}));
    EXPECT_TRUE(a.pack);
    // Not ready while a want is not reached; a known parent is acknowledged too.
    a = answer_of_v2({"want " + hex("main"), "want " + hex("lonely"), "have " + c3, "have " + c2});
    EXPECT_EQ(a.text, pkts({"acknowledgments", "ACK " + c3, "ACK " + c2, "FLUSH"}));
    EXPECT_FALSE(a.pack);
}

TEST_F(Negotiation, V2WaitForDoneIsNeverReady) {
    const std::string c3 = hex("main~2");
    Answer a = answer_of_v2({"want " + hex("main"), "have " + c3, "wait-for-done"});
    EXPECT_EQ(a.text, pkts({"acknowledgments", "ACK " + c3, "FLUSH"}));
    EXPECT_FALSE(a.pack);
}

TEST_F(Negotiation, V2DoneSkipsTheAcknowledgments) {
    Answer a = answer_of_v2({"want " + hex("main"), "have " + kUnknown, "done"});
    EXPECT_EQ(a.text, pkts({"packfile"}));
    EXPECT_TRUE(a.pack);
}

} // namespace

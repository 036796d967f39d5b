// ls-refs and fetch negotiation, compared byte for byte with git's own
// upload-pack answering the same request (only the agent line differs).
#include <gtest/gtest.h>

#include <fstream>

#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "util/git_ptr.h"
#include "repo/refs.h"
#include "repo/upload_pack_config.h"
#include "service/upload_pack_v2.h"
#include "upload_pack_fixture.h"
#include "util/error.h"

using namespace gsh;

namespace {
class UploadPackV2 : public gsh::test::UploadPackFixture {};
} // namespace

TEST_F(UploadPackV2, LsRefsMatchesGit) {
    const std::vector<std::vector<std::string>> cases = {
        {},
        {"peel", "symrefs"},
        {"peel", "symrefs", "unborn", "ref-prefix HEAD", "ref-prefix refs/heads/",
         "ref-prefix refs/tags/"},
        {"symrefs", "ref-prefix refs/remotes/"},
        {"ref-prefix refs/tags/v1"},
        {"ref-prefix refs/hidden/"},
        {"ref-prefix nothing/"},
    };
    for (const auto &args : cases) {
        std::string body = request("ls-refs", args);
        EXPECT_EQ(our_answer(path, body), git_answer(path, body)) << testing::PrintToString(args);
    }
}

TEST_F(UploadPackV2, LsRefsOfAnEmptyRepositoryMatchesGit) {
    std::string empty = dir->str() + "/empty.git";
    for (const auto &args : std::vector<std::vector<std::string>>{
             {"symrefs", "unborn", "ref-prefix HEAD"}, {"unborn"}, {"symrefs"}}) {
        std::string body = request("ls-refs", args);
        EXPECT_EQ(our_answer(empty, body), git_answer(empty, body));
    }
}

TEST_F(UploadPackV2, NegotiationMatchesGitUpToThePack) {
    const std::string tip = rev("main"), old = rev("main~3"), side = rev("side");
    const std::string unknown = "1234567890123456789012345678901234567890";
    const std::vector<std::vector<std::string>> cases = {
        {"want " + tip, "have " + unknown}, // NAK, no pack
        {"want " + tip, "have " + old},     // ACK, ready, pack
        {"want " + tip, "have " + unknown, "have " + old, "have " + old},
        {"want " + tip, "want " + side, "have " + side},
        {"want " + tip, "have " + old, "done"}, // no acknowledgments section
        {"want " + tip, "done"},
        {"have " + old}, // no want: empty answer
    };
    for (const auto &args : cases) {
        std::string body = request("fetch", args);
        std::string theirs = git_answer(path, body);
        size_t pos = theirs.find("packfile\n");
        if (pos != std::string::npos)
            theirs.resize(pos + 9);
        EXPECT_EQ(our_answer(path, body), theirs) << testing::PrintToString(args);
    }
}

TEST_F(UploadPackV2, UnknownWantIsRefusedAsGitRefusesIt) {
    std::string body = request("fetch", {"want 1234567890123456789012345678901234567890", "done"});
    EXPECT_EQ(our_answer(path, body), git_answer(path, body));
}

TEST_F(UploadPackV2, HiddenAndUnreachableWantsAreRefusedUnlessAllowed) {
    const std::string secret = rev("refs/hidden/secret");
    // refs/hidden/secret is main~4, so reachable from main: make an unreachable one.
    dir->run("cd repo && git update-ref refs/hidden/lonely $(git commit-tree -m lonely "
             "HEAD^{tree})");
    const std::string lonely = rev("refs/hidden/lonely");
    const std::string refused = "ERR upload-pack: not our ref " + lonely;
    std::string expected;
    proto::pkt_write(expected, refused);
    std::string body = request("fetch", {"want " + lonely, "done"});
    EXPECT_EQ(our_answer(path, body), expected);

    // A non-tip that is reachable from a visible ref is fine over stateless HTTP.
    std::unique_ptr<PackSection> pack;
    our_answer(path, request("fetch", {"want " + secret, "done"}), &pack);
    EXPECT_TRUE(pack);

    for (const char *key :
         {"allowTipSHA1InWant", "allowReachableSHA1InWant", "allowAnySHA1InWant"}) {
        dir->run(std::string("cd repo && git config uploadpack.") + key + " true");
        pack.reset();
        EXPECT_EQ(our_answer(path, body, &pack), "000dpackfile\n") << key;
        EXPECT_TRUE(pack) << key;
        dir->run(std::string("cd repo && git config --unset uploadpack.") + key);
    }
    dir->run("cd repo && git update-ref -d refs/hidden/lonely");
}

TEST_F(UploadPackV2, BadRequestsAre400) {
    auto status = [&](const std::string &body) {
        try {
            our_answer(path, body);
            return 0;
        } catch (const Error &e) {
            return e.http_status();
        }
    };
    EXPECT_EQ(status(request("frobnicate", {})), 400);
    EXPECT_EQ(status(request("ls-refs", {"bogus"})), 400);
    EXPECT_EQ(status(request("fetch", {"want nothex"})), 400);
    EXPECT_EQ(status(request("fetch", {"deepen 0"})), 400);
    EXPECT_EQ(status(request("fetch", {"deepen-not no-such-ref"})), 400);
    std::string sha256;
    proto::pkt_write_line(sha256, "command=ls-refs");
    proto::pkt_write_line(sha256, "object-format=sha256");
    proto::pkt_flush(sha256);
    EXPECT_EQ(status(sha256), 400);
}

TEST_F(UploadPackV2, AdvertisesOnlyWhatIsImplemented) {
    std::string expected;
    for (const char *line :
         {"version 2", "agent=git-smart-http/0.1", "ls-refs=unborn", "fetch=shallow wait-for-done",
          "server-option", "object-format=sha1", "object-info"})
        proto::pkt_write_line(expected, line);
    proto::pkt_flush(expected);
    EXPECT_EQ(advertise_v2(UploadPackConfig()), expected);
}

namespace {

// An advertisement with the agent's and the session-id's values blanked.
std::string normalised(std::string advert) {
    std::string out;
    proto::PktReader reader(advert);
    for (proto::Pkt p = reader.next(); p.kind != proto::PktKind::End; p = reader.next()) {
        if (p.kind == proto::PktKind::Flush) {
            proto::pkt_flush(out);
            continue;
        }
        std::string line(p.data);
        for (const char *key : {"agent=", "session-id="})
            if (line.starts_with(key))
                line = std::string(key) + "X";
        proto::pkt_write_line(out, line);
    }
    return out;
}

} // namespace

TEST_F(UploadPackV2, AdvertisementFollowsTheConfigAsGitDoes) {
    const std::vector<std::vector<std::string>> settings = {
        {},
        {"uploadpack.allowRefInWant true"},
        {"uploadpack.allowSidebandAll true"},
        {"transfer.advertiseSID true"},
        {"uploadpack.allowFilter true"},
        {"uploadpack.allowRefInWant true", "uploadpack.allowSidebandAll true",
         "transfer.advertiseSID true", "uploadpack.allowFilter true"},
        {"uploadpack.allowRefInWant false", "transfer.advertiseSID false"},
        // object-info is advertised by git 2.39 whatever this says (2.40 reads it)
        {"transfer.advertiseObjectInfo false"},
    };
    for (const auto &set : settings) {
        for (const std::string &kv : set)
            dir->run("cd repo && git config " + kv);
        std::string theirs =
            test::sh("GIT_PROTOCOL=version=2 git upload-pack --advertise-refs '" + path + "'");
        std::string ours = advertise_v2(access_to(path).snapshot().config());
        EXPECT_EQ(normalised(ours), normalised(theirs)) << testing::PrintToString(set);
        for (const std::string &kv : set)
            dir->run("cd repo && git config --unset " + kv.substr(0, kv.find(' ')));
    }
}

TEST_F(UploadPackV2, SessionIdIsNewForEachAdvertisement) {
    UploadPackConfig config;
    config.advertise_sid = true;
    auto sid = [&] {
        std::string advert = advertise_v2(config);
        size_t pos = advert.find("session-id=");
        return advert.substr(pos + 11, advert.find('\n', pos) - pos - 11);
    };
    std::string a = sid(), b = sid();
    EXPECT_NE(a, b);
    for (char c : a)
        EXPECT_TRUE(c > ' ' && c < 0x7f) << a;
}

TEST_F(UploadPackV2, SessionIdCapabilityOnlyWhenAdvertised) {
    auto status = [&](const std::string &body) {
        try {
            our_answer(path, body);
            return 200;
        } catch (const Error &e) {
            return e.http_status();
        }
    };
    std::string body;
    proto::pkt_write_line(body, "command=ls-refs");
    proto::pkt_write_line(body, "session-id=client-1");
    proto::pkt_write_line(body, "server-option=x");
    proto::pkt_write_line(body, "agent");
    proto::pkt_flush(body);
    // git: "unknown capability 'session-id=client-1'" and no answer
    EXPECT_EQ(git_answer(path, body), "");
    EXPECT_EQ(status(body), 400);
    dir->run("cd repo && git config transfer.advertiseSID true");
    EXPECT_NE(git_answer(path, body), "");
    EXPECT_EQ(our_answer(path, body), git_answer(path, body));
    dir->run("cd repo && git config --unset transfer.advertiseSID");
}

TEST_F(UploadPackV2, SidebandAllMatchesGitUpToThePack) {
    dir->run("cd repo && git config uploadpack.allowSidebandAll true && "
             "git config uploadpack.allowRefInWant true");
    const std::string tip = rev("main"), old = rev("main~3");
    const std::string unknown = "1234567890123456789012345678901234567890";
    const std::vector<std::vector<std::string>> cases = {
        {"sideband-all", "want " + tip, "have " + old}, // acknowledgments, ready
        {"sideband-all", "want " + tip, "have " + unknown},
        {"sideband-all", "want " + tip, "done"},
        {"sideband-all", "want " + tip, "have " + old, "wait-for-done"},
        {"sideband-all", "want " + tip, "deepen 2", "done"},
        {"sideband-all", "want-ref refs/heads/main", "done"},
        {"sideband-all", "want " + unknown, "done"},          // ERR on band 3
        {"sideband-all", "want-ref refs/heads/nope", "done"}, // likewise
        {"want " + unknown, "sideband-all", "done"},          // the ERR comes first
    };
    for (const auto &args : cases) {
        std::string body = request("fetch", args);
        std::string theirs = git_answer(path, body);
        size_t pos = theirs.find("\1packfile\n");
        if (pos != std::string::npos)
            theirs.resize(pos + 10);
        EXPECT_NE(theirs, "");
        EXPECT_EQ(our_answer(path, body), theirs) << testing::PrintToString(args);
    }
    dir->run("cd repo && git config --unset uploadpack.allowSidebandAll && "
             "git config --unset uploadpack.allowRefInWant");
    // Not allowed: an unexpected line, as in git.
    EXPECT_THROW(our_answer(path, request("fetch", {"sideband-all", "want " + tip, "done"})),
                 Error);
}

TEST_F(UploadPackV2, WaitForDoneWithoutWantsMatchesGit) {
    const std::string old = rev("main~3");
    for (const auto &args : std::vector<std::vector<std::string>>{
             {"wait-for-done", "have " + old}, {"wait-for-done"}, {"have " + old}}) {
        std::string body = request("fetch", args);
        std::string theirs = git_answer(path, body);
        size_t pos = theirs.find("packfile\n");
        if (pos != std::string::npos)
            theirs.resize(pos + 9);
        std::unique_ptr<PackSection> pack;
        EXPECT_EQ(our_answer(path, body, &pack), theirs) << testing::PrintToString(args);
        if (pack) { // an empty pack, as git sends
            std::vector<uint8_t> buf(4096);
            std::string spill;
            while (!pack->finished())
                pack->produce(buf.data(), buf.size(), &spill);
            EXPECT_EQ(pack->stats()->objects, 0u);
        }
    }
}

TEST_F(UploadPackV2, RefusalsAreReportedForTheLog) {
    auto refused = [&](const std::string &body) {
        std::unique_ptr<PackSection> pack;
        bool flag = false;
        answer_v2(access_to(path), proto::parse_v2_request(body), &pack, &flag);
        return flag;
    };
    EXPECT_TRUE(
        refused(request("fetch", {"want 1234567890123456789012345678901234567890", "done"})));
    EXPECT_FALSE(refused(request("fetch", {"want " + rev("main"), "done"})));
    EXPECT_FALSE(refused(request("ls-refs", {})));
}

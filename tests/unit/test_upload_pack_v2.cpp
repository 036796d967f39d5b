// ls-refs and fetch negotiation, compared byte for byte with git's own
// upload-pack answering the same request (only the agent line differs).
#include <gtest/gtest.h>

#include <fstream>

#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "repo/git_ptr.h"
#include "repo/refs.h"
#include "repo/upload_pack_config.h"
#include "service/upload_pack_v2.h"
#include "upload_pack_fixture.h"

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
    for (const char *line : {"version 2", "agent=git-smart-http/0.1", "ls-refs=unborn",
                             "fetch=shallow wait-for-done", "server-option", "object-format=sha1"})
        proto::pkt_write_line(expected, line);
    proto::pkt_flush(expected);
    EXPECT_EQ(advertise_v2(false), expected);
}

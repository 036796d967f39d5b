// want-ref (uploadpack.allowRefInWant) and the wanted-refs section, compared
// byte for byte with git's own upload-pack up to the pack; with a shallow
// request, in the section order gitprotocol-v2 gives (git 2.39 breaks it).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/pkt_line.h"
#include "service/upload_pack_v2.h"
#include "upload_pack_fixture.h"
#include "util/error.h"

using namespace gsh;

namespace {

class WantRef : public gsh::test::UploadPackFixture {
  protected:
    static void SetUpTestSuite() {
        UploadPackFixture::SetUpTestSuite();
        dir->run("cd repo && git config uploadpack.allowRefInWant true");
    }

    // git's answer up to and including its "packfile" line (what follows is
    // the pack, whose bytes other tests compare).
    static std::string git_head(const std::string &body) {
        std::string theirs = git_answer(path, body);
        size_t pos = theirs.find("packfile\n");
        if (pos != std::string::npos)
            theirs.resize(pos + 9);
        return theirs;
    }

    static int status_of(const std::string &body) {
        try {
            our_answer(path, body);
            return 200;
        } catch (const Error &e) {
            return e.http_status();
        }
    }

    // The pkt-lines before the pack, each as "section:line"; order kept.
    static std::vector<std::string> sections(const std::string &answer) {
        std::string head = answer.substr(0, answer.find("packfile\n") + 9);
        proto::PktReader reader(head);
        std::vector<std::string> out;
        std::string section;
        for (proto::Pkt p = reader.next(); p.kind != proto::PktKind::End; p = reader.next()) {
            if (p.kind != proto::PktKind::Data) {
                section.clear();
                continue;
            }
            if (section.empty()) {
                section = std::string(p.data);
                out.push_back(section);
            } else {
                out.push_back(section + ":" + std::string(p.data));
            }
        }
        return out;
    }
};

} // namespace

TEST_F(WantRef, AnswerMatchesGitUpToThePack) {
    const std::string old = rev("main~3");
    const std::vector<std::vector<std::string>> cases = {
        {"want-ref refs/heads/main", "done"},
        {"want-ref refs/heads/side", "want-ref refs/tags/v1", "done"},
        {"want-ref HEAD", "no-progress", "done"},
        {"want-ref refs/remotes/origin/HEAD", "done"}, // a symref: what it points at
        {"want-ref refs/heads/main", "want-ref refs/heads/main", "done"}, // listed twice
        {"want " + rev("side"), "want-ref refs/tags/v1-chain", "done"},
        {"want-ref refs/heads/main", "have " + old},         // acknowledgments, then the refs
        {"want-ref refs/heads/main", "have " + old, "done"}, // no acknowledgments
        {"want-ref refs/heads/main", "have 1234567890123456789012345678901234567890"}, // NAK
    };
    for (const auto &args : cases) {
        std::string body = request("fetch", args);
        std::string theirs = git_head(body);
        EXPECT_TRUE(theirs.find("wanted-refs\n") != std::string::npos ||
                    theirs.find("NAK\n") != std::string::npos)
            << theirs;
        EXPECT_EQ(our_answer(path, body), theirs) << testing::PrintToString(args);
    }
}

TEST_F(WantRef, UnknownAndHiddenRefsAreRefusedAsGitRefusesThem) {
    const std::vector<std::vector<std::string>> cases = {
        {"want-ref refs/heads/nope", "done"},
        {"want-ref refs/hidden/secret", "done"}, // uploadpack.hideRefs
        {"want-ref main", "done"},               // not a full name
        {"want-ref refs/heads/main", "want-ref refs/heads/../config", "done"},
        {"want-ref refs/heads/main", "want-ref refs/tags/nope", "want 1234567890", "done"},
        // git reads in order: the first refusal is the one it sends
        {"want 1234567890123456789012345678901234567890", "want-ref refs/heads/nope", "done"},
        {"want-ref refs/heads/nope", "want 1234567890123456789012345678901234567890", "done"},
    };
    for (const auto &args : cases) {
        std::string body = request("fetch", args);
        std::string ours = our_answer(path, body);
        EXPECT_EQ(ours, git_answer(path, body)) << testing::PrintToString(args);
        EXPECT_NE(ours.find("ERR "), std::string::npos) << ours;
    }
    std::string expected;
    proto::pkt_write(expected, "ERR unknown ref refs/hidden/secret");
    EXPECT_EQ(our_answer(path, request("fetch", {"want-ref refs/hidden/secret", "done"})),
              expected);
}

TEST_F(WantRef, IsAnUnexpectedLineWithoutAllowRefInWant) {
    dir->run("cd repo && git config uploadpack.allowRefInWant false");
    std::string body = request("fetch", {"want-ref refs/heads/main", "done"});
    EXPECT_EQ(status_of(body), 400);
    EXPECT_EQ(git_answer(path, body), ""); // git dies: "unexpected line"
    dir->run("cd repo && git config uploadpack.allowRefInWant true");
    EXPECT_EQ(status_of(body), 200);
}

TEST_F(WantRef, ShallowInfoComesBeforeWantedRefs) {
    // git 2.39 writes wanted-refs first, which its own client refuses: the
    // same lines, in gitprotocol-v2's order.
    const std::vector<std::vector<std::string>> cases = {
        {"want-ref refs/heads/main", "deepen 1", "done"},
        {"want-ref refs/heads/main", "want-ref refs/heads/side", "deepen 2", "done"},
        {"want-ref refs/heads/main", "shallow " + rev("main~2"), "deepen 3", "done"},
    };
    for (const auto &args : cases) {
        std::string body = request("fetch", args);
        std::vector<std::string> ours = sections(our_answer(path, body));
        std::vector<std::string> theirs = sections(git_head(body));
        ASSERT_FALSE(ours.empty());
        EXPECT_EQ(ours.front(), "shallow-info") << testing::PrintToString(ours);
        EXPECT_EQ(theirs.front(), "wanted-refs") << testing::PrintToString(theirs);
        EXPECT_EQ(ours.back(), "packfile");
        std::vector<std::string> sorted_ours = ours, sorted_theirs = theirs;
        std::sort(sorted_ours.begin(), sorted_ours.end());
        std::sort(sorted_theirs.begin(), sorted_theirs.end());
        EXPECT_EQ(sorted_ours, sorted_theirs) << testing::PrintToString(args);
        // within each section, git's order
        auto in = [](const std::vector<std::string> &lines, const std::string &prefix) {
            std::vector<std::string> out;
            for (const std::string &l : lines)
                if (l.starts_with(prefix))
                    out.push_back(l);
            return out;
        };
        EXPECT_EQ(in(ours, "wanted-refs:"), in(theirs, "wanted-refs:"));
    }
}

TEST_F(WantRef, AdvertisedOnlyWithAllowRefInWant) {
    auto fetch_line = [](const std::string &advert) {
        size_t pos = advert.find("fetch=");
        return advert.substr(pos, advert.find('\n', pos) - pos);
    };
    auto git_advert = [] {
        return test::sh("GIT_PROTOCOL=version=2 git upload-pack --advertise-refs '" + path + "'");
    };
    auto ours = [] { return advertise_v2(access_to(path).snapshot().config()); };
    EXPECT_EQ(fetch_line(ours()), "fetch=shallow wait-for-done ref-in-want");
    EXPECT_EQ(fetch_line(ours()), fetch_line(git_advert()));
    dir->run("cd repo && git config uploadpack.allowRefInWant false");
    EXPECT_EQ(fetch_line(ours()), "fetch=shallow wait-for-done");
    EXPECT_EQ(fetch_line(ours()), fetch_line(git_advert()));
    dir->run("cd repo && git config uploadpack.allowRefInWant true");
}

TEST_F(WantRef, AnOverlongUnknownRefIs400NotACorruptPktLine) {
    std::string body = request("fetch", {"want-ref refs/" + std::string(65500, 'a'), "done"});
    EXPECT_EQ(status_of(body), 400);
}

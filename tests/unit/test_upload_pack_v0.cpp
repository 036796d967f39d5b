// Protocol v0/v1: the advertisement and every negotiation answer compared
// byte for byte with git's own upload-pack (only the agent differs).
#include <gtest/gtest.h>

#include "upload_pack_fixture.h"

using namespace gsh;

namespace {

class UploadPackV0 : public gsh::test::UploadPackFixture {
  protected:
    static std::string advertisement(const std::string &gitdir, bool v1) {
        return advertise_v0(RepoAccess(gitdir).snapshot(), v1, false);
    }
    static std::string their_advertisement(const std::string &gitdir, bool v1) {
        return test::sh(std::string(v1 ? "GIT_PROTOCOL=version=1 " : "") +
                        "git upload-pack --advertise-refs --stateless-rpc '" + gitdir + "'");
    }
    // The same pkt-lines with every agent=... value replaced by "agent=X".
    static std::string without_agent(const std::string &pkts) {
        proto::PktReader reader(pkts);
        std::string out;
        for (proto::Pkt p = reader.next(); p.kind != proto::PktKind::End; p = reader.next()) {
            if (p.kind == proto::PktKind::Flush) {
                proto::pkt_flush(out);
                continue;
            }
            std::string line(p.data);
            size_t a = line.find("agent=");
            if (a != std::string::npos)
                line = line.substr(0, a) + "agent=X" +
                       line.substr(std::min(line.find(' ', a), line.size()));
            proto::pkt_write_line(out, line);
        }
        return out;
    }
    // A v0 request: wants with capabilities on the first, a flush, then haves.
    static std::string v0_request(const std::vector<std::string> &wants, const std::string &caps,
                                  const std::vector<std::string> &rest) {
        std::string out;
        for (size_t i = 0; i < wants.size(); i++)
            proto::pkt_write_line(out, "want " + wants[i] + (i == 0 ? " " + caps : ""));
        proto::pkt_flush(out);
        for (const std::string &line : rest) {
            if (line == "FLUSH")
                proto::pkt_flush(out);
            else
                proto::pkt_write_line(out, line);
        }
        return out;
    }
    // git's answer up to where the pack (or its side-band) starts.
    static std::string before_pack(const std::string &answer) {
        size_t pos = 0;
        while (pos + 4 <= answer.size()) {
            if (answer.compare(pos, 4, "PACK") == 0)
                break;
            size_t len = std::stoul(answer.substr(pos, 4), nullptr, 16);
            if (len == 0) {
                pos += 4;
                continue;
            }
            char first = answer[pos + 4];
            if (first == '\x01' || first == '\x02')
                break;
            pos += len;
        }
        return answer.substr(0, pos);
    }
};

} // namespace

TEST_F(UploadPackV0, AdvertisementMatchesGit) {
    for (const std::string &gitdir : {path, dir->str() + "/empty.git"})
        for (bool v1 : {false, true})
            EXPECT_EQ(without_agent(advertisement(gitdir, v1)),
                      without_agent(their_advertisement(gitdir, v1)))
                << gitdir << " v1=" << v1;
}

TEST_F(UploadPackV0, NegotiationMatchesGit) {
    const std::string tip = rev("main"), old = rev("main~3"), older = rev("main~4"),
                      side = rev("side");
    const std::string unknown = "1234567890123456789012345678901234567890";
    const std::vector<std::string> cap_sets = {
        "multi_ack_detailed no-done side-band-64k thin-pack ofs-delta agent=git/2.39.5",
        "multi_ack_detailed side-band-64k ofs-delta",
        "multi_ack side-band ofs-delta",
        "ofs-delta",
    };
    const std::vector<std::vector<std::string>> rounds = {
        {"have " + unknown, "FLUSH"},
        {"have " + old, "FLUSH"},
        {"have " + unknown, "have " + old, "have " + older, "FLUSH"},
        {"have " + old, "have " + unknown, "FLUSH"},
        {"have " + older, "have " + old, "done"},
        {"have " + unknown, "done"},
        {"done"},
        {"have " + side, "FLUSH", "have " + old, "done"},
        {},
    };
    for (const std::string &caps : cap_sets)
        for (const auto &round : rounds)
            for (const auto &wants : std::vector<std::vector<std::string>>{{tip}, {tip, side}}) {
                std::string body = v0_request(wants, caps, round);
                std::unique_ptr<PackSection> pack;
                std::string ours = our_answer_v0(path, body, &pack);
                std::string theirs = git_answer(path, body, "");
                EXPECT_EQ(ours, before_pack(theirs))
                    << caps << " " << testing::PrintToString(round);
                EXPECT_EQ(bool(pack), theirs.find("PACK") != std::string::npos)
                    << caps << " " << testing::PrintToString(round);
            }
}

TEST_F(UploadPackV0, RefusedWantsMatchGit) {
    std::string body =
        v0_request({"1234567890123456789012345678901234567890"}, "ofs-delta", {"done"});
    EXPECT_EQ(our_answer_v0(path, body), git_answer(path, body, ""));
    // Hidden and unreachable: git refuses it over stateless v0 as well.
    dir->run("cd repo && git update-ref refs/hidden/lonely2 $(git commit-tree -m lonely2 "
             "HEAD^{tree})");
    body = v0_request({rev("refs/hidden/lonely2")}, "ofs-delta", {"done"});
    std::string theirs = git_answer(path, body, "");
    EXPECT_NE(theirs.find("not our ref"), std::string::npos);
    EXPECT_EQ(our_answer_v0(path, body), theirs);
    dir->run("cd repo && git update-ref -d refs/hidden/lonely2");
}

TEST_F(UploadPackV0, MalformedRequestsAre400) {
    auto status = [&](const std::string &body) {
        try {
            our_answer_v0(path, body);
            return 0;
        } catch (const Error &e) {
            return e.http_status();
        }
    };
    std::string no_want;
    proto::pkt_write_line(no_want, "wont " + rev("main"));
    proto::pkt_flush(no_want);
    EXPECT_EQ(status(no_want), 400);
    EXPECT_EQ(status(v0_request({rev("main")}, "", {"have xyz", "done"})), 400);
    EXPECT_EQ(status(v0_request({rev("main")}, "", {"bogus", "done"})), 400);
    std::string unterminated;
    proto::pkt_write_line(unterminated, "want " + rev("main"));
    EXPECT_EQ(status(unterminated), 400);
    EXPECT_EQ(status(""), 0); // nothing asked, nothing answered
}

TEST_F(UploadPackV0, RefusalsAreReportedForTheLog) {
    auto refused = [&](const std::string &body) {
        std::unique_ptr<PackSection> pack;
        bool flag = false;
        answer_v0(access_to(path), body, &pack, &flag);
        return flag;
    };
    EXPECT_TRUE(
        refused(v0_request({"1234567890123456789012345678901234567890"}, "ofs-delta", {"done"})));
    EXPECT_FALSE(refused(v0_request({rev("main")}, "ofs-delta", {"done"})));
}

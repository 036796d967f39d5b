// The C API a shared limit, the pack timeout and the metrics rely on: what a
// session says it is (command, protocol, whether a pack follows) and
// gsh_session_stop_pack().
#include <gtest/gtest.h>

#include <git2.h>

#include <memory>
#include <string>

#include "c_session.h"
#include "fixture.h"
#include "git_smart_http.h"
#include "protocol/pkt_line.h"

namespace {

using gsh::test::TempDir;

using gsh::test::read_all;
using gsh::test::SessionPtr;

class SessionLimits : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        gsh_global_init();
        dir = new TempDir();
        dir->run("git init -q -b main work && cd work && "
                 "for i in 1 2 3; do echo $i >> f; git add f; git commit -qm c$i; done && "
                 "cd .. && git clone -q --bare work repo.git");
        tip = dir->run("git -C repo.git rev-parse main");
        tip.resize(40);
    }
    static void TearDownTestSuite() {
        delete dir;
        git_libgit2_shutdown();
    }

    static SessionPtr open(gsh_request_kind kind, const std::string &protocol,
                           const std::string &body, int *status) {
        return gsh::test::open_session(dir->str(), "repo.git", kind, protocol, body, status);
    }

    static std::string v2(const std::string &command, const std::vector<std::string> &args) {
        return gsh::test::v2_body(command, args);
    }

    static TempDir *dir;
    static std::string tip;
};

TempDir *SessionLimits::dir = nullptr;
std::string SessionLimits::tip;

TEST_F(SessionLimits, AdvertisementSendsNoPack) {
    int status = 0;
    SessionPtr s = open(GSH_ADVERTISE_UPLOAD_PACK, "version=2", "", &status);
    EXPECT_EQ(status, 200);
    EXPECT_STREQ(gsh_session_metrics_command(s.get()), "advertise");
    EXPECT_EQ(gsh_session_metrics_protocol(s.get()), 2);
    EXPECT_EQ(gsh_session_sends_pack(s.get()), 0);
}

TEST_F(SessionLimits, LsRefsSendsNoPack) {
    int status = 0;
    SessionPtr s = open(GSH_RPC_UPLOAD_PACK, "version=2", v2("ls-refs", {}), &status);
    EXPECT_EQ(status, 200);
    EXPECT_STREQ(gsh_session_metrics_command(s.get()), "ls-refs");
    EXPECT_EQ(gsh_session_sends_pack(s.get()), 0);
}

TEST_F(SessionLimits, FetchThatIsDoneSendsAPack) {
    int status = 0, rc = 0;
    SessionPtr s = open(GSH_RPC_UPLOAD_PACK, "version=2",
                        v2("fetch", {"no-progress", "want " + tip, "done"}), &status);
    EXPECT_EQ(status, 200);
    EXPECT_STREQ(gsh_session_metrics_command(s.get()), "fetch");
    EXPECT_EQ(gsh_session_sends_pack(s.get()), 1);
    std::string body = read_all(s.get(), &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_NE(body.find("packfile\n"), std::string::npos);
    EXPECT_EQ(gsh_session_pack_objects(s.get()), 9u);
}

TEST_F(SessionLimits, V0NegotiationRoundSendsNoPackButDoneDoes) {
    int status = 0;
    std::string round;
    gsh::proto::pkt_write_line(round, "want " + tip + " side-band-64k");
    gsh::proto::pkt_flush(round);
    gsh::proto::pkt_write_line(round, "have " + tip);
    gsh::proto::pkt_flush(round);
    SessionPtr s = open(GSH_RPC_UPLOAD_PACK, "", round, &status);
    EXPECT_EQ(status, 200);
    EXPECT_STREQ(gsh_session_metrics_command(s.get()), "fetch");
    EXPECT_EQ(gsh_session_metrics_protocol(s.get()), 0);
    EXPECT_EQ(gsh_session_sends_pack(s.get()), 0);

    std::string done;
    gsh::proto::pkt_write_line(done, "want " + tip + " side-band-64k");
    gsh::proto::pkt_flush(done);
    gsh::proto::pkt_write_line(done, "done");
    SessionPtr d = open(GSH_RPC_UPLOAD_PACK, "version=1", done, &status);
    EXPECT_EQ(status, 200);
    EXPECT_EQ(gsh_session_metrics_protocol(d.get()), 1);
    EXPECT_EQ(gsh_session_sends_pack(d.get()), 1);
}

TEST_F(SessionLimits, UnparsedRequestIsUnknown) {
    int status = 0;
    SessionPtr s = open(GSH_RPC_UPLOAD_PACK, "version=2", "zzzz", &status);
    EXPECT_EQ(status, 400);
    EXPECT_STREQ(gsh_session_metrics_command(s.get()), "unknown");
    EXPECT_EQ(gsh_session_sends_pack(s.get()), 0);
}

TEST_F(SessionLimits, StoppedPackEndsWithSideBand3) {
    int status = 0, rc = 0;
    SessionPtr s = open(GSH_RPC_UPLOAD_PACK, "version=2",
                        v2("fetch", {"no-progress", "want " + tip, "done"}), &status);
    ASSERT_EQ(status, 200);
    gsh_session_stop_pack(s.get());
    std::string body = read_all(s.get(), &rc);
    EXPECT_EQ(rc, GSH_ERROR);
    const std::string why = "pack generation made no progress within git_smart_http_timeout\n";
    std::string band3;
    gsh::proto::sideband_write(band3, 3, why, gsh::proto::kMaxPktLen);
    ASSERT_GE(body.size(), band3.size());
    EXPECT_EQ(body.substr(body.size() - band3.size()), band3);
    EXPECT_EQ(body.find("corruption"), std::string::npos);
    EXPECT_EQ(body.find("PACK"), std::string::npos);
}

} // namespace

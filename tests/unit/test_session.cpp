// One request through gsh::Session as api.cpp drives it for nginx: create
// from a gsh_request, add the body, open (on a thread, or first on the loop),
// then read until done. The status comes back from open() or, for a failure,
// from the gsh::Error it throws (api.cpp's open_status()).
#include <gtest/gtest.h>

#include <git2.h>

#include <memory>
#include <string>
#include <vector>

#include "fixture.h"
#include "git_smart_http.h"
#include "pkt_lines.h"
#include "protocol/pkt_line.h"
#include "racy_window.h"
#include "service/session.h"
#include "util/error.h"

using namespace gsh;
using gsh::test::pkts;

namespace {

class SessionTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        gsh_global_init();
        dir = new test::TempDir();
        dir->run("git init -q -b main work && cd work && "
                 "for i in 1 2 3; do echo $i >> f; git add f; git commit -qm c$i; done && "
                 "cd .. && mkdir root && cd root && git clone -q --bare ../work repo.git && "
                 "git clone -q --bare ../work noupload.git && "
                 "git -C noupload.git config http.uploadpack false && "
                 "git clone -q --bare ../work nofiles.git && "
                 "git -C nofiles.git config http.getanyfile false && "
                 "git clone -q --bare ../work exported.git && "
                 "touch exported.git/git-daemon-export-ok");
        tip = dir->run("git -C root/repo.git rev-parse main").substr(0, 40);
    }
    static void TearDownTestSuite() {
        delete dir;
        git_libgit2_shutdown();
    }

    struct Request {
        gsh_request_kind kind = GSH_ADVERTISE_UPLOAD_PACK;
        std::string repo = "repo.git";
        std::string protocol = "";
        std::string body = "";
        std::string content_encoding = "";
        std::string remote_user = "";
        bool export_all = true;
        size_t max_request_size = 0;
    };

    static std::unique_ptr<Session> make(const Request &r) {
        const std::string root = dir->str() + "/root";
        gsh_request req{};
        req.kind = r.kind;
        req.root = root.c_str();
        req.root_len = root.size();
        req.repo = r.repo.c_str();
        req.repo_len = r.repo.size();
        req.git_protocol = r.protocol.empty() ? nullptr : r.protocol.c_str();
        req.git_protocol_len = r.protocol.size();
        req.content_encoding = r.content_encoding.empty() ? nullptr : r.content_encoding.c_str();
        req.content_encoding_len = r.content_encoding.size();
        req.remote_user = r.remote_user.empty() ? nullptr : r.remote_user.c_str();
        req.remote_user_len = r.remote_user.size();
        req.export_all = r.export_all;
        req.max_request_size = r.max_request_size;
        req.allow_filter = 1;
        auto s = std::make_unique<Session>(req);
        s->body().add_memory(r.body.data(), r.body.size());
        return s;
    }

    // The status as api.cpp reports it.
    static int open(Session &s, bool on_loop = false) {
        try {
            return on_loop ? s.open_on_loop() : s.open();
        } catch (const Error &e) {
            s.message = e.what();
            return e.http_status();
        }
    }

    // Every byte of the response; *rc is the last read's result.
    static std::string read_all(Session &s, int *rc) {
        std::string out;
        uint8_t buf[4096];
        do {
            size_t n = 0;
            *rc = s.read(buf, sizeof(buf), &n);
            out.append(reinterpret_cast<char *>(buf), n);
        } while (*rc == GSH_AGAIN);
        return out;
    }

    static std::string v2(const std::string &command, const std::vector<std::string> &args) {
        std::string out = pkts({"command=" + command, "object-format=sha1"});
        proto::pkt_delim(out);
        return out + pkts(args) + pkts({"FLUSH"});
    }

    static inline test::TempDir *dir = nullptr;
    static inline std::string tip;
};

TEST_F(SessionTest, InfoRefsUploadPackV0) {
    auto s = make({});
    ASSERT_EQ(open(*s), 200);
    EXPECT_STREQ(s->content_type(), "application/x-git-upload-pack-advertisement");
    int rc = 0;
    const std::string body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_TRUE(body.starts_with(pkts({"# service=git-upload-pack", "FLUSH"}))) << body;
    EXPECT_NE(body.find(tip + " HEAD"), std::string::npos);
    EXPECT_NE(body.find(tip + " refs/heads/main\n"), std::string::npos);
    EXPECT_EQ(body.find("version 1"), std::string::npos);
    EXPECT_TRUE(body.ends_with("0000"));
    EXPECT_STREQ(s->command(), "advertise");
    EXPECT_EQ(s->summary().command, "advertise");
    EXPECT_EQ(s->protocol_version(), 0);
    EXPECT_FALSE(s->sends_pack());
    EXPECT_EQ(s->content_length(), -1);
    EXPECT_EQ(s->repo_path(), dir->str() + "/root/repo.git");
}

TEST_F(SessionTest, InfoRefsUploadPackV1AndV2) {
    auto s = make({.protocol = "version=1"});
    ASSERT_EQ(open(*s), 200);
    int rc = 0;
    std::string body = read_all(*s, &rc);
    EXPECT_TRUE(body.starts_with(pkts({"# service=git-upload-pack", "FLUSH", "version 1"})));
    EXPECT_EQ(s->protocol_version(), 1);

    s = make({.protocol = "version=2"});
    ASSERT_EQ(open(*s), 200);
    body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    // v2 has no "# service=" header, and lists commands instead of refs.
    EXPECT_TRUE(body.starts_with(pkts({"version 2"}))) << body;
    EXPECT_NE(body.find("ls-refs"), std::string::npos);
    EXPECT_NE(body.find("fetch="), std::string::npos);
    EXPECT_EQ(body.find(tip), std::string::npos);
    EXPECT_EQ(s->protocol_version(), 2);
}

TEST_F(SessionTest, InfoRefsReceivePackNeedsAUser) {
    auto s = make({.kind = GSH_ADVERTISE_RECEIVE_PACK});
    EXPECT_EQ(open(*s), 403);
    EXPECT_EQ(s->message, "Service not enabled: 'receive-pack'");

    // A v2 request gets v0: there is no push in v2.
    s = make({.kind = GSH_ADVERTISE_RECEIVE_PACK, .protocol = "version=2", .remote_user = "alice"});
    ASSERT_EQ(open(*s), 200);
    EXPECT_STREQ(s->content_type(), "application/x-git-receive-pack-advertisement");
    int rc = 0;
    const std::string body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_TRUE(body.starts_with(pkts({"# service=git-receive-pack", "FLUSH"}))) << body;
    EXPECT_NE(body.find(tip + " refs/heads/main"), std::string::npos);
    EXPECT_NE(body.find("report-status"), std::string::npos);
    EXPECT_EQ(body.find("version 2"), std::string::npos);
    EXPECT_STREQ(s->command(), "advertise");
}

TEST_F(SessionTest, ReceivePackIsNeverOpenedOnTheLoop) {
    auto s = make({.kind = GSH_ADVERTISE_RECEIVE_PACK, .remote_user = "alice"});
    EXPECT_EQ(open(*s, true), 0);
    EXPECT_STREQ(s->command(), "advertise");
}

TEST_F(SessionTest, V0FetchStreamsThePack) {
    std::string req;
    proto::pkt_write_line(req, "want " + tip + " multi_ack_detailed side-band-64k ofs-delta");
    auto s = make({.kind = GSH_RPC_UPLOAD_PACK, .body = req + pkts({"FLUSH", "done"})});
    ASSERT_EQ(open(*s), 200);
    EXPECT_STREQ(s->content_type(), "application/x-git-upload-pack-result");
    EXPECT_STREQ(s->command(), "fetch");
    EXPECT_TRUE(s->sends_pack());
    int rc = 0;
    const std::string body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_TRUE(body.starts_with(pkts({"NAK"}))) << body.substr(0, 64);
    EXPECT_NE(body.find("PACK"), std::string::npos);
    EXPECT_TRUE(body.ends_with("0000"));
    EXPECT_EQ(s->pack_objects(), 9u); // three commits, trees and blobs
    EXPECT_GT(s->pack_bytes(), 0u);
    EXPECT_EQ(s->summary().wants, 1);
    EXPECT_FALSE(s->refused());
}

TEST_F(SessionTest, V0WantWeLackIsARefusalNotAnError) {
    std::string req;
    proto::pkt_write_line(req, "want 1234567890123456789012345678901234567890 ofs-delta");
    auto s = make({.kind = GSH_RPC_UPLOAD_PACK, .body = req + pkts({"FLUSH", "done"})});
    ASSERT_EQ(open(*s), 200);
    int rc = 0;
    const std::string body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    std::string err;
    proto::pkt_write(err, "ERR upload-pack: not our ref 1234567890123456789012345678901234567890");
    EXPECT_EQ(body, err);
    EXPECT_TRUE(s->refused());
    EXPECT_FALSE(s->sends_pack());
}

TEST_F(SessionTest, V2LsRefsAndFetch) {
    auto s =
        make({.kind = GSH_RPC_UPLOAD_PACK, .protocol = "version=2", .body = v2("ls-refs", {})});
    ASSERT_EQ(open(*s), 200);
    int rc = 0;
    std::string body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_EQ(body, pkts({tip + " HEAD", tip + " refs/heads/main", "FLUSH"}));
    EXPECT_STREQ(s->command(), "ls-refs");
    EXPECT_FALSE(s->sends_pack());

    s = make({.kind = GSH_RPC_UPLOAD_PACK,
              .protocol = "version=2",
              .body = v2("fetch", {"no-progress", "want " + tip, "done"})});
    ASSERT_EQ(open(*s), 200);
    EXPECT_STREQ(s->command(), "fetch");
    EXPECT_EQ(s->summary().command, "fetch");
    body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_TRUE(body.starts_with(pkts({"packfile"}))) << body.substr(0, 64);
    EXPECT_EQ(s->pack_objects(), 9u);
}

TEST_F(SessionTest, OnTheLoopOnlyLsRefsOfACachedRepository) {
    // v0 RPC and a v2 fetch always need a thread.
    auto s = make({.kind = GSH_RPC_UPLOAD_PACK, .body = pkts({"FLUSH"})});
    EXPECT_EQ(open(*s, true), 0);
    s = make({.kind = GSH_RPC_UPLOAD_PACK,
              .protocol = "version=2",
              .body = v2("fetch", {"want " + tip, "done"})});
    EXPECT_EQ(open(*s, true), 0);
    EXPECT_STREQ(s->command(), "fetch") << "the command is known from the parse";
    // A gzip body is not inflated on the loop.
    s = make({.kind = GSH_RPC_UPLOAD_PACK,
              .protocol = "version=2",
              .body = v2("ls-refs", {}),
              .content_encoding = "gzip"});
    EXPECT_EQ(open(*s, true), 0);

    // Once a threaded open has cached the repository, ls-refs is answered.
    test::TrustFreshStamps trust;
    s = make({.repo = "exported.git"});
    ASSERT_EQ(open(*s), 200);
    s = make({.kind = GSH_RPC_UPLOAD_PACK,
              .repo = "exported.git",
              .protocol = "version=2",
              .body = v2("ls-refs", {})});
    ASSERT_EQ(open(*s, true), 200);
    int rc = 0;
    EXPECT_EQ(read_all(*s, &rc), pkts({tip + " HEAD", tip + " refs/heads/main", "FLUSH"}));
    EXPECT_EQ(rc, GSH_DONE);
}

TEST_F(SessionTest, UnknownOrUnexportedRepositoryIs404) {
    for (const char *repo : {"missing.git", "../work", "repo.git/../../work"}) {
        auto s = make({.repo = repo});
        EXPECT_EQ(open(*s), 404) << repo;
        EXPECT_EQ(open(*make({.repo = repo}), true), 404) << repo << " on the loop";
    }
    EXPECT_EQ(open(*make({.repo = "repo.git", .export_all = false})), 404);
    EXPECT_EQ(open(*make({.repo = "exported.git", .export_all = false})), 200);
    // With or without ".git".
    EXPECT_EQ(open(*make({.repo = "repo"})), 200);
}

TEST_F(SessionTest, ServiceTurnedOffIs403) {
    auto s = make({.repo = "noupload.git"});
    EXPECT_EQ(open(*s), 403);
    EXPECT_EQ(s->message, "Service not enabled: 'upload-pack' (http.uploadpack is false)");
    s = make({.kind = GSH_DUMB_INFO_REFS, .repo = "nofiles.git"});
    EXPECT_EQ(open(*s), 403);
    EXPECT_EQ(s->message, "Unsupported service: getanyfile");
}

TEST_F(SessionTest, BadBodiesAre400413Or415) {
    std::string req;
    proto::pkt_write_line(req, "wont " + tip);
    auto s = make({.kind = GSH_RPC_UPLOAD_PACK, .body = req + pkts({"FLUSH"})});
    EXPECT_EQ(open(*s), 400);
    EXPECT_NE(s->message.find("expected to get object ID"), std::string::npos) << s->message;

    s = make({.kind = GSH_RPC_UPLOAD_PACK,
              .protocol = "version=2",
              .body = pkts({"agent=git/2.39.5", "FLUSH"})});
    EXPECT_EQ(open(*s), 400);
    EXPECT_EQ(s->message, "no command requested");
    // A flush alone ends the requests, as in git: an empty answer.
    s = make({.kind = GSH_RPC_UPLOAD_PACK, .protocol = "version=2", .body = pkts({"FLUSH"})});
    EXPECT_EQ(open(*s), 200);
    int rc = 0;
    EXPECT_EQ(read_all(*s, &rc), "");
    EXPECT_EQ(rc, GSH_DONE);

    s = make(
        {.kind = GSH_RPC_UPLOAD_PACK, .body = "not a gzip stream", .content_encoding = "gzip"});
    EXPECT_EQ(open(*s), 400);
    s = make({.kind = GSH_RPC_UPLOAD_PACK, .body = pkts({"FLUSH"}), .content_encoding = "br"});
    EXPECT_EQ(open(*s), 415);
    EXPECT_EQ(s->message, "unsupported Content-Encoding 'br'");

    s = make({.kind = GSH_RPC_UPLOAD_PACK,
              .protocol = "version=2",
              .body = v2("fetch", {"want " + tip, "done"}),
              .max_request_size = 16});
    EXPECT_EQ(open(*s), 413);
}

TEST_F(SessionTest, DumbInfoRefsHasALength) {
    auto s = make({.kind = GSH_DUMB_INFO_REFS});
    ASSERT_EQ(open(*s), 200);
    EXPECT_STREQ(s->command(), "dumb");
    int rc = 0;
    const std::string body = read_all(*s, &rc);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_EQ(body, tip + "\trefs/heads/main\n");
    EXPECT_EQ(s->content_length(), static_cast<long long>(body.size()));
}

} // namespace

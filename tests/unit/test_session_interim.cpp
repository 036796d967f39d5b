// While a read counts objects and plans the pack: gsh_session_interim()
// from another thread (as the event loop calls it), the count's stop, and
// the walk's and the plan's checkpoints. The count is held with the test
// hook GSH_TEST_PACK_STALL (a FIFO in the repository).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "fixture.h"
#include "git_smart_http.h"
#include "walk/enumerate.h"
#include "pack/pack_stream.h"
#include "protocol/pkt_line.h"
#include "util/git_ptr.h"
#include "test_pack_repo.h"
#include "util/error.h"

namespace {

using gsh::test::TempDir;

struct SessionDeleter {
    void operator()(gsh_session *s) const { gsh_session_destroy(s); }
};
using SessionPtr = std::unique_ptr<gsh_session, SessionDeleter>;

constexpr const char *kFifo = "gsh-test-stall";
constexpr size_t kFiles = 1500; // objects: the blobs, a tree, a commit
const std::string kKeepalive("0005\x01", 5);

struct Band {
    std::string pack, progress, error;
    size_t keepalives = 0;
};

// The side-band pkt-lines after "packfile\n", up to the flush.
Band demux(const std::string &body) {
    Band out;
    size_t pos = 0;
    bool in_pack = false;
    while (pos + 4 <= body.size()) {
        const size_t len = std::stoul(body.substr(pos, 4), nullptr, 16);
        if (len == 0 && in_pack)
            break;
        if (len < 4) {
            pos += 4;
            continue;
        }
        const std::string payload = body.substr(pos + 4, len - 4);
        pos += len;
        if (!in_pack) {
            in_pack = payload == "packfile\n";
            continue;
        }
        if (payload == "\x01")
            out.keepalives++;
        if (payload[0] == 1)
            out.pack += payload.substr(1);
        else if (payload[0] == 2)
            out.progress += payload.substr(1);
        else if (payload[0] == 3)
            out.error += payload.substr(1);
    }
    return out;
}

class SessionInterim : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        gsh_global_init();
        dir = new TempDir();
        dir->run("git init -q -b main work && cd work && "
                 "for i in $(seq " +
                 std::to_string(kFiles) +
                 "); do echo $i > f$i; done && git add . && git commit -qm many && "
                 "cd .. && git clone -q --bare work repo.git && "
                 "git -C repo.git config uploadpack.keepAlive 1");
        tip = dir->run("git -C repo.git rev-parse main");
        tip.resize(40);
    }
    static void TearDownTestSuite() {
        delete dir;
        git_libgit2_shutdown();
    }
    void SetUp() override {
        fifo = dir->str() + "/repo.git/" + kFifo;
        ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
        setenv("GSH_TEST_PACK_STALL", kFifo, 1);
    }
    void TearDown() override {
        unsetenv("GSH_TEST_PACK_STALL");
        unlink(fifo.c_str());
    }

    // Lets the stalled count go on: the open waits for the count's open.
    void release() {
        const int fd = ::open(fifo.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        ::close(fd);
    }

    static SessionPtr open_fetch(const std::vector<std::string> &args) {
        std::string body;
        gsh::proto::pkt_write_line(body, "command=fetch");
        gsh::proto::pkt_write_line(body, "object-format=sha1");
        body += "0001";
        for (const std::string &a : args)
            gsh::proto::pkt_write_line(body, a);
        gsh::proto::pkt_flush(body);
        gsh_request req{};
        const std::string root = dir->str();
        req.kind = GSH_RPC_UPLOAD_PACK;
        req.root = root.c_str();
        req.root_len = root.size();
        req.repo = "repo.git";
        req.repo_len = 8;
        req.git_protocol = "version=2";
        req.git_protocol_len = 9;
        req.export_all = 1;
        SessionPtr s(gsh_session_create(&req));
        EXPECT_EQ(gsh_session_add_body(s.get(), body.data(), body.size()), 0);
        EXPECT_EQ(gsh_session_open(s.get()), 200);
        return s;
    }

    static int read_once(gsh_session *s, std::string *out) {
        unsigned char buf[65536];
        size_t n = 0;
        const int rc = gsh_session_read(s, buf, sizeof(buf), &n);
        out->append(reinterpret_cast<char *>(buf), n);
        return rc;
    }

    // Polls as the module's timer does, until pred holds of what came.
    static std::string interim_until(gsh_session *s,
                                     const std::function<bool(const std::string &)> &pred) {
        std::string got;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        unsigned char buf[4096];
        while (!pred(got) && std::chrono::steady_clock::now() < deadline) {
            got.append(reinterpret_cast<char *>(buf), gsh_session_interim(s, buf, sizeof(buf)));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return got;
    }

    static TempDir *dir;
    static std::string tip;
    std::string fifo;
};

TempDir *SessionInterim::dir = nullptr;
std::string SessionInterim::tip;

TEST_F(SessionInterim, StalledCountSendsKeepalivesThenThePack) {
    SessionPtr s = open_fetch({"ofs-delta", "want " + tip, "done"});
    // What precedes the pack comes alone, ending at a pkt-line boundary.
    std::string body;
    ASSERT_EQ(read_once(s.get(), &body), GSH_AGAIN);
    std::string header;
    gsh::proto::pkt_write_line(header, "packfile");
    ASSERT_GE(body.size(), header.size());
    EXPECT_EQ(body.substr(body.size() - header.size()), header);
    unsigned char buf[64];
    EXPECT_EQ(gsh_session_interim(s.get(), buf, sizeof(buf)), 0u) << "no read under way";

    int rc = GSH_ERROR;
    std::string counted;
    std::thread reader([&] { rc = read_once(s.get(), &counted); });
    const std::string interim = interim_until(
        s.get(), [](const std::string &got) { return got.find(kKeepalive) != std::string::npos; });
    release();
    reader.join();
    EXPECT_NE(interim.find(kKeepalive), std::string::npos);
    body += interim + counted;
    while (rc == GSH_AGAIN)
        rc = read_once(s.get(), &body);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_EQ(gsh_session_interim(s.get(), buf, sizeof(buf)), 0u) << "the count is over";

    const Band band = demux(body);
    EXPECT_GE(band.keepalives, 1u);
    EXPECT_EQ(band.error, "");
    const std::string n = std::to_string(kFiles + 2);
    EXPECT_NE(band.progress.find("Enumerating objects: " + n + ", done.\n"), std::string::npos);
    EXPECT_NE(band.progress.find("Counting objects: 100% (" + n + "/" + n + "), done.\n"),
              std::string::npos);
    ASSERT_GE(band.pack.size(), 12u);
    EXPECT_EQ(band.pack.substr(0, 4), "PACK");
    EXPECT_EQ(gsh_session_pack_objects(s.get()), kFiles + 2);
}

TEST_F(SessionInterim, NoProgressMeansKeepalivesOnly) {
    SessionPtr s = open_fetch({"ofs-delta", "no-progress", "want " + tip, "done"});
    std::string body;
    ASSERT_EQ(read_once(s.get(), &body), GSH_AGAIN);
    int rc = GSH_ERROR;
    std::string counted;
    std::thread reader([&] { rc = read_once(s.get(), &counted); });
    const std::string interim = interim_until(
        s.get(), [](const std::string &got) { return got.find(kKeepalive) != std::string::npos; });
    release();
    reader.join();
    body += interim + counted;
    while (rc == GSH_AGAIN)
        rc = read_once(s.get(), &body);
    EXPECT_EQ(rc, GSH_DONE);
    const Band band = demux(body);
    EXPECT_GE(band.keepalives, 1u);
    EXPECT_EQ(band.progress, "");
}

TEST_F(SessionInterim, StopEndsAStalledCount) {
    SessionPtr s = open_fetch({"ofs-delta", "want " + tip, "done"});
    std::string body;
    ASSERT_EQ(read_once(s.get(), &body), GSH_AGAIN);
    int rc = GSH_AGAIN;
    std::thread reader([&] { rc = read_once(s.get(), &body); });
    // Inside the count once it says anything (the keepalive after 1 s).
    interim_until(s.get(), [](const std::string &got) { return !got.empty(); });
    gsh_session_stop_pack(s.get());
    reader.join(); // without release(): the stall itself ends
    while (rc == GSH_AGAIN)
        rc = read_once(s.get(), &body);
    EXPECT_EQ(rc, GSH_ERROR);
    const Band band = demux(body);
    EXPECT_EQ(band.error, "pack generation made no progress within git_smart_http_timeout\n");
    EXPECT_EQ(band.pack, "");
}

// The walk checks in every 1024 objects; a throw there ends the count. On a
// copy of the repository: the other tests' clones of it are remembered
// (walk/clone_memo.h), and a remembered count walks nothing.
TEST_F(SessionInterim, WalkCheckInCanStopTheCount) {
    gsh::test::TempDir work;
    work.run("cp -r '" + dir->str() + "/repo.git' copy.git");
    gsh::RepoPtr repo = gsh::test::open_repo(work.str() + "/copy.git");
    gsh::pack::EnumerateInput in;
    in.wants = gsh::test::oids_of({tip});
    size_t check_ins = 0;
    EXPECT_THROW(gsh::pack::enumerate_objects(repo.get(), in,
                                              [&](std::string_view text) {
                                                  if (text.empty() && ++check_ins == 1)
                                                      throw gsh::Error("stop");
                                              }),
                 gsh::Error);
    EXPECT_EQ(check_ins, 1u);
    // Unstopped, the same walk counts everything.
    size_t quiet = 0;
    gsh::pack::Enumeration all = gsh::pack::enumerate_objects(
        repo.get(), in, [&](std::string_view text) { quiet += text.empty(); });
    EXPECT_EQ(all.count(), kFiles + 2);
    EXPECT_GE(quiet, 1u);
}

TEST_F(SessionInterim, PlanCheckpointCanStopThePlan) {
    gsh::RepoPtr repo = gsh::test::open_repo(dir->str() + "/repo.git");
    gsh::pack::EnumerateInput in;
    in.wants = gsh::test::oids_of({tip});
    // No ofs-delta: not the whole pack file as it is, so the plan runs.
    size_t calls = 0;
    EXPECT_THROW(gsh::pack::PackStream(repo.get(), gsh::pack::enumerate_objects(repo.get(), in, {}),
                                       gsh::pack::PackOptions{false, false},
                                       [&] {
                                           if (++calls == 2)
                                               throw gsh::Error("stop");
                                       }),
                 gsh::Error);
    EXPECT_EQ(calls, 2u);
}

} // namespace

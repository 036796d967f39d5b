// A push end to end through the C API: request bodies made by the real git,
// the report checked line by line, the repository checked with git fsck.
#include <gtest/gtest.h>

#include <zlib.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "push/progress_meter.h"
#include "push/quarantine.h"
#include "push/receive_pack.h"
#include "push_fixture.h"
#include "repo/receive_pack_config.h"
#include "util/git_ptr.h"

using namespace gsh;
using gsh::test::Answer;
using gsh::test::sh;

namespace {

// raw as a gzip stream (Content-Encoding: gzip) deflated at level into gz.
void gzip(std::string raw, int level, std::string &gz) {
    z_stream zs{};
    ASSERT_EQ(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    gz.assign(deflateBound(&zs, raw.size()), '\0');
    zs.next_in = reinterpret_cast<Bytef *>(raw.data());
    zs.avail_in = raw.size();
    zs.next_out = reinterpret_cast<Bytef *>(gz.data());
    zs.avail_out = gz.size();
    ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    gz.resize(zs.total_out);
    deflateEnd(&zs);
}

class ReceivePack : public gsh::test::PushFixture {
  protected:
    // client's main moved one commit on; returns {old, new}.
    std::pair<std::string, std::string> new_commit() {
        const std::string old_id = rev("cl", "main");
        client("echo 3 >> f && git commit -qam three");
        return {old_id, rev("cl", "main")};
    }
    // A receive-pack request from alice to srv.git under root (kept alive by
    // the caller for the session's life).
    static gsh_request alices_push(const std::string &root) {
        gsh_request req{};
        req.kind = GSH_RPC_RECEIVE_PACK;
        req.root = root.data();
        req.root_len = root.size();
        req.repo = "/srv.git";
        req.repo_len = 8;
        req.export_all = 1;
        req.remote_user = "alice";
        req.remote_user_len = 5;
        return req;
    }
    std::string fsck() const { return sh("git -C '" + srv() + "' fsck --strict 2>&1"); }

    // Two versions of a file large enough for pack-objects to deltify.
    std::pair<std::string, std::string> commits_with_deltas() {
        const std::string old_id = rev("cl", "main");
        client("seq 1 3000 > g && git add g && git commit -qm g1 && seq 1 3001 > g && "
               "git commit -qam g2 && seq 2 3002 > g && git commit -qam g3");
        return {old_id, rev("cl", "main")};
    }

    // What git's own receive-pack answers to request (on a copy of the served
    // repository, always through index-pack as this module does).
    std::string gits_answer(const std::string &request) const {
        sh("rm -rf '" + dir.str() + "/theirs.git' && cp -r '" + srv() + "' '" + dir.str() +
           "/theirs.git'");
        std::ofstream(dir.str() + "/request", std::ios::binary) << request;
        return sh("git -c receive.unpackLimit=1 receive-pack --stateless-rpc '" + dir.str() +
                  "/theirs.git' < '" + dir.str() + "/request'");
    }

    // git receive-pack's advertisement of the served repository as the
    // module sends it: after the "# service=" lines, with the module's agent.
    std::string gits_advertisement() const {
        const std::string theirs =
            sh("git receive-pack --advertise-refs --stateless-rpc '" + srv() + "' 2>/dev/null");
        std::string expected = pkts({"# service=git-receive-pack", "FLUSH"});
        proto::PktReader r(theirs);
        for (proto::Pkt p = r.next(); p.kind != proto::PktKind::End; p = r.next()) {
            if (p.kind == proto::PktKind::Flush) {
                proto::pkt_flush(expected);
                continue;
            }
            std::string line(p.data);
            const size_t agent = line.find("agent=git/");
            if (agent != std::string::npos)
                line = line.substr(0, agent) + "agent=git-smart-http/0.1";
            proto::pkt_write_line(expected, line);
        }
        return expected;
    }

    // The payloads of bands 1 and 2 of a side-band response, read by hand:
    // PktReader drops the '\n' that ends a progress line.
    static std::pair<std::string, std::string> demux(const std::string &response) {
        std::string band1, band2;
        size_t pos = 0;
        while (pos + 4 <= response.size()) {
            const size_t len = std::stoul(response.substr(pos, 4), nullptr, 16);
            if (len < 5) {
                pos += 4;
                continue;
            }
            (response[pos + 4] == 1 ? band1 : band2).append(response, pos + 5, len - 5);
            pos += len;
        }
        return {band1, band2};
    }
};

TEST_F(ReceivePack, AdvertisementIsGitsButTheAgent) {
    client("git tag v1 && git push -q origin v1 2>/dev/null");
    sh("git -C '" + srv() + "' config receive.hideRefs refs/tags");
    Answer a = request(GSH_ADVERTISE_RECEIVE_PACK, "");
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.content_type, "application/x-git-receive-pack-advertisement");
    EXPECT_EQ(a.body, gits_advertisement());
    EXPECT_EQ(a.body.find("refs/tags/v1"), std::string::npos);
}

// srv borrows from pool (a branch and an annotated tag of its own, whose
// commit no ref names; one branch at srv's main) through a quoted path and from deep through mid
// (relative); a comment and a missing alternate are passed over.
TEST_F(ReceivePack, AlternatesRefTipsAreHaveLinesAsGits) {
    dir.run("git clone -q --bare srv.git pool.git && git clone -q --bare srv.git deep.git && "
            "git init -q --bare mid.git && cd cl && git commit -q --allow-empty -m p1 && "
            "git tag -a -m t pt && git commit -q --allow-empty -m p && "
            "git push -q ../pool.git HEAD:refs/heads/p pt && git commit -q --allow-empty -m d && "
            "git push -q ../deep.git HEAD:refs/heads/d HEAD:refs/heads/d2");
    dir.run("echo ../../deep.git/objects > mid.git/objects/info/alternates && "
            "printf '# pool\\n\"%s/pool.git/objects\"\\n../../gone.git/objects\\n"
            "../../mid.git/objects/\\n' \"$PWD\" > srv.git/objects/info/alternates");
    const std::string before = gits_advertisement();
    EXPECT_NE(before.find(rev("pool.git", "pt") + " .have"), std::string::npos) << before;
    EXPECT_NE(before.find(rev("deep.git", "d") + " .have"), std::string::npos) << before;
    EXPECT_EQ(before.find(rev("pool.git", "pt^{}") + " .have"), std::string::npos) << before;
    EXPECT_EQ(before.find(rev("srv.git", "main") + " .have"), std::string::npos) << before;
    Answer a = request(GSH_ADVERTISE_RECEIVE_PACK, "");
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.body, before);

    // core.alternateRefsPrefixes narrows the alternates' refs as
    // for-each-ref's patterns do: leading components or a glob.
    sh("git -C '" + srv() + "' config core.alternateRefsPrefixes 'refs/tags refs/heads/d*'");
    const std::string narrowed = gits_advertisement();
    EXPECT_EQ(narrowed.find(rev("pool.git", "p") + " .have"), std::string::npos) << narrowed;
    EXPECT_NE(narrowed.find(rev("deep.git", "d") + " .have"), std::string::npos) << narrowed;
    a = request(GSH_ADVERTISE_RECEIVE_PACK, "");
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.body, narrowed);
    sh("git -C '" + srv() + "' config --unset core.alternateRefsPrefixes");

    // An empty repository: the first ".have" carries the capabilities.
    sh("git -C '" + srv() + "' update-ref -d refs/heads/main");
    a = request(GSH_ADVERTISE_RECEIVE_PACK, "");
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.body, gits_advertisement());
    EXPECT_EQ(a.body.find("capabilities^{}"), std::string::npos);
}

TEST_F(ReceivePack, EmptyRepositoryAdvertisesCapabilitiesLine) {
    dir.run("rm -rf srv.git && git init -q --bare srv.git");
    Answer a = request(GSH_ADVERTISE_RECEIVE_PACK, "");
    ASSERT_EQ(a.status, 200);
    EXPECT_NE(a.body.find(std::string(kZero) + " capabilities^{}" + std::string(1, '\0') +
                          "report-status report-status-v2 delete-refs side-band-64k quiet "
                          "atomic ofs-delta object-format=sha1 agent="),
              std::string::npos);
}

TEST_F(ReceivePack, EnabledAsGitHttpBackendDecides) {
    Answer anon = request(GSH_ADVERTISE_RECEIVE_PACK, "", nullptr);
    EXPECT_EQ(anon.status, 403);
    EXPECT_EQ(anon.message, "Service not enabled: 'receive-pack'");
    EXPECT_EQ(request(GSH_ADVERTISE_RECEIVE_PACK, "", "").status, 403);
    EXPECT_EQ(push(body({"x"}, "", ""), nullptr).status, 403);
    sh("git -C '" + srv() + "' config http.receivepack true");
    EXPECT_EQ(request(GSH_ADVERTISE_RECEIVE_PACK, "", nullptr).status, 200);
    sh("git -C '" + srv() + "' config http.receivepack false");
    EXPECT_EQ(request(GSH_ADVERTISE_RECEIVE_PACK, "", "alice").status, 403);
}

TEST_F(ReceivePack, PushMovesTheRefAndReports) {
    auto [old_id, new_id] = new_commit();
    Answer a = push(body({old_id + " " + new_id + " refs/heads/main"}, "report-status",
                         pack({new_id, "^" + old_id})));
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.content_type, "application/x-git-receive-pack-result");
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    EXPECT_EQ(rev("srv.git", "main"), new_id);
    EXPECT_EQ(fsck(), "");
    EXPECT_EQ(quarantines(), 0u);
}

TEST_F(ReceivePack, SideBandWrapsTheReport) {
    auto [old_id, new_id] = new_commit();
    Answer a = push(body({old_id + " " + new_id + " refs/heads/main"},
                         "report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5",
                         pack({new_id, "^" + old_id}, true)));
    ASSERT_EQ(a.status, 200) << a.message;
    std::string report = pkts({"unpack ok", "ok refs/heads/main", "FLUSH"});
    std::string expected;
    proto::sideband_write(expected, 1, report);
    proto::pkt_flush(expected);
    EXPECT_EQ(a.body, expected);
    EXPECT_EQ(rev("srv.git", "main"), new_id);
}

TEST_F(ReceivePack, GzipBody) {
    auto [old_id, new_id] = new_commit();
    std::string raw = body({old_id + " " + new_id + " refs/heads/main"}, "report-status",
                           pack({new_id, "^" + old_id}));
    std::string gz;
    ASSERT_NO_FATAL_FAILURE(gzip(raw, 6, gz));
    Answer a = request(GSH_RPC_RECEIVE_PACK, gz, "alice", "gzip");
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
}

TEST_F(ReceivePack, CorruptPackChangesNothing) {
    auto [old_id, new_id] = new_commit();
    const std::string packs_before = sh("ls '" + srv() + "/objects/pack'");
    std::string p = pack({new_id, "^" + old_id});
    p[p.size() / 2] ^= 0x55;
    Answer a = push(body({old_id + " " + new_id + " refs/heads/main"}, "report-status", p));
    ASSERT_EQ(a.status, 200) << a.message;
    proto::PktReader r(a.body);
    proto::Pkt first = r.next();
    EXPECT_TRUE(first.data.starts_with("unpack index-pack")) << first.data;
    EXPECT_EQ(r.next().data, "ng refs/heads/main unpacker error");
    EXPECT_EQ(rev("srv.git", "main"), old_id);
    EXPECT_EQ(quarantines(), 0u);
    EXPECT_EQ(sh("ls '" + srv() + "/objects/pack'"), packs_before);
}

TEST_F(ReceivePack, TruncatedAndMissingPack) {
    auto [old_id, new_id] = new_commit();
    std::string p = pack({new_id, "^" + old_id});
    for (const std::string &cut : {p.substr(0, p.size() - 30), std::string()}) {
        Answer a = push(body({old_id + " " + new_id + " refs/heads/main"}, "report-status", cut));
        ASSERT_EQ(a.status, 200) << a.message;
        EXPECT_NE(a.body.find("ng refs/heads/main unpacker error"), std::string::npos);
        EXPECT_EQ(rev("srv.git", "main"), old_id);
    }
    EXPECT_EQ(quarantines(), 0u);
}

TEST_F(ReceivePack, ThinPackWithoutItsBaseIsRefused) {
    // A thin pack against a commit the server never had.
    auto [a_id, b_id] = new_commit();
    client("echo 4 >> f && git commit -qam four");
    const std::string c_id = rev("cl", "main");
    Answer a = push(body({a_id + " " + c_id + " refs/heads/main"}, "report-status",
                         pack({c_id, "^" + b_id}, true)));
    // Small enough to carry no delta: the pack is whole, its commit's
    // parent is missing, and git's connectivity check refuses the command.
    EXPECT_NE(a.body.find("unpack ok"), std::string::npos) << a.body;
    EXPECT_NE(a.body.find("ng refs/heads/main missing necessary objects"), std::string::npos)
        << a.body;
    EXPECT_EQ(rev("srv.git", "main"), a_id);
}

TEST_F(ReceivePack, StaleOldValueFails) {
    auto [old_id, new_id] = new_commit();
    Answer a = push(body({new_id + " " + new_id + " refs/heads/main"}, "report-status",
                         pack({new_id, "^" + old_id})));
    EXPECT_EQ(a.body, pkts({"unpack ok", "ng refs/heads/main failed to update ref", "FLUSH"}));
    EXPECT_EQ(rev("srv.git", "main"), old_id);
    EXPECT_EQ(quarantines(), 0u);
}

TEST_F(ReceivePack, AtomicIsAllOrNothing) {
    auto [old_id, new_id] = new_commit();
    const std::string cmds_pack = pack({new_id, "^" + old_id});
    Answer a = push(body({old_id + " " + new_id + " refs/heads/main",
                          kZero + std::string(" ") + new_id + " refs/heads/topic",
                          new_id + " " + new_id + " refs/heads/stale"},
                         "report-status atomic", cmds_pack));
    // The stale old value is found when the transaction locks its refs:
    // git's receive-pack then fails them all alike.
    EXPECT_EQ(a.body, pkts({"unpack ok", "ng refs/heads/main atomic transaction failed",
                            "ng refs/heads/topic atomic transaction failed",
                            "ng refs/heads/stale atomic transaction failed", "FLUSH"}));
    EXPECT_EQ(rev("srv.git", "main"), old_id);
    EXPECT_EQ(rev("srv.git", "refs/heads/topic"), "");
    // Without atomic the good ones go through.
    a = push(body({old_id + " " + new_id + " refs/heads/main",
                   kZero + std::string(" ") + new_id + " refs/heads/topic",
                   new_id + " " + new_id + " refs/heads/stale"},
                  "report-status", cmds_pack));
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/main", "ok refs/heads/topic",
                            "ng refs/heads/stale failed to update ref", "FLUSH"}));
    EXPECT_EQ(rev("srv.git", "main"), new_id);
    EXPECT_EQ(rev("srv.git", "refs/heads/topic"), new_id);
    EXPECT_EQ(fsck(), "");
}

TEST_F(ReceivePack, ChecksAsGitReceivePack) {
    auto [old_id, new_id] = new_commit();
    const std::string first = rev("cl", "main~2");
    const std::string blob = rev("cl", "main:f");
    sh("git -C '" + srv() + "' config receive.denyNonFastForwards true && git -C '" + srv() +
       "' config receive.denyDeletes true && git -C '" + srv() +
       "' config receive.hideRefs refs/secret && git -C '" + srv() + "' branch other main");
    const std::string z = kZero;
    Answer a = push(body({old_id + " " + first + " refs/heads/main", // rewind
                          old_id + " " + z + " refs/heads/other",    // delete
                          z + " " + new_id + " refs/secret/x",       // hidden
                          z + " " + new_id + " refs/heads/bad..name", z + " " + new_id + " HEAD",
                          z + " " + blob + " refs/heads/blob", z + " " + blob + " refs/blobs/ok",
                          z + " " + std::string(39, '1') + "2 refs/heads/missing"},
                         "report-status side-band-64k", pack({new_id, "^" + old_id})));
    ASSERT_EQ(a.status, 200);
    std::string report;
    // The report is in band 1; band 2 carries git's error: lines.
    proto::PktReader r(a.body);
    std::string band2;
    for (proto::Pkt p = r.next(); p.kind == proto::PktKind::Data; p = r.next())
        (p.data[0] == 1 ? report : band2) += p.data.substr(1);
    EXPECT_EQ(report, pkts({"unpack ok", "ng refs/heads/main non-fast-forward",
                            "ng refs/heads/other deletion prohibited",
                            "ng refs/secret/x deny updating a hidden ref",
                            "ng refs/heads/bad..name funny refname", "ng HEAD funny refname",
                            "ng refs/heads/blob failed to update ref", "ok refs/blobs/ok",
                            "ng refs/heads/missing bad pack", "FLUSH"}));
    EXPECT_NE(band2.find("error: denying non-fast-forward refs/heads/main (you should pull "
                         "first)"),
              std::string::npos);
    EXPECT_EQ(rev("srv.git", "refs/blobs/ok"), blob);
    EXPECT_EQ(rev("srv.git", "main"), old_id);
}

TEST_F(ReceivePack, DeleteOnlyAndCurrentBranch) {
    const std::string head = rev("cl", "main");
    sh("git -C '" + srv() + "' branch gone main");
    Answer a = push(
        body({head + " " + kZero + " refs/heads/gone", head + " " + kZero + " refs/heads/main"},
             "report-status", ""));
    EXPECT_EQ(a.body,
              pkts({"unpack ok", "ok refs/heads/gone",
                    "ng refs/heads/main deletion of the current branch prohibited", "FLUSH"}));
    EXPECT_EQ(rev("srv.git", "refs/heads/gone"), "");
    EXPECT_EQ(quarantines(), 0u);
}

TEST_F(ReceivePack, NonBareRefusesCheckedOutBranch) {
    // srv.git is now a work tree: its .git is what is served.
    const std::string head = rev("cl", "main");
    dir.run("rm -rf srv.git && git clone -q cl srv.git && git -C srv.git branch side");
    const std::string empty_pack = pack({"^" + head});
    Answer a =
        push(body({head + " " + kZero + " refs/heads/side", head + " " + head + " refs/heads/main"},
                  "report-status", empty_pack));
    ASSERT_EQ(a.status, 200) << a.message;
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/side",
                            "ng refs/heads/main branch is currently checked out", "FLUSH"}));
    sh("git -C '" + srv() + "' config receive.denyCurrentBranch ignore");
    a = push(body({head + " " + head + " refs/heads/main"}, "report-status", empty_pack));
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
}

TEST_F(ReceivePack, MalformedCommandsAre400) {
    EXPECT_EQ(push(pkts({"not a command", "FLUSH"})).status, 400);
    Answer a = push(pkts({"not a command", "FLUSH"}));
    EXPECT_EQ(a.message, "protocol error: expected old/new/ref, got 'not a command'");
    EXPECT_EQ(push("00").status, 400);
    EXPECT_EQ(push(pkts({std::string(kZero) + " " + kZero + " refs/heads/x"})).status, 400);
    EXPECT_EQ(push("zzzz").status, 400);
    // Nothing asked, nothing answered.
    Answer empty = push(pkts({"FLUSH"}));
    EXPECT_EQ(empty.status, 200);
    EXPECT_EQ(empty.body, "");
}

TEST_F(ReceivePack, StaleQuarantineOfADeadWorkerIsRemoved) {
    // A pid that cannot exist (above pid_max), in this host's quarantine
    // name; the same dead pid under another host's id, and pid 1 (alive).
    const std::string dead = "incoming-" + quarantine_host_id() + "-2147483646-abcdef";
    const std::string foreign = "incoming-h0123456789abcdef-2147483646-abcdef";
    const std::string live = "incoming-" + quarantine_host_id() + "-1-keep";
    dir.run("mkdir -p srv.git/objects/" + dead + "/pack && touch srv.git/objects/" + dead +
            "/pack/tmp_pack_x && mkdir srv.git/objects/" + foreign + " srv.git/objects/" + live);
    auto [old_id, new_id] = new_commit();
    Answer a = push(body({old_id + " " + new_id + " refs/heads/main"}, "report-status",
                         pack({new_id, "^" + old_id})));
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    EXPECT_FALSE(std::filesystem::exists(srv() + "/objects/" + dead));
    EXPECT_TRUE(std::filesystem::exists(srv() + "/objects/" + foreign));
    EXPECT_TRUE(std::filesystem::exists(srv() + "/objects/" + live));
}

TEST_F(ReceivePack, FsckObjectsRefusesABrokenCommit) {
    sh("git -C '" + srv() + "' config receive.fsckObjects true");
    const std::string old_id = rev("cl", "main");
    const std::string tree = rev("cl", "main^{tree}");
    // A commit with a malformed author line.
    const std::string bad = client("printf 'tree " + tree + "\\nparent " + old_id +
                                   "\\nauthor broken\\ncommitter C <c@x> 0 +0000\\n\\nm\\n' | "
                                   "git hash-object -t commit -w --literally --stdin");
    const std::string bad_id = bad.substr(0, 40);
    Answer a = push(body({old_id + " " + bad_id + " refs/heads/main"}, "report-status",
                         pack({bad_id, "^" + old_id})));
    EXPECT_NE(a.body.find("ng refs/heads/main unpacker error"), std::string::npos) << a.body;
    EXPECT_EQ(rev("srv.git", "main"), old_id);
    // A good push still passes.
    auto [o, n] = new_commit();
    a = push(body({o + " " + n + " refs/heads/main"}, "report-status", pack({n, "^" + o})));
    EXPECT_EQ(a.body, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
}

} // namespace

namespace {

// What the module shows before "Resolving deltas": "Receiving objects" as
// git's index-pack -v prints it, one line per percent, the last one with
// the pack's size and rate. git's receive-pack does not pass -v; this one
// shows the pack being read too, on purpose (issue 17).
void expect_receiving(const std::string &text, size_t objects, size_t pack_size) {
    const std::string n = std::to_string(objects);
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t cr = text.find('\r'); cr != std::string::npos; cr = text.find('\r', start)) {
        lines.push_back(text.substr(start, cr - start));
        start = cr + 1;
    }
    ASSERT_FALSE(lines.empty()) << text;
    for (const std::string &line : lines) {
        EXPECT_TRUE(line.starts_with("Receiving objects: ")) << text;
        EXPECT_TRUE(line.ends_with("/" + n + ")")) << text;
    }
    EXPECT_EQ(lines.back(), "Receiving objects: 100% (" + n + "/" + n + ")");
    const std::string last = text.substr(start);
    EXPECT_TRUE(last.starts_with("Receiving objects: 100% (" + n + "/" + n + "), " +
                                 humanise_size(pack_size) + " | "))
        << text;
    EXPECT_TRUE(last.ends_with("/s, done.\n")) << text;
}

// git's receive-pack relays index-pack's "Resolving deltas" progress on band
// 2 when the client asked for side-band-64k and not for quiet.
TEST_F(ReceivePack, ResolvingDeltasProgressAsGits) {
    auto [old_id, new_id] = commits_with_deltas();
    const std::string p = pack({new_id, "^" + old_id});
    const std::string request = body({old_id + " " + new_id + " refs/heads/main"},
                                     "report-status-v2 side-band-64k object-format=sha1 "
                                     "agent=git/2.39.5",
                                     p);
    const auto [their_report, their_progress] = demux(gits_answer(request));
    ASSERT_NE(their_progress.find(", done.\n"), std::string::npos) << their_progress;
    Answer a = push(request);
    ASSERT_EQ(a.status, 200) << a.message;
    const auto [report, progress] = demux(a.body);
    EXPECT_EQ(report, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    const size_t resolving = progress.find("Resolving deltas:   0% (0/");
    ASSERT_NE(resolving, std::string::npos) << progress;
    EXPECT_EQ(progress.substr(resolving), their_progress);
    expect_receiving(progress.substr(0, resolving), 9, p.size());
    EXPECT_EQ(rev("srv.git", "main"), new_id);
    EXPECT_EQ(fsck(), "");
}

TEST_F(ReceivePack, NoProgressWhenQuietOrWithoutSideBandOrDeltas) {
    auto [old_id, new_id] = commits_with_deltas();
    const std::string p = pack({new_id, "^" + old_id});
    const std::string cmd = old_id + " " + new_id + " refs/heads/main";
    // quiet: the report alone, on band 1.
    std::string q = push(body({cmd}, "report-status side-band-64k quiet", p)).body;
    std::string expected;
    proto::sideband_write(expected, 1, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    proto::pkt_flush(expected);
    EXPECT_EQ(q, expected);
    // Without side-band: the bare report.
    sh("git -C '" + srv() + "' update-ref refs/heads/main " + old_id);
    EXPECT_EQ(push(body({cmd}, "report-status", p)).body,
              pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    // A pack without deltas: no "Resolving deltas", as from git (whose
    // band 2 is empty); "Receiving objects" alone.
    client("echo 5 >> f && git commit -qam five");
    const std::string next = rev("cl", "main");
    const std::string small = pack({next, "^" + new_id});
    const std::string request =
        body({new_id + " " + next + " refs/heads/main"}, "report-status side-band-64k", small);
    EXPECT_EQ(demux(gits_answer(request)).second, "");
    Answer a = push(request);
    const auto [report, progress] = demux(a.body);
    EXPECT_EQ(report, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    expect_receiving(progress, 3, small.size());
    EXPECT_EQ(rev("srv.git", "main"), next);
}

// The two steps apart: the constructor reads the commands (a malformed
// request throws there, with nothing changed), run() does the push, band 2
// handed to live.post as it is made (the report is not), input_done once
// the pack is read.
TEST_F(ReceivePack, CommandsInTheConstructorWorkInRun) {
    auto [old_id, new_id] = commits_with_deltas();
    sh("git -C '" + srv() + "' config receive.keepAlive 7");
    auto open = [&] {
        git_repository *raw = nullptr;
        gsh::git_check(git_repository_open_bare(&raw, srv().c_str()), "open");
        return gsh::RepoPtr(raw);
    };
    auto context = [&] {
        gsh::PushContext ctx;
        ctx.git_dir = srv();
        ctx.max_request_size = 1 << 20;
        return ctx;
    };
    gsh::RequestBody bad;
    bad.add_memory("zzzz", 4);
    try {
        gsh::ReceivePack broken(open(), gsh::ReceivePackConfig(), context(), bad);
        ADD_FAILURE() << "a malformed request was read";
    } catch (const gsh::Error &e) {
        EXPECT_EQ(e.http_status(), 400);
    }

    const std::string request = body({old_id + " " + new_id + " refs/heads/main"},
                                     "report-status side-band-64k", pack({new_id, "^" + old_id}));
    gsh::RequestBody good;
    good.add_memory(request.data(), request.size());
    git_repository *raw = nullptr;
    gsh::git_check(git_repository_open_bare(&raw, srv().c_str()), "open");
    gsh::RepoPtr repo(raw);
    gsh::ReceivePack push(open(), gsh::load_receive_pack_config(repo.get()), context(), good);
    EXPECT_EQ(push.commands(), 1u);
    EXPECT_TRUE(push.side_band());
    EXPECT_EQ(push.keepalive_seconds(), 7);
    EXPECT_EQ(rev("srv.git", "main"), old_id) << "nothing done before run()";

    std::string posted;
    std::vector<size_t> input_done; // how much was posted by then
    gsh::PushLive live;
    live.post = [&](std::string_view pkts) { posted.append(pkts); };
    live.input_done = [&] { input_done.push_back(posted.size()); };
    const gsh::PushOutcome outcome = push.run(live);
    EXPECT_EQ(rev("srv.git", "main"), new_id);
    std::string report;
    proto::sideband_write(report, 1, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    proto::pkt_flush(report);
    EXPECT_EQ(outcome.response, report) << "band 2 went to live.post";
    const auto [band1, band2] = demux(posted);
    EXPECT_EQ(band1, "");
    EXPECT_NE(band2.find("Receiving objects: 100% (9/9), "), std::string::npos) << band2;
    EXPECT_NE(band2.find("Resolving deltas: 100% (2/2), done.\n"), std::string::npos) << band2;
    ASSERT_FALSE(input_done.empty());
    // the pack was read whole before its deltas were resolved
    EXPECT_EQ(posted.substr(0, input_done.front()).find("Resolving"), std::string::npos);
    EXPECT_EQ(outcome.objects, 9u);
    EXPECT_THROW(push.run(live), gsh::Error);
}

// A hook's output goes to live.post as the hook writes it: the pre-receive
// hook below waits for its first line to have been posted.
TEST_F(ReceivePack, HookOutputIsPostedAsTheHookWritesIt) {
    auto [old_id, new_id] = new_commit();
    // Bounded, so that output held back fails the push instead of hanging.
    dir.run("mkfifo seen");
    std::ofstream(srv() + "/hooks/pre-receive")
        << "#!/bin/sh\necho first\ntimeout 60 cat '" << dir.str()
        << "/seen' >/dev/null || exit 1\necho second\n";
    dir.run("chmod +x srv.git/hooks/pre-receive");
    const std::string request =
        body({old_id + " " + new_id + " refs/heads/main"}, "report-status side-band-64k quiet",
             pack({new_id, "^" + old_id}));
    gsh::RequestBody b;
    b.add_memory(request.data(), request.size());
    git_repository *raw = nullptr;
    gsh::git_check(git_repository_open_bare(&raw, srv().c_str()), "open");
    gsh::PushContext ctx;
    ctx.git_dir = srv();
    ctx.run_hooks = true;
    ctx.max_request_size = 1 << 20;
    gsh::ReceivePack push(gsh::RepoPtr(raw), gsh::ReceivePackConfig(), ctx, b);
    std::string band2;
    gsh::PushLive live;
    live.post = [&](std::string_view pkts) {
        band2 += demux(std::string(pkts)).second;
        if (band2 == "first\n") // the hook waits for this
            std::ofstream(dir.str() + "/seen") << "go\n";
    };
    push.run(live);
    EXPECT_EQ(band2, "first\nsecond\n");
    EXPECT_EQ(rev("srv.git", "main"), new_id);
}

// Through the C API: the open reads the commands and changes nothing; the
// first read does the push, and while it runs gsh_session_interim() hands
// out its band 2 (here a hook's line) and, once the pack is read, keepalives
// (receive.keepAlive 1) while the hook is silent.
TEST_F(ReceivePack, SessionPushRunsInTheFirstReadWithInterimOutput) {
    auto [old_id, new_id] = new_commit();
    sh("git -C '" + srv() + "' config receive.keepAlive 1");
    dir.run("mkfifo hold");
    std::ofstream(srv() + "/hooks/pre-receive") << "#!/bin/sh\necho holding\ntimeout 60 cat '"
                                                << dir.str() << "/hold' >/dev/null || exit 1\n";
    dir.run("chmod +x srv.git/hooks/pre-receive");
    const std::string request =
        body({old_id + " " + new_id + " refs/heads/main"}, "report-status side-band-64k quiet",
             pack({new_id, "^" + old_id}));
    const std::string root = dir.str();
    gsh_request req = alices_push(root);
    req.run_hooks = 1;
    std::unique_ptr<gsh_session, void (*)(gsh_session *)> s(gsh_session_create(&req),
                                                            gsh_session_destroy);
    gsh_session_add_body(s.get(), request.data(), request.size());
    ASSERT_EQ(gsh_session_open(s.get()), 200);
    EXPECT_EQ(rev("srv.git", "main"), old_id) << "the open only reads the commands";
    unsigned char buf[4096];
    EXPECT_EQ(gsh_session_interim(s.get(), buf, sizeof(buf)), 0u) << "no read under way";

    std::string response;
    int rc = GSH_ERROR;
    std::thread reader([&] {
        size_t n = 0;
        rc = gsh_session_read(s.get(), buf, sizeof(buf), &n);
        response.append(reinterpret_cast<char *>(buf), n);
    });
    // Polled as the module's timer does; bounded so that a failure ends.
    std::string interim;
    unsigned char ibuf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((interim.find("holding") == std::string::npos ||
            interim.find("0005\x01") == std::string::npos) &&
           std::chrono::steady_clock::now() < deadline) {
        interim.append(reinterpret_cast<char *>(ibuf),
                       gsh_session_interim(s.get(), ibuf, sizeof(ibuf)));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ofstream(dir.str() + "/hold") << "go\n";
    reader.join();
    EXPECT_EQ(demux(interim).second, "holding\n");
    EXPECT_NE(interim.find("0005\x01"), std::string::npos) << interim;
    std::string rest = response;
    while (rc == GSH_AGAIN) {
        size_t n = 0;
        rc = gsh_session_read(s.get(), buf, sizeof(buf), &n);
        rest.append(reinterpret_cast<char *>(buf), n);
    }
    EXPECT_EQ(rc, GSH_DONE);
    std::string report;
    proto::sideband_write(report, 1, pkts({"unpack ok", "ok refs/heads/main", "FLUSH"}));
    proto::pkt_flush(report);
    EXPECT_EQ(rest, report);
    EXPECT_EQ(rev("srv.git", "main"), new_id);
    EXPECT_EQ(gsh_session_pack_objects(s.get()), 3u);
    EXPECT_EQ(gsh_session_interim(s.get(), buf, sizeof(buf)), 0u) << "the push is over";
}

// A gzip body whose stream breaks in the pack: the commands were read (200),
// the push fails in its read, as git http-backend dies after its headers
// when it cannot inflate the rest: the response ends there (GSH_ERROR, the
// module closes the connection), nothing is changed, no quarantine is left.
TEST_F(ReceivePack, GzipBodyBrokenInThePackFailsAfterThe200) {
    // A pack larger than what the open reads ahead with the commands.
    const std::string old_id = rev("cl", "main");
    client("head -c 1048576 /dev/urandom > r && git add r && git commit -qm r");
    const std::string new_id = rev("cl", "main");
    std::string raw = body({old_id + " " + new_id + " refs/heads/main"}, "report-status",
                           pack({new_id, "^" + old_id}));
    std::string gz;
    ASSERT_NO_FATAL_FAILURE(gzip(raw, 0, gz));
    gz[gz.size() - 5] ^= 0x55; // the CRC, checked at the end of the pack
    const std::string root = dir.str();
    gsh_request req = alices_push(root);
    req.content_encoding = "gzip";
    req.content_encoding_len = 4;
    std::unique_ptr<gsh_session, void (*)(gsh_session *)> s(gsh_session_create(&req),
                                                            gsh_session_destroy);
    gsh_session_add_body(s.get(), gz.data(), gz.size());
    ASSERT_EQ(gsh_session_open(s.get()), 200) << gsh_session_message(s.get());
    unsigned char buf[4096];
    size_t n = 0;
    EXPECT_EQ(gsh_session_read(s.get(), buf, sizeof(buf), &n), GSH_ERROR);
    EXPECT_EQ(n, 0u);
    EXPECT_NE(std::string(gsh_session_message(s.get())), "");
    EXPECT_EQ(rev("srv.git", "main"), old_id);
    EXPECT_EQ(quarantines(), 0u);
}

// receive.maxInputSize with git's unit suffixes; receive.fsck.* as git's
// receive-pack appends them to index-pack's --strict: only with fsckObjects,
// an unknown message id left out, the skiplist path expanded.
TEST_F(ReceivePack, MaxInputSizeAndFsckSettingsAsGitReadsThem) {
    sh("git -C '" + srv() + "' config receive.maxInputSize 2k && git -C '" + srv() +
       "' config receive.fsck.missingEmail ignore && git -C '" + srv() +
       "' config receive.fsck.noSuchId warn && git -C '" + srv() +
       "' config receive.fsck.skipList '~/skip'");
    auto load = [&] {
        git_repository *raw = nullptr;
        gsh::git_check(git_repository_open_bare(&raw, srv().c_str()), "open");
        gsh::RepoPtr repo(raw);
        return gsh::load_receive_pack_config(repo.get());
    };
    gsh::ReceivePackConfig off = load();
    EXPECT_EQ(off.max_input_size, 2048u);
    EXPECT_EQ(off.keepalive_seconds, 5) << "receive.keepAlive's default";
    EXPECT_EQ(off.fsck_msg_types, "");
    sh("git -C '" + srv() + "' config transfer.fsckObjects true");
    EXPECT_EQ(load().fsck_msg_types,
              "=skiplist=" + std::string(getenv("HOME")) + "/skip,missingemail=ignore");
}

} // namespace

// What the module's pack cache asks of a session: a key that is the same
// for requests answered with the same bytes and differs otherwise, a stamp
// that follows the repository's state, and a copy of every byte read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <git2.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "c_session.h"
#include "fixture.h"
#include "git_smart_http.h"
#include "protocol/pkt_line.h"

namespace {

using gsh::test::SessionPtr;
using gsh::test::TempDir;
using gsh::test::v2_body;

using Bytes = std::array<unsigned char, 20>;

struct Key {
    int cacheable = 0;
    Bytes key{}, stamp{};
};

class PackCacheKey : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        gsh_global_init();
        dir = new TempDir();
        // Incompressible blobs, so that a pack's runs are long enough to be
        // handed out as file pieces.
        dir->run("git init -q -b main work && cd work && "
                 "for i in 1 2 3 4; do head -c 40000 /dev/urandom > f$i; git add f$i; "
                 "git commit -qm c$i; git tag -a -m t$i t$i; done && "
                 "cd .. && git clone -q --bare work repo.git && git -C repo.git repack -adq && "
                 "git -C repo.git config uploadpack.allowFilter true");
        main_ = rev("main");
        old_ = rev("main~2");
    }
    // libgit2 stays initialised: the process's repository cache still
    // holds this suite's repositories, which later suites' may evict.
    static void TearDownTestSuite() { delete dir; }

    static std::string rev(const std::string &name) {
        std::string r = dir->run("git -C repo.git rev-parse " + name);
        r.resize(40);
        return r;
    }

    static SessionPtr open(const std::string &protocol, const std::string &body) {
        int status = 0;
        SessionPtr s = gsh::test::open_session(dir->str(), "repo.git", GSH_RPC_UPLOAD_PACK,
                                               protocol, body, &status);
        EXPECT_EQ(status, 200) << gsh_session_message(s.get());
        return s;
    }

    static Key key_of(const std::string &protocol, const std::string &body) {
        SessionPtr s = open(protocol, body);
        Key k;
        k.cacheable = gsh_session_cache_key(s.get(), k.key.data(), k.stamp.data());
        return k;
    }

    static Key fetch(const std::vector<std::string> &args) {
        return key_of("version=2", v2_body("fetch", args));
    }

    static TempDir *dir;
    static std::string main_, old_;
};

TempDir *PackCacheKey::dir = nullptr;
std::string PackCacheKey::main_;
std::string PackCacheKey::old_;

TEST_F(PackCacheKey, SameRequestSameKey) {
    const Key a = fetch({"ofs-delta", "no-progress", "want " + main_, "done"});
    const Key b = fetch({"ofs-delta", "no-progress", "want " + main_, "done"});
    ASSERT_EQ(a.cacheable, 1);
    ASSERT_EQ(b.cacheable, 1);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.stamp, b.stamp);
}

TEST_F(PackCacheKey, WantOrderRepeatsAndTheAgentDoNotChangeTheKey) {
    const Key a = fetch({"ofs-delta", "want " + main_, "want " + old_, "done"});
    const Key b = key_of("version=2", v2_body("fetch", {"ofs-delta", "want " + old_,
                                                        "want " + main_, "want " + old_, "done"}));
    std::string with_agent;
    gsh::proto::pkt_write_line(with_agent, "command=fetch");
    gsh::proto::pkt_write_line(with_agent, "agent=other/1.0");
    gsh::proto::pkt_write_line(with_agent, "object-format=sha1");
    with_agent += "0001";
    for (const std::string &l :
         std::vector<std::string>{"ofs-delta", "want " + main_, "want " + old_, "done"})
        gsh::proto::pkt_write_line(with_agent, l);
    gsh::proto::pkt_flush(with_agent);
    const Key c = key_of("version=2", with_agent);
    ASSERT_EQ(a.cacheable, 1);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.key, c.key);
}

TEST_F(PackCacheKey, WhatChangesTheBytesChangesTheKey) {
    const std::string want = "want " + main_;
    const std::vector<std::vector<std::string>> requests = {
        {want, "done"},
        {"ofs-delta", want, "done"},
        {"no-progress", want, "done"},
        {"include-tag", want, "done"},
        {"thin-pack", want, "done"},
        {want, "deepen 1", "done"},
        {want, "filter blob:none", "done"},
        {want, "filter tree:0", "done"},
        {"want " + old_, "done"},
    };
    std::vector<Bytes> keys;
    for (const auto &r : requests) {
        const Key k = fetch(r);
        ASSERT_EQ(k.cacheable, 1) << r[0];
        for (const Bytes &seen : keys)
            EXPECT_NE(k.key, seen) << r[0] << " " << r[1];
        keys.push_back(k.key);
    }
    // v0 with the same wants is another answer (NAK, framing).
    std::string v0;
    gsh::proto::pkt_write_line(v0, "want " + main_ + " side-band-64k");
    gsh::proto::pkt_flush(v0);
    gsh::proto::pkt_write_line(v0, "done");
    const Key k0 = key_of("", v0);
    ASSERT_EQ(k0.cacheable, 1);
    for (const Bytes &seen : keys)
        EXPECT_NE(k0.key, seen);
}

TEST_F(PackCacheKey, WhatDependsOnTheClientIsNotCached) {
    EXPECT_EQ(fetch({"want " + main_, "have " + old_, "done"}).cacheable, 0);
    EXPECT_EQ(key_of("version=2", v2_body("ls-refs", {})).cacheable, 0);
    // A negotiation round: no pack.
    EXPECT_EQ(fetch({"want " + main_, "have " + old_}).cacheable, 0);
    // sparse:oid names a blob by a revision the stamp does not cover.
    EXPECT_EQ(fetch({"want " + main_, "filter sparse:oid=main:f1", "done"}).cacheable, 0);
}

TEST_F(PackCacheKey, StampFollowsRefsAndPacks) {
    const std::vector<std::string> req = {"want " + old_, "done"};
    const Key before = fetch(req);
    const Key again = fetch(req);
    EXPECT_EQ(before.stamp, again.stamp);

    dir->run("git -C repo.git update-ref refs/heads/side " + old_);
    const Key moved = fetch(req);
    EXPECT_EQ(moved.key, before.key);
    EXPECT_NE(moved.stamp, before.stamp);

    // Recompressed at another level, so that the new pack's bytes, and so
    // its name, differ: a plain -f could write the very same pack again
    // (same name, same bytes), which rightly keeps the stamp.
    dir->run("git -C repo.git -c pack.compression=1 repack -adFq");
    const Key repacked = fetch(req);
    EXPECT_EQ(repacked.key, before.key);
    EXPECT_NE(repacked.stamp, moved.stamp);
    dir->run("git -C repo.git update-ref -d refs/heads/side");
}

// The copy is the response, read whole or in pieces.
TEST_F(PackCacheKey, TeeCopiesEveryByteRead) {
    const std::string body = v2_body("fetch", {"ofs-delta", "want " + main_, "done"});
    for (int pieces = 0; pieces < 2; ++pieces) {
        SCOPED_TRACE(pieces ? "pieces" : "buffer");
        const std::string path = dir->str() + "/tee";
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
        ASSERT_GE(fd, 0);
        SessionPtr s = open("version=2", body);
        gsh_session_tee(s.get(), fd);
        std::string sent;
        size_t file_pieces = 0;
        int rc;
        std::vector<unsigned char> buf(65536);
        do {
            size_t n = 0, np = 0;
            gsh_piece p[16];
            if (!pieces) {
                rc = gsh_session_read(s.get(), buf.data(), buf.size(), &n);
                sent.append(reinterpret_cast<char *>(buf.data()), n);
                continue;
            }
            rc = gsh_session_read_pieces(s.get(), buf.data(), buf.size(), &n, p, 16, &np);
            const unsigned char *mem = buf.data();
            for (size_t i = 0; i < np; ++i) {
                if (p[i].fd < 0) {
                    sent.append(reinterpret_cast<const char *>(mem), p[i].len);
                    mem += p[i].len;
                    continue;
                }
                std::string part(p[i].len, '\0');
                ASSERT_EQ(pread(p[i].fd, part.data(), part.size(), p[i].offset),
                          ssize_t(part.size()));
                sent += part;
                ++file_pieces;
            }
        } while (rc == GSH_AGAIN);
        ASSERT_EQ(rc, GSH_DONE);
        EXPECT_STREQ(gsh_session_tee_error(s.get()), "");
        std::string copy(size_t(lseek(fd, 0, SEEK_END)), '\0');
        ASSERT_EQ(pread(fd, copy.data(), copy.size(), 0), ssize_t(copy.size()));
        ::close(fd);
        EXPECT_GT(sent.size(), 160000u);
        EXPECT_TRUE(copy == sent);
        if (pieces) {
            EXPECT_GT(file_pieces, 0u);
        }
    }
}

// A write that fails ends the copy, not the response.
TEST_F(PackCacheKey, TeeThatCannotWriteLeavesTheResponseWhole) {
    const std::string body = v2_body("fetch", {"ofs-delta", "want " + main_, "done"});
    const int fd = ::open("/dev/full", O_WRONLY);
    ASSERT_GE(fd, 0);
    SessionPtr s = open("version=2", body);
    gsh_session_tee(s.get(), fd);
    int rc = 0;
    const std::string sent = gsh::test::read_all(s.get(), &rc);
    ::close(fd);
    EXPECT_EQ(rc, GSH_DONE);
    EXPECT_NE(std::string(gsh_session_tee_error(s.get())).find("No space left"), std::string::npos);
    SessionPtr plain = open("version=2", body);
    EXPECT_TRUE(gsh::test::read_all(plain.get(), &rc) == sent);
}

} // namespace

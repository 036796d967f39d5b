// thin-pack as the client asks for it: the fetch argument in v2, the
// capability on the first want line in v0.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fixture.h"
#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "repo/repo_access.h"
#include "service/pack_section.h"
#include "service/upload_pack_v0.h"
#include "service/upload_pack_v2.h"
#include "test_pack_repo.h"

namespace gsh {
namespace {

class UploadPackThin : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        git_libgit2_init();
        dir = new test::TempDir();
        path = test::shrinking_repo(dir->str() + "/shrink", false);
        tip = rev("main");
        old = rev("main~10");
    }
    static void TearDownTestSuite() { delete dir; }
    static std::string rev(const std::string &r) {
        return test::split_lines(test::sh("git --git-dir='" + path + "' rev-parse " + r))[0];
    }

    // Produces the whole pack section; returns its statistics.
    static pack::PackStats drain(PackSection &pack) {
        std::vector<uint8_t> buf(65536);
        std::string spill;
        while (!pack.finished())
            pack.produce(buf.data(), buf.size(), &spill);
        return *pack.stats();
    }

    static pack::PackStats fetch_v2(bool thin) {
        std::string body;
        proto::pkt_write_line(body, "command=fetch");
        proto::pkt_delim(body);
        for (const std::string &line : std::vector<std::string>{
                 "ofs-delta", "no-progress", "want " + tip, "have " + old, "done"})
            proto::pkt_write_line(body, line);
        if (thin)
            proto::pkt_write_line(body, "thin-pack");
        proto::pkt_flush(body);
        RepoAccess repo(path);
        std::unique_ptr<PackSection> pack;
        answer_v2(repo, proto::parse_v2_request(body), &pack);
        EXPECT_TRUE(pack);
        return pack ? drain(*pack) : pack::PackStats{};
    }

    static pack::PackStats fetch_v0(bool thin) {
        std::string body;
        proto::pkt_write_line(body, "want " + tip + " multi_ack_detailed side-band-64k ofs-delta" +
                                        (thin ? " thin-pack" : ""));
        proto::pkt_flush(body);
        proto::pkt_write_line(body, "have " + old);
        proto::pkt_write_line(body, "done");
        RepoAccess repo(path);
        std::unique_ptr<PackSection> pack;
        answer_v0(repo, body, &pack);
        EXPECT_TRUE(pack);
        return pack ? drain(*pack) : pack::PackStats{};
    }

    static inline test::TempDir *dir = nullptr;
    static inline std::string path, tip, old;
};

TEST_F(UploadPackThin, V2FetchArgument) {
    pack::PackStats thin = fetch_v2(true), full = fetch_v2(false);
    EXPECT_EQ(thin.objects, full.objects);
    EXPECT_GT(thin.thin_deltas, 0u);
    EXPECT_EQ(full.thin_deltas, 0u);
    EXPECT_LT(thin.bytes, full.bytes);
}

TEST_F(UploadPackThin, V0Capability) {
    pack::PackStats thin = fetch_v0(true), full = fetch_v0(false);
    EXPECT_EQ(thin.objects, full.objects);
    EXPECT_GT(thin.thin_deltas, 0u);
    EXPECT_EQ(full.thin_deltas, 0u);
    EXPECT_LT(thin.bytes, full.bytes);
}

} // namespace
} // namespace gsh

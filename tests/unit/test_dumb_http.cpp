// The dumb protocol's generated files: info/refs is what `git
// update-server-info` writes, HEAD and objects/info/packs what git
// http-backend answers; and the session's answers for the dumb kinds
// (export rules, http.getanyfile).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <utime.h>

#include <fstream>
#include <sstream>
#include <string>

#include "fixture.h"
#include "git_smart_http.h"
#include "repo/refs.h"
#include "repo/repo_cache.h"
#include "service/dumb_http.h"

namespace gsh {
namespace {

using test::sh;

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class DumbHttpTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_EQ(gsh_global_init(), 0); }

    void SetUp() override {
        // Annotated tags (one of another tag), a lightweight tag, a tag of a
        // tree, a symbolic ref under refs/, loose and packed refs.
        dir_.run("git init -q -b main w && cd w && for i in 1 2 3; do echo $i > f$i; git add .; "
                 "git commit -qm c$i; done && git tag -a -m t v1 && git -c advice.nestedTag=false "
                 "tag -a -m tt v1-outer v1 && "
                 "git tag light HEAD~1 && git tag -a -m tree treetag 'HEAD^{tree}' && "
                 "git branch side HEAD~1 && git clone -q --bare . ../r.git && "
                 "git -C ../r.git pack-refs --all && git -C ../r.git branch loose side && "
                 "git -C ../r.git symbolic-ref refs/remotes/origin/HEAD refs/heads/main && "
                 ": > ../r.git/git-daemon-export-ok");
        path_ = dir_.str() + "/r.git";
    }

    std::string update_server_info() {
        sh("git --git-dir='" + path_ + "' update-server-info");
        return read_file(path_ + "/info/refs");
    }

    // The body of a dumb request through the C API, or "" with *status.
    std::string answer(gsh_request_kind kind, int *status, bool export_all = false) {
        gsh_request req{};
        req.kind = kind;
        const std::string root = dir_.str();
        req.root = root.c_str();
        req.root_len = root.size();
        req.repo = "r";
        req.repo_len = 1;
        req.export_all = export_all ? 1 : 0;
        gsh_session *s = gsh_session_create(&req);
        *status = gsh_session_open(s);
        std::string out;
        if (*status == 200) {
            unsigned char buf[4096];
            size_t n = 0;
            int rc;
            do {
                rc = gsh_session_read(s, buf, sizeof(buf), &n);
                out.append(reinterpret_cast<char *>(buf), n);
            } while (rc == GSH_AGAIN);
            EXPECT_EQ(rc, GSH_DONE);
            if (kind != GSH_DUMB_FILE) {
                EXPECT_EQ(gsh_session_content_length(s), static_cast<long long>(out.size()));
            }
            EXPECT_EQ(std::string(gsh_session_repo_path(s)), path_);
        }
        gsh_session_destroy(s);
        return out;
    }

    test::TempDir dir_;
    std::string path_;
};

TEST_F(DumbHttpTest, InfoRefsIsWhatUpdateServerInfoWrites) {
    RepoPtr repo = open_repository(path_);
    const std::string ours = dumb_info_refs(list_refs(repo.get(), HiddenRefs()));
    const std::string git = update_server_info();
    EXPECT_EQ(ours, git);
    EXPECT_NE(ours.find("\trefs/tags/v1-outer^{}\n"), std::string::npos);
    EXPECT_NE(ours.find("\trefs/tags/treetag^{}\n"), std::string::npos);
    EXPECT_EQ(ours.find("refs/tags/light^{}"), std::string::npos);
    EXPECT_NE(ours.find("\trefs/remotes/origin/HEAD\n"), std::string::npos);
    EXPECT_EQ(ours.find("\tHEAD\n"), std::string::npos);
}

TEST_F(DumbHttpTest, SessionAnswersInfoRefsWithHiddenRefsToo) {
    sh("git --git-dir='" + path_ + "' config uploadpack.hideRefs refs/tags");
    int status = 0;
    const std::string body = answer(GSH_DUMB_INFO_REFS, &status);
    EXPECT_EQ(status, 200);
    EXPECT_EQ(body, update_server_info());
}

TEST_F(DumbHttpTest, Head) {
    int status = 0;
    EXPECT_EQ(answer(GSH_DUMB_HEAD, &status), "ref: refs/heads/main\n");
    const std::string oid = sh("git --git-dir='" + path_ + "' rev-parse side");
    sh("git --git-dir='" + path_ + "' update-ref --no-deref HEAD side");
    EXPECT_EQ(answer(GSH_DUMB_HEAD, &status), oid);
    sh("git --git-dir='" + path_ + "' symbolic-ref HEAD refs/heads/unborn");
    EXPECT_EQ(answer(GSH_DUMB_HEAD, &status), "");
    EXPECT_EQ(status, 200);
}

TEST_F(DumbHttpTest, InfoPacksNewestFirst) {
    sh("cd '" + path_ + "' && git repack -qd && git --git-dir=. branch -f side main && " +
       "git --git-dir=. update-ref refs/heads/extra $(git commit-tree -m x 'main^{tree}') && " +
       "git repack -qd");
    const std::string names = sh("cd '" + path_ + "/objects/pack' && ls pack-*.pack");
    std::vector<std::string> packs;
    std::istringstream in(names);
    for (std::string line; std::getline(in, line);)
        packs.push_back(line);
    ASSERT_EQ(packs.size(), 2u);
    // The first in name order is made the newest.
    for (size_t i = 0; i < 2; i++) {
        struct utimbuf t = {time_t(1700000000 - i * 100), time_t(1700000000 - i * 100)};
        ASSERT_EQ(utime((path_ + "/objects/pack/" + packs[i]).c_str(), &t), 0);
    }
    // An .idx whose .pack is gone is left out, as git does.
    std::ofstream(path_ + "/objects/pack/pack-0000000000000000000000000000000000000000.idx");
    const std::string expected = "P " + packs[0] + "\nP " + packs[1] + "\n\n";
    EXPECT_EQ(dumb_info_packs(path_ + "/objects"), expected);
    int status = 0;
    EXPECT_EQ(answer(GSH_DUMB_INFO_PACKS, &status), expected);
}

TEST_F(DumbHttpTest, NoPacks) {
    const std::string empty = dir_.str() + "/e.git";
    sh("git init -q --bare '" + empty + "'");
    EXPECT_EQ(dumb_info_packs(empty + "/objects"), "\n");
    RepoPtr repo = open_repository(empty);
    EXPECT_EQ(dumb_info_refs(list_refs(repo.get(), HiddenRefs())), "");
    EXPECT_EQ(dumb_head(list_refs(repo.get(), HiddenRefs())), "");
}

TEST_F(DumbHttpTest, GetAnyFileFalseIs403ForEveryKind) {
    sh("git --git-dir='" + path_ + "' config http.getanyfile false");
    for (gsh_request_kind kind :
         {GSH_DUMB_INFO_REFS, GSH_DUMB_HEAD, GSH_DUMB_INFO_PACKS, GSH_DUMB_FILE}) {
        int status = 0;
        answer(kind, &status);
        EXPECT_EQ(status, 403) << kind;
    }
}

TEST_F(DumbHttpTest, NotExportedIs404AndFileFindsTheRepository) {
    int status = 0;
    answer(GSH_DUMB_FILE, &status);
    EXPECT_EQ(status, 200);
    sh("rm '" + path_ + "/git-daemon-export-ok'");
    answer(GSH_DUMB_FILE, &status);
    EXPECT_EQ(status, 404);
    answer(GSH_DUMB_INFO_REFS, &status);
    EXPECT_EQ(status, 404);
    answer(GSH_DUMB_INFO_REFS, &status, true);
    EXPECT_EQ(status, 200);
}

} // namespace
} // namespace gsh

// A fixture repository and git's own upload-pack to compare answers with.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "fixture.h"
#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "util/git_ptr.h"
#include "repo/repo_access.h"
#include "repo/upload_pack_config.h"
#include "service/pack_section.h"
#include "service/upload_pack_v0.h"
#include "service/upload_pack_v2.h"

namespace gsh::test {

class UploadPackFixture : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        git_libgit2_init();
        dir = new TempDir();
        dir->run("git init -q -b main repo && cd repo && "
                 "for i in 1 2 3 4 5 6; do echo $i >> f; git add f; git commit -qm c$i; done && "
                 "git branch side HEAD~3 && git tag light HEAD~1 && "
                 "git tag -a -m annotated v1 HEAD~2 && git -c advice.nestedTag=false tag -a -m "
                 "chained v1-chain v1 && "
                 "git update-ref refs/hidden/secret HEAD~4 && "
                 "git symbolic-ref refs/remotes/origin/HEAD refs/heads/side && "
                 "git config uploadpack.hideRefs refs/hidden");
        dir->run("git init -q --bare -b main empty.git");
        path = dir->str() + "/repo/.git";
    }
    static void TearDownTestSuite() {
        access.reset();
        delete dir;
        git_libgit2_shutdown();
    }

    // git's own answer; protocol is the GIT_PROTOCOL value ("" for v0).
    static std::string git_answer(const std::string &gitdir, const std::string &body,
                                  const std::string &protocol = "version=2") {
        std::string req = dir->str() + "/req";
        std::ofstream(req, std::ios::binary) << body;
        return test::sh("GIT_PROTOCOL='" + protocol + "' git upload-pack --stateless-rpc '" +
                        gitdir + "' < '" + req + "' 2>/dev/null; true");
    }

    // The repository as a request reads it, fresh (no cache); kept until
    // the next answer, for the pack section that reads through it.
    static RepoAccess &access_to(const std::string &gitdir) {
        access.reset();
        access = std::make_unique<RepoAccess>(gitdir);
        return *access;
    }

    static std::string our_answer(const std::string &gitdir, const std::string &body,
                                  std::unique_ptr<PackSection> *pack = nullptr) {
        std::unique_ptr<PackSection> unused;
        return answer_v2(access_to(gitdir), proto::parse_v2_request(body), pack ? pack : &unused);
    }

    static std::string our_answer_v0(const std::string &gitdir, const std::string &body,
                                     std::unique_ptr<PackSection> *pack = nullptr) {
        std::unique_ptr<PackSection> unused;
        return answer_v0(access_to(gitdir), body, pack ? pack : &unused);
    }

    static std::string request(const std::string &command, std::vector<std::string> args) {
        std::string out;
        proto::pkt_write_line(out, "command=" + command);
        proto::pkt_write_line(out, "agent=git/2.39.5");
        proto::pkt_write_line(out, "object-format=sha1");
        proto::pkt_delim(out);
        for (const std::string &a : args)
            proto::pkt_write_line(out, a);
        proto::pkt_flush(out);
        return out;
    }

    static std::string rev(const std::string &what) {
        std::string out = dir->run("cd repo && git rev-parse " + what);
        return out.substr(0, 40);
    }

    static inline TempDir *dir = nullptr;
    static inline std::unique_ptr<RepoAccess> access;
    static inline std::string path;
};

} // namespace gsh::test

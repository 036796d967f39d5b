#include <gtest/gtest.h>

#include "fixture.h"
#include "repo/repo_path.h"
#include "util/error.h"

using namespace gsh;
using gsh::test::TempDir;

namespace {

int status(const std::string &root, const std::string &name, bool export_all = false) {
    try {
        resolve_repository(root, name, export_all);
        return 200;
    } catch (const Error &e) {
        return e.http_status();
    }
}

} // namespace

TEST(RepoPath, FindsRepositoriesAsGitEnterRepoDoes) {
    TempDir outside;
    outside.run("git init -q --bare elsewhere.git && touch elsewhere.git/git-daemon-export-ok");
    TempDir d;
    d.run("mkdir root && cd root && git init -q --bare a.git && touch a.git/git-daemon-export-ok"
          " && mkdir -p g/s && git init -q --bare g/s/p.git && touch g/s/p.git/git-daemon-export-ok"
          " && git init -q work && touch work/.git/git-daemon-export-ok"
          " && git init -q --bare hidden.git && mkdir plain"
          " && ln -s '" +
          outside.str() +
          "/elsewhere.git' escape.git"
          " && ln -s a.git alias.git");
    std::string root = d.str() + "/root";
    EXPECT_EQ(resolve_repository(root, "a.git", false), root + "/a.git");
    EXPECT_EQ(resolve_repository(root, "a", false), root + "/a.git");
    EXPECT_EQ(resolve_repository(root, "/g/s/p", false), root + "/g/s/p.git");
    EXPECT_EQ(resolve_repository(root, "work", false), root + "/work/.git");
    EXPECT_EQ(resolve_repository(root, "alias.git", false), root + "/a.git");
    EXPECT_EQ(status(root, "missing"), 404);
    EXPECT_EQ(status(root, "hidden.git"), 404); // not exported
    EXPECT_EQ(status(root, "hidden.git", true), 200);
    EXPECT_EQ(status(root, "plain"), 404);      // not a repository
    EXPECT_EQ(status(root, "escape.git"), 404); // symlink out of the root
    EXPECT_EQ(status(root, "../root/a.git"), 404);
    EXPECT_EQ(status(root, "g/../a.git"), 404);
    EXPECT_EQ(status(root, "./a.git"), 404);
    EXPECT_EQ(status(root, "a.git\\x"), 404);
    EXPECT_EQ(status(root, std::string("a.git\0x", 7)), 404);
    EXPECT_EQ(status(root, ""), 404);
}

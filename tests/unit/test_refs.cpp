// Listing a repository's refs: what they peel to comes from packed-refs
// where it says so for the same id, else from the tag objects.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture.h"
#include "repo/refs.h"
#include "test_pack_repo.h"
#include "util/oid_hex.h"

namespace gsh {
namespace {

using test::sh;

const Ref *named(const std::vector<Ref> &refs, const std::string &name) {
    for (const Ref &r : refs)
        if (r.name == name)
            return &r;
    return nullptr;
}

class RefsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        work_.run("git init -q --bare -b main r.git && git init -q -b main w && cd w && "
                  "git commit -q --allow-empty -m one && git commit -q --allow-empty -m two && "
                  "git tag -a -m t1 t1 HEAD~1 && git tag -a -m t2 t2 HEAD && git tag light && "
                  "git push -q ../r.git main --tags && git -C ../r.git pack-refs --all");
        path_ = work_.str() + "/r.git";
    }
    std::string rev(const std::string &r) {
        return test::split_lines(sh("git --git-dir='" + path_ + "' rev-parse '" + r + "'"))[0];
    }
    test::TempDir work_;
    std::string path_;
};

TEST_F(RefsTest, PeeledAsGitSaysThem) {
    RepoPtr repo = test::open_repo(path_);
    const RefListing l = list_refs_and_tips(repo.get(), HiddenRefs());
    ASSERT_TRUE(named(l.refs, "refs/tags/t1") && named(l.refs, "refs/tags/light"));
    ASSERT_TRUE(named(l.refs, "refs/tags/t1")->peeled);
    EXPECT_EQ(oid_hex(*named(l.refs, "refs/tags/t1")->peeled), rev("main~1"));
    EXPECT_FALSE(named(l.refs, "refs/tags/light")->peeled);
    EXPECT_FALSE(named(l.refs, "refs/heads/main")->peeled);
    EXPECT_EQ(l.tips.size(), l.refs.size()) << "HEAD and every ref";
    EXPECT_EQ(l.refs.front().name, "HEAD");
}

// The "^" line is taken as written, as git takes it (so it is the file, not
// the tag, that is read); a loose ref of another id is peeled from its tag.
TEST_F(RefsTest, PackedPeelForTheSameIdOnly) {
    const std::string t1 = rev("refs/tags/t1"), other = rev("main");
    const std::string packed = path_ + "/packed-refs";
    sh("sed -i 's/^\\^" + rev("main~1") + "$/^" + other + "/' '" + packed + "'");
    ASSERT_NE(sh("cat '" + packed + "'").find("^" + other), std::string::npos);
    RepoPtr repo = test::open_repo(path_);
    std::vector<Ref> refs = list_refs(repo.get(), HiddenRefs());
    ASSERT_TRUE(named(refs, "refs/tags/t1")->peeled);
    EXPECT_EQ(oid_hex(*named(refs, "refs/tags/t1")->peeled), other) << "from packed-refs";

    sh("git --git-dir='" + path_ + "' update-ref refs/tags/t1 " + rev("refs/tags/t2"));
    repo = test::open_repo(path_);
    refs = list_refs(repo.get(), HiddenRefs());
    ASSERT_TRUE(named(refs, "refs/tags/t1")->peeled);
    EXPECT_EQ(oid_hex(*named(refs, "refs/tags/t1")->peeled), rev("main")) << "from the tag t2";
}

} // namespace
} // namespace gsh

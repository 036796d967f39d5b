// objects/info/alternates read as git 2.39 reads it.
#include <gtest/gtest.h>

#include <fstream>

#include "fixture.h"
#include "odb/alternates.h"

using namespace gsh;
using gsh::test::TempDir;

namespace {

using Strings = std::vector<std::string>;

TEST(ParseAlternates, CommentsQuotingAndEmptyLines) {
    EXPECT_EQ(parse_alternates("/a/objects\n# /b/objects\n\n../c/objects"),
              (Strings{"/a/objects", "../c/objects"}));
    // C quoting: escapes and octal; the byte after the closing quote is
    // stepped over as the line's end.
    EXPECT_EQ(parse_alternates("\"/x y\\t\\\"q\\\"\\134\\303\\251\"\n/next\n"),
              (Strings{"/x y\t\"q\"\\\xc3\xa9", "/next"}));
    // Broken quoting (a bad escape, no closing quote) is taken as it is.
    EXPECT_EQ(parse_alternates("\"/bad\\q\"\n\"/open"), (Strings{"\"/bad\\q\"", "\"/open"}));
    // As in git, a quoted path runs on over '\n' to its closing quote.
    EXPECT_EQ(parse_alternates("\"/a\n\"/b\"\n"), (Strings{"/a\n", "b\""}));
    // Only '\n' ends a line, as in git: a '\r' stays in the path.
    EXPECT_EQ(parse_alternates("/crlf\r\n  # not a comment\n"),
              (Strings{"/crlf\r", "  # not a comment"}));
    EXPECT_EQ(parse_alternates(""), Strings{});
}

class ListAlternates : public ::testing::Test {
  protected:
    std::string repo(const std::string &name) {
        dir_.run("git init -q --bare '" + name + "'");
        return real(name) + "/objects";
    }
    void alternates(const std::string &name, const std::string &text) {
        std::ofstream(dir_.str() + "/" + name + "/objects/info/alternates") << text;
    }
    std::string real(const std::string &name) {
        return std::filesystem::canonical(dir_.path() / name).string();
    }
    TempDir dir_;
};

TEST_F(ListAlternates, AsGitLinksThem) {
    const std::string fork = repo("fork.git"), pool = repo("pool.git"), mid = repo("m id.git"),
                      deep = repo("deep.git");
    alternates("m id.git", "../../deep.git/objects\n");
    // A comment, a quoted path (with a space), a missing one, a relative
    // one with a trailing slash, a repeat, the fork itself.
    alternates("fork.git", "# the pool\n\"" + dir_.str() + "/m\\040id.git/objects\"\n" +
                               "../../missing.git/objects\n../../pool.git/objects/\n" + pool +
                               "\n" + fork + "\n");
    EXPECT_EQ(list_alternates(fork), (Strings{mid, deep, pool}));
    EXPECT_EQ(list_alternates(pool), Strings{});
}

TEST_F(ListAlternates, NoDeeperThanGit) {
    // a0 -> a1 -> ... -> a8: git links six levels below a0.
    Strings chain;
    for (int i = 0; i <= 8; i++)
        chain.push_back(repo("a" + std::to_string(i) + ".git"));
    for (int i = 0; i < 8; i++)
        alternates("a" + std::to_string(i) + ".git", chain[i + 1] + "\n");
    EXPECT_EQ(list_alternates(chain[0]), Strings(chain.begin() + 1, chain.begin() + 7));
}

} // namespace

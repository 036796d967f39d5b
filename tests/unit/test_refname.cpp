// Ref names: the core's verdict on a table of names against what the real
// `git check-ref-format` says of each, with each set of its flags, and the
// receive-pack rule ("refs/" and two more components) built on it.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "repo/refname.h"

using namespace gsh;

namespace {

struct Case {
    std::string name;
    unsigned flags;
};

std::string flag_args(unsigned flags) {
    std::string out;
    if (flags & kRefnameAllowOnelevel)
        out += " --allow-onelevel";
    if (flags & kRefnameRefspecPattern)
        out += " --refspec-pattern";
    return out;
}

// git's verdict on every case, from one shell loop (a git process a case).
// git check-ref-format takes an argument starting with '-' for an option,
// so no case may start with one.
std::vector<bool> git_verdicts(const std::vector<Case> &cases) {
    test::TempDir dir;
    const std::string input = dir.str() + "/names";
    {
        std::ofstream out(input, std::ios::binary);
        for (const Case &c : cases)
            out << flag_args(c.flags) << '\0' << c.name << '\0';
    }
    const std::string script = dir.str() + "/check.sh";
    std::ofstream(script) << "LC_ALL=C\n"
                             "while IFS= read -r -d '' f && IFS= read -r -d '' n; do\n"
                             "    git check-ref-format $f \"$n\" >/dev/null 2>&1; echo $?\n"
                             "done\n";
    const std::string out = test::sh("bash '" + script + "' < '" + input + "'");
    std::vector<bool> verdicts;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        EXPECT_TRUE(line == "0" || line == "1") << "git check-ref-format exited " << line;
        verdicts.push_back(line == "0");
    }
    EXPECT_EQ(verdicts.size(), cases.size());
    return verdicts;
}

std::string printable(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        }
    }
    return "\"" + out + "\"";
}

// The names that matter for each rule, by hand.
const std::vector<std::string> kSpecial = {"",
                                           "a",
                                           "@",
                                           "@@",
                                           "@/a",
                                           "a/@",
                                           "a/@{b",
                                           "a/@{",
                                           "a/@x{",
                                           "a/{b",
                                           "a/b@",
                                           "a/b}",
                                           "a/@}",
                                           "@{/a",
                                           "a/b@/{c",
                                           "a@{b",
                                           "a/@@{",
                                           ".",
                                           "..",
                                           "...",
                                           "a/.",
                                           "a/..",
                                           "a/.b",
                                           "a/b.",
                                           "a/b..c",
                                           "a/b.c",
                                           "a/b...c",
                                           "a./b",
                                           "a../b",
                                           "a/b./c",
                                           "a/b.lock",
                                           "a.lock/b",
                                           "a/b.lock.c",
                                           "a/.lock",
                                           "a/b.LOCK",
                                           "a/lock",
                                           "a/b.lock/",
                                           "a/b.lock.lock",
                                           "a/b.loc",
                                           "a//b",
                                           "/a/b",
                                           "a/b/",
                                           "a/b//",
                                           "/",
                                           "//",
                                           "a/",
                                           "/a",
                                           "*",
                                           "a/*",
                                           "a/*/b",
                                           "a/b*c",
                                           "a/*/*",
                                           "a/**",
                                           "a/b/*.lock",
                                           "*/a",
                                           "a*/b*",
                                           "HEAD",
                                           "FETCH_HEAD",
                                           "ORIG_HEAD",
                                           "refs/heads/main",
                                           "heads/main",
                                           "heads/main/",
                                           "heads/ma in",
                                           "heads/x.lock",
                                           "tags/v1.0",
                                           "heads/feature/x-y_z+1",
                                           "heads/\xc3\xa9t\xc3\xa9",
                                           "heads/\xff\xfe",
                                           "a/b/c/d/e/f/g/h",
                                           std::string(300, 'x') + "/y",
                                           "a/" + std::string(300, '.'),
                                           "heads/a.b.c",
                                           "heads/-",
                                           "heads/-/x",
                                           "x/@",
                                           "x/@/y",
                                           "x/a@",
                                           "x/{@}",
                                           "x/@{",
                                           "x/{",
                                           "x/}",
                                           "x/@@{{"};

// Every byte but NUL inside, at the start and at the end of a component
// (the start of the name is a component's start too).
std::vector<std::string> byte_names() {
    std::vector<std::string> names;
    for (int b = 1; b < 256; b++) {
        const std::string c(1, static_cast<char>(b));
        names.push_back("heads/a" + c + "b");
        names.push_back("heads/" + c + "a");
        names.push_back("heads/a" + c);
    }
    return names;
}

// Short names over the bytes that make the rules, from a fixed seed: the
// combinations nobody would list.
std::vector<std::string> mixed_names() {
    const std::string alphabet = "a./@{*lk/.-\x7f ";
    uint32_t state = 2023;
    auto next = [&]() {
        state = state * 1664525u + 1013904223u;
        return state >> 16;
    };
    std::vector<std::string> names;
    while (names.size() < 120) {
        std::string name;
        const size_t len = 1 + next() % 10;
        for (size_t i = 0; i < len; i++)
            name.push_back(alphabet[next() % alphabet.size()]);
        if (name[0] == '-')
            continue;
        names.push_back(name);
    }
    return names;
}

TEST(Refname, AgreesWithGitCheckRefFormat) {
    std::vector<Case> cases;
    for (const std::string &n : byte_names())
        cases.push_back({n, 0});
    // Each name with the flags that can change git's answer on it: one
    // component, or a '*'. (A git process a case: the table is kept short.)
    for (const std::string &n : mixed_names())
        cases.push_back({n, 0});
    for (const std::string &n : kSpecial) {
        const bool one = n.find('/') == std::string::npos;
        const bool star = n.find('*') != std::string::npos;
        for (unsigned flags = 0; flags < 4; flags++) {
            if ((flags & kRefnameAllowOnelevel) && !one)
                continue;
            if ((flags & kRefnameRefspecPattern) && !star)
                continue;
            cases.push_back({n, flags});
        }
    }
    for (const std::string &n : mixed_names())
        if (n.find('*') != std::string::npos)
            cases.push_back({n, kRefnameRefspecPattern | kRefnameAllowOnelevel});
    const std::vector<bool> git = git_verdicts(cases);
    ASSERT_EQ(git.size(), cases.size());
    size_t accepted = 0;
    for (size_t i = 0; i < cases.size(); i++) {
        const Case &c = cases[i];
        EXPECT_EQ(refname_format_ok(c.name, c.flags), git[i])
            << printable(c.name) << " with" << flag_args(c.flags);
        // The push rule is the same check behind "refs/", with no flag.
        if (c.flags == 0) {
            EXPECT_EQ(pushable_refname("refs/" + c.name), git[i]) << printable(c.name);
        }
        accepted += git[i];
    }
    // Both answers are well represented (the table is not all one way).
    EXPECT_GT(accepted, cases.size() / 5);
    EXPECT_LT(accepted, cases.size() * 4 / 5);
}

TEST(Refname, NulNeverPasses) {
    EXPECT_TRUE(refname_format_ok("heads/ab"));
    EXPECT_FALSE(refname_format_ok(std::string("heads/a\0b", 9)));
    EXPECT_FALSE(refname_format_ok(std::string("heads/ab\0", 9)));
    EXPECT_FALSE(pushable_refname(std::string("refs/heads/a\0", 13)));
}

TEST(Refname, PushRule) {
    EXPECT_TRUE(pushable_refname("refs/heads/main"));
    EXPECT_TRUE(pushable_refname("refs/tags/v1.0"));
    EXPECT_TRUE(pushable_refname("refs/x/y"));
    // One component after "refs/": git's receive-pack refuses them all.
    EXPECT_FALSE(pushable_refname("refs/HEAD"));
    EXPECT_FALSE(pushable_refname("refs/FETCH_HEAD"));
    EXPECT_FALSE(pushable_refname("refs/main"));
    EXPECT_FALSE(pushable_refname("refs/"));
    EXPECT_FALSE(pushable_refname("refs"));
    EXPECT_FALSE(pushable_refname("HEAD"));
    EXPECT_FALSE(pushable_refname("heads/main"));
    EXPECT_FALSE(pushable_refname("Refs/heads/main"));
    EXPECT_FALSE(pushable_refname("refs//heads/main"));
    EXPECT_FALSE(pushable_refname("refs/heads/a\x7f"
                                  "b"));
    EXPECT_FALSE(pushable_refname("refs/heads/*"));
}

} // namespace

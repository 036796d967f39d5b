// The quarantine: our index-pack fed in pieces, thin packs completed from
// the repository, nothing left behind on failure, stale directories removed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "util/git_ptr.h"
#include "push/quarantine.h"

using namespace gsh;
using gsh::test::sh;

namespace {

class QuarantineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        git_libgit2_init();
        dir.run("git init -q --bare -b main r.git && git init -q -b main w && cd w && "
                "seq 1 2000 > f && git add f && git commit -qm a && git push -q ../r.git main "
                "2>/dev/null && seq 1 2001 > f && git commit -qam b");
        git_repository *raw = nullptr;
        git_check(git_repository_open_bare(&raw, git_dir().c_str()), "open");
        repo.reset(raw);
        git_odb *o = nullptr;
        git_check(git_repository_odb(&o, repo.get()), "odb");
        odb.reset(o);
    }
    std::string git_dir() const { return dir.str() + "/r.git"; }
    std::string pack(bool thin) const {
        return dir.run(std::string("cd w && printf 'main\\n^main~1\\n' | git pack-objects -q "
                                   "--stdout --revs") +
                       (thin ? " --thin" : ""));
    }
    std::string index(Quarantine &q, const std::string &data) {
        size_t pos = 0;
        return q.index(
            odb.get(),
            [&](void *buf, size_t cap) {
                const size_t n = std::min<size_t>({cap, 1000, data.size() - pos});
                std::memcpy(buf, data.data() + pos, n);
                pos += n;
                return n;
            },
            data.size());
    }
    size_t incoming() const {
        size_t n = 0;
        for (const auto &e : std::filesystem::directory_iterator(git_dir() + "/objects"))
            n += e.path().filename().string().starts_with("incoming-");
        return n;
    }

    test::TempDir dir;
    RepoPtr repo;
    OdbPtr odb;
};

TEST_F(QuarantineTest, ThinPackCompletedAndMigrated) {
    const std::string head = dir.run("cd w && git rev-parse main").substr(0, 40);
    {
        Quarantine q(git_dir());
        EXPECT_TRUE(q.path().starts_with(git_dir() + "/objects/incoming-" + quarantine_host_id() +
                                         "-" + std::to_string(getpid()) + "-"));
        ASSERT_EQ(index(q, pack(true)), "");
        EXPECT_EQ(q.objects(), 3u);
        // Not visible before migration.
        EXPECT_NE(system(("git -C '" + git_dir() + "' cat-file -e " + head).c_str()), 0);
        q.migrate();
    }
    EXPECT_EQ(incoming(), 0u);
    sh("git -C '" + git_dir() + "' cat-file -e " + head);
    sh("git -C '" + git_dir() + "' update-ref refs/heads/main " + head);
    EXPECT_EQ(sh("git -C '" + git_dir() + "' fsck --strict 2>&1"), "");
}

TEST_F(QuarantineTest, CorruptAndTruncatedPacksLeaveNothing) {
    const std::string before = sh("ls '" + git_dir() + "/objects/pack'");
    std::string good = pack(false);
    std::string corrupt = good;
    corrupt[corrupt.size() - 25] ^= 0x01;
    for (const std::string &bad : {corrupt, good.substr(0, good.size() - 10), good.substr(0, 8),
                                   std::string("garbage!!!!!")}) {
        Quarantine q(git_dir());
        EXPECT_NE(index(q, bad), "");
    }
    EXPECT_EQ(incoming(), 0u);
    EXPECT_EQ(sh("ls '" + git_dir() + "/objects/pack'"), before);
}

TEST_F(QuarantineTest, MissingBaseOrObjectRefused) {
    // A thin pack of the second commit given to a repository lacking the first.
    dir.run("rm -rf r.git && git init -q --bare r.git");
    git_repository *raw = nullptr;
    git_check(git_repository_open_bare(&raw, git_dir().c_str()), "open");
    repo.reset(raw);
    git_odb *o = nullptr;
    git_check(git_repository_odb(&o, repo.get()), "odb");
    odb.reset(o);
    Quarantine q(git_dir());
    EXPECT_NE(index(q, pack(true)), "");
    // Not thin, but its commit names a parent the repository lacks.
    Quarantine q2(git_dir());
    EXPECT_EQ(index(q2, pack(false)), "");
    EXPECT_EQ(q2.missing(), "fatal: Failed to traverse parents of commit " +
                                dir.run("cd w && git rev-parse main").substr(0, 40) + "\n");
}

// Objects written in w with hash-object --literally (content from printf
// arguments), and a pack of exactly the objects listed.
class ConnectivityTest : public QuarantineTest {
  protected:
    std::string object(const std::string &type, const std::string &printf_args) const {
        return dir
            .run("cd w && printf " + printf_args + " | git hash-object -t " + type +
                 " --literally -w --stdin")
            .substr(0, 40);
    }
    std::string rev(const std::string &what) const {
        return dir.run("cd w && git rev-parse " + what).substr(0, 40);
    }
    std::string pack_of(const std::vector<std::string> &oids) const {
        std::string list;
        for (const std::string &o : oids)
            list += o + "\\n";
        return dir.run("cd w && printf '" + list + "' | git pack-objects -q --stdout");
    }
    // The raw 20 bytes of an id as printf escapes.
    static std::string raw(const std::string &hex) {
        std::string out;
        for (size_t i = 0; i < hex.size(); i += 2)
            out += "\\" + std::to_string(std::stoi(hex.substr(i, 2), nullptr, 16) / 64) +
                   std::to_string(std::stoi(hex.substr(i, 2), nullptr, 16) / 8 % 8) +
                   std::to_string(std::stoi(hex.substr(i, 2), nullptr, 16) % 8);
        return out;
    }
    // The unpack failure, else what the connectivity check found.
    std::string index_of(const std::vector<std::string> &oids) {
        Quarantine q(git_dir());
        const std::string err = index(q, pack_of(oids));
        return err.empty() ? q.missing() : err;
    }
};

TEST_F(ConnectivityTest, CommitWithAMissingTreeRefused) {
    // main's tree (the second version of f) is not in the repository.
    const std::string c =
        object("commit", "'tree " + rev("main^{tree}") + "\\nparent " + rev("main~1") +
                             "\\nauthor A <a@b> 1 +0000\\ncommitter A <a@b> 1 +0000\\n\\nx\\n'");
    const std::string err = index_of({c});
    EXPECT_EQ(err, "fatal: bad tree object " + rev("main^{tree}") + "\n");
    EXPECT_EQ(incoming(), 0u);
}

TEST_F(ConnectivityTest, CommitWithAMissingParentRefused) {
    const std::string c =
        object("commit", "'tree " + rev("main~1^{tree}") + "\\nparent " + rev("main") +
                             "\\nauthor A <a@b> 1 +0000\\ncommitter A <a@b> 1 +0000\\n\\nx\\n'");
    const std::string err = index_of({c});
    EXPECT_EQ(err, "fatal: Failed to traverse parents of commit " + c + "\n");
}

TEST_F(ConnectivityTest, TreeWithAMissingBlobRefused) {
    const std::string t = object("tree", "'100644 f\\000" + raw(rev("main:f")) + "'");
    const std::string err = index_of({t});
    EXPECT_EQ(err, "fatal: missing blob object '" + rev("main:f") + "'\n");
    // With the blob in the pack it is complete.
    EXPECT_EQ(index_of({t, rev("main:f")}), "");
}

TEST_F(ConnectivityTest, GitlinksNotRequired) {
    const std::string t = object("tree", "'160000 sub\\000" + raw(std::string(40, 'e')) +
                                             "100644 f\\000" + raw(rev("main~1:f")) + "'");
    EXPECT_EQ(index_of({t}), "");
}

TEST_F(ConnectivityTest, MalformedAuthorAcceptedWhenItsObjectsExist) {
    // git takes this in without receive.fsckObjects; only the tree and
    // parent lines matter, and both name objects of the repository.
    const std::string c =
        object("commit", "'tree " + rev("main~1^{tree}") + "\\nparent " + rev("main~1") +
                             "\\nauthor No Email 1700000000 +0000\\ncommitter broken\\n\\nx\\n'");
    Quarantine q(git_dir());
    EXPECT_EQ(index(q, pack_of({c})), "");
    // receive.fsckObjects still refuses it.
    EXPECT_NE(q.fsck().find("missingEmail"), std::string::npos) << q.fsck();
}

TEST_F(ConnectivityTest, TagWithAMissingTargetRefused) {
    const std::string tag =
        object("tag", "'object " + rev("main") + "\\ntype commit\\ntag v\\n\\nx\\n'");
    const std::string err = index_of({tag});
    EXPECT_EQ(err, "fatal: bad object " + rev("main") + "\n");
    const std::string ok =
        object("tag", "'object " + rev("main~1") + "\\ntype commit\\ntag v\\n\\nx\\n'");
    EXPECT_EQ(index_of({ok}), "");
}

// Each link must name an object of the type it wants, whether the object
// is in the pack or in the repository; git's rev-list words.
TEST_F(ConnectivityTest, LinksOfTheWrongTypeRefused) {
    const std::string blob = rev("main~1:f"), tree = rev("main~1^{tree}");
    const std::string author = "\\nauthor A <a@b> 1 +0000\\ncommitter A <a@b> 1 +0000\\n\\nx\\n'";
    const std::string tree_is_blob = object("commit", "'tree " + blob + author);
    EXPECT_EQ(index_of({tree_is_blob}),
              "error: Object " + blob + " not a tree\nfatal: bad tree object " + blob + "\n");
    const std::string parent_is_blob =
        object("commit", "'tree " + tree + "\\nparent " + blob + author);
    EXPECT_EQ(index_of({parent_is_blob}), "error: Object " + blob +
                                              " not a commit\nfatal: Failed to traverse parents "
                                              "of commit " +
                                              parent_is_blob + "\n");
    const std::string dir_is_blob = object("tree", "'40000 d\\000" + raw(blob) + "'");
    EXPECT_EQ(index_of({dir_is_blob}),
              "error: Object " + blob + " not a tree\nfatal: bad tree object " + blob + "\n");
    // Also when the wrong object comes in the same pack.
    const std::string dir_in_pack = object("tree", "'40000 d\\000" + raw(rev("main:f")) + "'");
    EXPECT_NE(index_of({dir_in_pack, rev("main:f")}).find("not a tree"), std::string::npos);
    const std::string blob_is_tree = object("tree", "'100644 f\\000" + raw(tree) + "'");
    EXPECT_NE(index_of({blob_is_tree}).find("is a tree, not a blob"), std::string::npos);
    const std::string tag = object("tag", "'object " + tree + "\\ntype commit\\ntag v\\n\\nx\\n'");
    EXPECT_EQ(index_of({tag}), "error: object " + tree +
                                   " is a commit, not a tree\nfatal: bad object " + tree + "\n");
    const std::string good_tag =
        object("tag", "'object " + tree + "\\ntype tree\\ntag v\\n\\nx\\n'");
    EXPECT_EQ(index_of({good_tag}), "");
    // Gitlinks name commits of another repository: never looked at.
    EXPECT_EQ(index_of({object("tree", "'160000 s\\000" + raw(blob) + "'")}), "");
    EXPECT_EQ(incoming(), 0u);
}

TEST_F(ConnectivityTest, StructurallyBrokenObjectsRefused) {
    const std::string no_tree =
        object("commit", "'author A <a@b> 1 +0000\\ncommitter A <a@b> 1 +0000\\n\\nx\\n'");
    EXPECT_NE(index_of({no_tree}).find("corrupt commit " + no_tree), std::string::npos);
    const std::string truncated =
        object("tree", "'100644 f\\000" + raw(rev("main~1:f")).substr(0, 5 * 10) + "'");
    EXPECT_NE(index_of({truncated}).find("corrupt tree " + truncated), std::string::npos);
    const std::string no_object = object("tag", "'type commit\\ntag v\\n\\nx\\n'");
    EXPECT_NE(index_of({no_object}).find("corrupt tag " + no_object), std::string::npos);
    EXPECT_EQ(incoming(), 0u);
}

// A pid that no process has: above the kernel's pid_max.
const std::string kDeadPid = "2147483646";
// Another host's (or pid namespace's) id.
const std::string kOtherHost = "h0123456789abcdef";

class StaleQuarantines : public QuarantineTest {
  protected:
    void SetUp() override {
        QuarantineTest::SetUp();
        ASSERT_NE(quarantine_host_id(), kOtherHost);
    }
    // A quarantine named name under objects/, with a file in its pack/.
    std::string make(const std::string &name) const {
        const std::string path = git_dir() + "/objects/" + name;
        std::filesystem::create_directories(path + "/pack");
        std::ofstream(path + "/pack/tmp_pack_x") << "PACK";
        return path;
    }
    // Sets the modification time of path and of everything in it back by
    // the grace period and an hour.
    static void age(const std::string &path) {
        const auto then = std::filesystem::file_time_type::clock::now() - kQuarantineGrace -
                          std::chrono::hours(1);
        for (const auto &e : std::filesystem::recursive_directory_iterator(path))
            std::filesystem::last_write_time(e.path(), then);
        std::filesystem::last_write_time(path, then);
    }
    static bool exists(const std::string &path) { return std::filesystem::exists(path); }
    std::string mine(const std::string &pid, const std::string &tail) const {
        return "incoming-" + quarantine_host_id() + "-" + pid + "-" + tail;
    }
    void clean() const { remove_stale_quarantines(git_dir() + "/objects"); }
};

TEST_F(StaleQuarantines, HostIdNamesThisPidSpace) {
    const std::string &id = quarantine_host_id();
    ASSERT_EQ(id.size(), 17u);
    EXPECT_EQ(id[0], 'h');
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 1), std::string::npos) << id;
    EXPECT_EQ(&id, &quarantine_host_id()); // computed once
    Quarantine q(git_dir());
    EXPECT_TRUE(q.path().starts_with(git_dir() + "/objects/" + mine(std::to_string(getpid()), "")))
        << q.path();
}

TEST_F(StaleQuarantines, ThisHostsDeadOneIsRemoved) {
    const std::string dead = make(mine(kDeadPid, "AAAAAA"));
    clean();
    EXPECT_FALSE(exists(dead));
    // Creating a quarantine cleans up too.
    const std::string again = make(mine(kDeadPid, "BBBBBB"));
    Quarantine q(git_dir());
    EXPECT_FALSE(exists(again));
}

TEST_F(StaleQuarantines, AnotherHostsDeadOneIsKept) {
    const std::string foreign = make("incoming-" + kOtherHost + "-" + kDeadPid + "-AAAAAA");
    // The older layout has no host: foreign too.
    const std::string older = make("incoming-" + kDeadPid + "-BBBBBB");
    clean();
    EXPECT_TRUE(exists(foreign));
    EXPECT_TRUE(exists(older));
}

TEST_F(StaleQuarantines, LiveOneIsKept) {
    const std::string live = make(mine(std::to_string(getpid()), "AAAAAA"));
    const std::string init = make(mine("1", "BBBBBB")); // alive, if not ours to signal
    clean();
    EXPECT_TRUE(exists(live));
    EXPECT_TRUE(exists(init));
}

TEST_F(StaleQuarantines, OldOnesOfAnyHostAreRemoved) {
    const std::string pid = std::to_string(getpid());
    const std::vector<std::string> old = {
        make("incoming-" + kOtherHost + "-" + kDeadPid + "-AAAAAA"),
        make("incoming-" + kOtherHost + "-" + pid + "-BBBBBB"),
        make("incoming-" + kDeadPid + "-CCCCCC"),
        make("incoming-" + pid + "-DDDDDD"),
        make(mine(pid, "EEEEEE")),
    };
    // Old, but its pack is still being written.
    const std::string writing = make("incoming-" + kOtherHost + "-" + kDeadPid + "-FFFFFF");
    // git's own quarantine, and names that are not quarantines.
    const std::string git_own = make("incoming-GGGGGG");
    const std::string other = make("incomingx-1-HHHHHH");
    const std::string bad_host = make("incoming-h0123-" + kDeadPid + "-IIIIII");
    for (const std::string &path : old)
        age(path);
    for (const std::string &path : {writing, git_own, other, bad_host})
        age(path);
    std::ofstream(writing + "/pack/tmp_pack_x", std::ios::app) << "more";
    clean();
    for (const std::string &path : old)
        EXPECT_FALSE(exists(path)) << path;
    EXPECT_TRUE(exists(writing));
    EXPECT_TRUE(exists(git_own));
    EXPECT_TRUE(exists(other));
    EXPECT_TRUE(exists(bad_host));
}

TEST_F(QuarantineTest, EmptyPackIsDropped) {
    const std::string before = sh("ls '" + git_dir() + "/objects/pack'");
    const std::string empty =
        dir.run("cd w && printf '^main\\n' | git pack-objects -q --stdout --revs");
    {
        Quarantine q(git_dir());
        ASSERT_EQ(index(q, empty), "");
        EXPECT_EQ(q.objects(), 0u);
        q.migrate();
    }
    EXPECT_EQ(incoming(), 0u);
    EXPECT_EQ(sh("ls '" + git_dir() + "/objects/pack'"), before);
}

} // namespace

// A header that claims more objects than the body could hold is refused
// before libgit2 sizes its tables by it (found by fuzz_receive_request: 36
// million objects claimed in 300 bytes, a 5 GB allocation).
TEST_F(QuarantineTest, RefusesAnObjectCountTheBodyCannotHold) {
    std::string data = pack(false);
    data[8] = '\x02';
    data[9] = '\x27';
    data[10] = '\x11';
    data[11] = '\x00';
    {
        Quarantine q(git_dir());
        const std::string err = index(q, data);
        EXPECT_NE(err.find("claims 36114688 objects"), std::string::npos) << err;
    }
    EXPECT_EQ(incoming(), 0u);
}

// The ref store against git itself: each transaction is run by the store on
// one copy of a repository and by `git update-ref --stdin` (the same
// ref_transaction_commit() receive-pack runs) on another, and the two must
// end alike: git's error message, refs, packed-refs byte for byte, loose
// files, reflogs, locks and empty directories left.
#include <gtest/gtest.h>

#include <cstdio>

#include <filesystem>
#include <fstream>

#include "fixture.h"
#include "repo/packed_refs.h"
#include "repo/ref_store.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"

using namespace gsh;
using gsh::test::sh;

namespace {

const char *const kCommitter = "alice <alice@http.192.0.2.7> 1700000000 +0000";

struct Outcome {
    std::string error;
    std::string state;
    bool operator==(const Outcome &) const = default;
};

std::ostream &operator<<(std::ostream &os, const Outcome &o) {
    return os << "error: [" << o.error << "]\nstate:\n" << o.state;
}

void replace_all(std::string &s, const std::string &from, const std::string &to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
}

class RefStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        git_libgit2_init();
        dir.run("git init -q --bare -b main seed.git && git init -q -b main w && cd w && "
                "git commit -q --allow-empty -m a && git commit -q --allow-empty -m b && "
                "git tag -a -m ann ann HEAD~1 && echo blob > f && "
                "git push -q ../seed.git main main:other main~1:refs/tags/t ann 2>/dev/null");
        a = rev("w", "main~1");
        b = rev("w", "main");
        ann = rev("w", "refs/tags/ann");
        blob = sh("cd '" + dir.str() + "/seed.git' && git hash-object -w ../w/f").substr(0, 40);
    }
    void TearDown() override { git_libgit2_shutdown(); }

    std::string root() const { return std::filesystem::canonical(dir.path()).string(); }
    std::string rev(const std::string &repo, const std::string &name) const {
        return sh("git -C '" + dir.str() + "/" + repo + "' rev-parse -q --verify '" + name +
                  "' || true")
            .substr(0, 40);
    }
    static git_oid oid(const std::string &hex) {
        git_oid o{};
        if (!hex.empty())
            git_oid_fromstr(&o, hex.c_str());
        return o;
    }
    static std::string z() { return ""; }
    // old: "-" for no check, "" for "must not exist"; to: "" deletes.
    static RefChange change(const std::string &ref, const std::string &old, const std::string &to) {
        RefChange c{ref, std::nullopt, oid(to)};
        if (old != "-")
            c.old_id = oid(old);
        return c;
    }

    // ours.git and theirs.git: copies of seed.git, then setup run in each.
    void twins(const std::string &setup = "true") {
        for (const char *name : {"ours.git", "theirs.git"})
            dir.run("rm -rf " + std::string(name) + " && cp -a seed.git " + name + " && cd " +
                    name + " && { " + setup + " ; }");
    }
    void both(const std::string &cmd) {
        for (const char *name : {"ours.git", "theirs.git"})
            dir.run(std::string("cd ") + name + " && { " + cmd + " ; }");
    }

    std::string state(const std::string &repo) const {
        return sh("cd '" + dir.str() + "/" + repo +
                  "' && git for-each-ref --format='%(objectname) %(refname)' && echo -- && "
                  "{ cat packed-refs 2>/dev/null || true; } && echo -- && "
                  "find refs logs HEAD -type f 2>/dev/null | sort && echo -- && "
                  "for f in $(find logs -type f 2>/dev/null | sort); do echo \"$f:\"; cat $f; "
                  "done && echo -- && find . -name '*.lock' -o -name '*.new' | sort && "
                  "echo -- && { find refs logs -mindepth 1 -type d -empty 2>/dev/null | sort; "
                  "true; }");
    }

    Outcome ours(const std::vector<RefChange> &changes) {
        const std::string path = root() + "/ours.git";
        git_repository *raw_repo = nullptr;
        git_check(git_repository_open_bare(&raw_repo, path.c_str()), "open");
        RepoPtr repo(raw_repo);
        git_odb *raw_odb = nullptr;
        git_check(git_repository_odb(&raw_odb, repo.get()), "odb");
        OdbPtr odb(raw_odb);
        const FilesRefStore store(path, odb.get(), load_ref_store_config(repo.get()));
        RefCommitResult r = store.commit(changes, kCommitter, "push");
        EXPECT_EQ(r.done.size(), changes.size());
        for (bool d : r.done)
            EXPECT_EQ(d, r.error.empty()) << "a transaction moves all or nothing";
        replace_all(r.error, path, "REPO");
        return {r.error, state("ours.git")};
    }

    Outcome theirs(const std::vector<RefChange> &changes) {
        std::string script;
        for (const RefChange &c : changes) {
            char buf[GIT_OID_HEXSZ + 1];
            const std::string to = git_oid_tostr(buf, sizeof(buf), &c.new_id);
            const std::string old = c.old_id ? git_oid_tostr(buf, sizeof(buf), &*c.old_id) : "";
            if (git_oid_is_zero(&c.new_id))
                script += "delete " + c.name + (old.empty() ? "" : " " + old) + "\n";
            else
                script += "update " + c.name + " " + to + (c.old_id ? " " + old : "") + "\n";
        }
        std::ofstream(dir.str() + "/script") << script;
        const std::string path = root() + "/theirs.git";
        sh("cd '" + path +
           "' && GIT_COMMITTER_NAME=alice GIT_COMMITTER_EMAIL=alice@http.192.0.2.7 "
           "GIT_COMMITTER_DATE='1700000000 +0000' git update-ref --stdin -m push "
           "< ../script 2> ../err || true");
        std::string err = sh("cat '" + dir.str() + "/err'");
        if (err.starts_with("fatal: "))
            err = err.substr(7);
        while (!err.empty() && err.back() == '\n')
            err.pop_back();
        replace_all(err, path, "REPO");
        return {err, state("theirs.git")};
    }

    // The transaction run both ways: the outcomes must be equal. Returns
    // the store's error.
    std::string same(const std::vector<RefChange> &changes) {
        const Outcome mine = ours(changes);
        const Outcome git = theirs(changes);
        EXPECT_EQ(mine, git);
        return mine.error;
    }

    test::TempDir dir;
    std::string a, b, ann, blob;
};

TEST_F(RefStoreTest, CompareAndSwapAsGit) {
    twins();
    EXPECT_EQ(same({change("refs/heads/main", b, a)}), "");
    EXPECT_EQ(same({change("refs/heads/other", a, b)}),
              "cannot lock ref 'refs/heads/other': is at " + b + " but expected " + a);
    EXPECT_EQ(same({change("refs/heads/new", "", a)}), "");
    EXPECT_EQ(same({change("refs/tags/t", "", b)}),
              "cannot lock ref 'refs/tags/t': reference already exists");
    EXPECT_EQ(same({change("refs/heads/new", a, z())}), "");
    EXPECT_EQ(same({change("refs/heads/gone", a, z())}),
              "cannot lock ref 'refs/heads/gone': unable to resolve reference 'refs/heads/gone'");
    EXPECT_EQ(same({change("refs/heads/gone", "-", z())}), ""); // deleting nothing is fine
    EXPECT_EQ(same({change("refs/heads/main", a, a)}), "");     // already there
    EXPECT_NE(same({change("refs/heads/blob", "", blob)}), "");
    EXPECT_NE(same({change("refs/heads/none", "", std::string(39, '1') + "2")}), "");
    EXPECT_EQ(same({change("refs/blobs/ok", "", blob)}), "");
    EXPECT_EQ(rev("ours.git", "main"), a);
    EXPECT_EQ(sh("git -C '" + dir.str() + "/ours.git' fsck 2>&1"), "");
}

TEST_F(RefStoreTest, PackedRefsAsGit) {
    twins("git pack-refs --all");
    ASSERT_FALSE(std::filesystem::exists(dir.str() + "/ours.git/refs/heads/main"));
    EXPECT_EQ(same({change("refs/heads/main", b, a)}), ""); // a loose ref over the packed one
    EXPECT_EQ(same({change("refs/heads/other", a, z())}),
              "cannot lock ref 'refs/heads/other': is at " + b + " but expected " + a);
    EXPECT_EQ(same({change("refs/heads/other", b, z())}), ""); // packed only
    EXPECT_EQ(same({change("refs/heads/main", a, z())}), "");  // loose and packed
    EXPECT_EQ(same({change("refs/tags/t", "-", z())}), "");
    EXPECT_EQ(rev("ours.git", "refs/tags/ann"), ann);
    EXPECT_EQ(sh("cat '" + dir.str() + "/ours.git/packed-refs'"),
              "# pack-refs with: peeled fully-peeled sorted \n" + ann + " refs/tags/ann\n^" + a +
                  "\n");
}

// A packed-refs of an older git: "peeled" only, unsorted, a tag outside
// refs/tags/ with no peeled line. git peels it from the objects when it
// rewrites the file, and sorts it.
TEST_F(RefStoreTest, OldPackedRefsRewrittenAsGit) {
    for (const std::string header : {"# pack-refs with: peeled \n", ""}) {
        twins("printf '" + header + b + " refs/heads/other\n" + ann + " refs/tags/ann\n^" + a +
              "\n" + ann + " refs/notes/ann\n" + a + " refs/heads/a\n' > packed-refs && " +
              "rm -f refs/heads/other refs/tags/ann refs/tags/t");
        EXPECT_EQ(same({change("refs/heads/other", b, z())}), "");
        EXPECT_EQ(sh("cat '" + dir.str() + "/ours.git/packed-refs'"),
                  "# pack-refs with: peeled fully-peeled sorted \n" + a + " refs/heads/a\n" + ann +
                      " refs/notes/ann\n^" + a + "\n" + ann + " refs/tags/ann\n^" + a + "\n");
    }
}

TEST_F(RefStoreTest, DirectoryFileConflictsAsGit) {
    twins();
    EXPECT_EQ(same({change("refs/heads/main/x", "", a)}),
              "cannot lock ref 'refs/heads/main/x': 'refs/heads/main' exists; cannot create "
              "'refs/heads/main/x'");
    both("git pack-refs --all");
    EXPECT_EQ(same({change("refs/heads/other/x", "", a)}),
              "cannot lock ref 'refs/heads/other/x': 'refs/heads/other' exists; cannot create "
              "'refs/heads/other/x'");
    EXPECT_EQ(same({change("refs/heads/deep/a/b", "", a)}), "");
    EXPECT_EQ(same({change("refs/heads/deep", "", a)}),
              "cannot lock ref 'refs/heads/deep': 'refs/heads/deep/a/b' exists; cannot create "
              "'refs/heads/deep'");
    EXPECT_EQ(same({change("refs/heads/deep/a", "", a)}),
              "cannot lock ref 'refs/heads/deep/a': 'refs/heads/deep/a/b' exists; cannot create "
              "'refs/heads/deep/a'");
    both("mkdir -p refs/heads/empty/x/y");
    EXPECT_EQ(same({change("refs/heads/empty", "", a)}), ""); // empty directories go
    EXPECT_EQ(same({change("refs/heads/q", "", a), change("refs/heads/q/r", "", a)}),
              "cannot lock ref 'refs/heads/q': cannot process 'refs/heads/q' and "
              "'refs/heads/q/r' at the same time");
    EXPECT_EQ(same({change("refs/heads/deep/a/b", a, z())}), ""); // its directories go too
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/ours.git/refs/heads/deep"));
    EXPECT_EQ(same({change("refs/heads/deep", "", a)}), "");
    EXPECT_EQ(same({change("refs/heads/main", "-", z()), change("refs/heads/main/y", "", a)}),
              "cannot lock ref 'refs/heads/main/y': 'refs/heads/main' exists; cannot create "
              "'refs/heads/main/y'");
}

TEST_F(RefStoreTest, StaleLocksAsGit) {
    twins("echo stale > refs/heads/main.lock && git config core.packedRefsTimeout 0 && "
          "git pack-refs --all 2>/dev/null");
    const std::string err = same({change("refs/heads/main", b, a)});
    EXPECT_TRUE(err.starts_with("cannot lock ref 'refs/heads/main': Unable to create "
                                "'REPO/./refs/heads/main.lock': File exists.\n\nAnother git"))
        << err;
    EXPECT_EQ(sh("cat '" + dir.str() + "/ours.git/refs/heads/main.lock'"), "stale\n");
    // A deletion needs packed-refs.lock too, even for a ref that is loose.
    both("echo stale > packed-refs.lock && git update-ref refs/heads/loose " + a);
    EXPECT_TRUE(same({change("refs/heads/loose", a, z())})
                    .starts_with("Unable to create 'REPO/./packed-refs.lock': File exists."));
    EXPECT_TRUE(same({change("refs/tags/t", a, z())})
                    .starts_with("Unable to create 'REPO/./packed-refs.lock': File exists."));
    EXPECT_EQ(rev("ours.git", "refs/tags/t"), a);
    both("rm packed-refs.lock && echo stale > packed-refs.new");
    EXPECT_EQ(same({change("refs/tags/t", a, z())}),
              "unable to create file REPO/./packed-refs.new: File exists");
    EXPECT_EQ(same({change("refs/heads/loose", a, z())}), ""); // packed-refs stays as it is
}

TEST_F(RefStoreTest, ReflogsAsGit) {
    // A bare repository logs nothing unless the log exists.
    twins("mkdir -p logs/refs/heads && touch logs/refs/heads/main logs/HEAD");
    EXPECT_EQ(same({change("refs/heads/new", "", a)}), "");
    EXPECT_EQ(same({change("refs/heads/main", b, a)}), ""); // HEAD's log too
    EXPECT_EQ(same({change("refs/heads/main", a, z())}), "");
    EXPECT_EQ(same({change("refs/heads/main", "", b)}), "");
    EXPECT_EQ(sh("cat '" + dir.str() + "/ours.git/logs/HEAD'"),
              b + " " + a + " " + kCommitter + "\tpush\n" + a + " " + std::string(40, '0') + " " +
                  kCommitter + "\tpush\n" + std::string(40, '0') + " " + b + " " + kCommitter +
                  "\tpush\n");
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/ours.git/logs/refs/heads/main"));

    both("git config core.logAllRefUpdates true");
    EXPECT_EQ(same({change("refs/heads/sub/n", "", a)}), "");
    EXPECT_EQ(same({change("refs/tags/n", "", a)}), "");
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/ours.git/logs/refs/heads/sub/n"));
    EXPECT_EQ(same({change("refs/heads/sub/n", a, z())}), ""); // log and its directory go
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/ours.git/logs/refs/heads/sub"));

    both("git config core.logAllRefUpdates always");
    EXPECT_EQ(same({change("refs/tags/m", "", a)}), "");
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/ours.git/logs/refs/tags/m"));
    // A log where a directory of logs should be.
    both("mkdir -p logs/refs/heads/x && touch logs/refs/heads/x/y");
    EXPECT_EQ(same({change("refs/heads/x", "", a)}),
              "cannot update the ref 'refs/heads/x': there are still logs under "
              "'./logs/refs/heads/x'");
}

TEST_F(RefStoreTest, AtomicAsGit) {
    twins("git pack-refs --all");
    EXPECT_EQ(same({change("refs/heads/main", b, a), change("refs/heads/new", "", a),
                    change("refs/tags/t", a, z()), change("refs/heads/other", a, b)}),
              "cannot lock ref 'refs/heads/other': is at " + b + " but expected " + a);
    EXPECT_EQ(rev("ours.git", "main"), b); // nothing moved
    EXPECT_EQ(same({change("refs/heads/main", b, a), change("refs/heads/new", "", a),
                    change("refs/tags/t", a, z()), change("refs/heads/other", b, z())}),
              "");
    EXPECT_EQ(same({change("refs/heads/dup", "", a), change("refs/heads/dup", "", b)}),
              "multiple updates for ref 'refs/heads/dup' not allowed");
}

TEST_F(RefStoreTest, SymbolicRefIsNotFollowed) {
    twins("git symbolic-ref refs/heads/alias refs/heads/main");
    const Outcome o = ours({change("refs/heads/alias", b, a)});
    EXPECT_EQ(o.error, "cannot lock ref 'refs/heads/alias': is a symbolic ref, which a push "
                       "does not update here");
    EXPECT_EQ(rev("ours.git", "main"), b);
    EXPECT_EQ(sh("cat '" + dir.str() + "/ours.git/refs/heads/alias'"), "ref: refs/heads/main\n");
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/ours.git/refs/heads/alias.lock"));
}

TEST_F(RefStoreTest, BrokenRefAsGit) {
    twins("echo garbage > refs/heads/broken");
    EXPECT_EQ(same({change("refs/heads/broken", "", a)}),
              "cannot lock ref 'refs/heads/broken': unable to resolve reference "
              "'refs/heads/broken': reference broken");
}

TEST_F(RefStoreTest, Config) {
    auto config_of = [&](const std::string &repo) {
        git_repository *raw = nullptr;
        git_check(git_repository_open(&raw, (dir.str() + "/" + repo).c_str()), "open");
        RepoPtr r(raw);
        return load_ref_store_config(r.get());
    };
    RefStoreConfig c = config_of("seed.git");
    EXPECT_EQ(c.reflogs, RefStoreConfig::Reflogs::None);
    EXPECT_EQ(c.packed_lock_timeout_ms, 1000);
    EXPECT_EQ(c.loose_lock_timeout_ms, 100);
    EXPECT_FALSE(c.fsync);
    EXPECT_EQ(config_of("w").reflogs, RefStoreConfig::Reflogs::Normal);
    auto set = [&](const std::string &key, const std::string &value) {
        dir.run("git -C seed.git config " + key + " '" + value + "'");
        return config_of("seed.git");
    };
    EXPECT_EQ(set("core.logAllRefUpdates", "ALWAYS").reflogs, RefStoreConfig::Reflogs::Always);
    EXPECT_EQ(set("core.logAllRefUpdates", "true").reflogs, RefStoreConfig::Reflogs::Normal);
    EXPECT_EQ(set("core.logAllRefUpdates", "false").reflogs, RefStoreConfig::Reflogs::None);
    EXPECT_EQ(set("core.packedRefsTimeout", "2k").packed_lock_timeout_ms, 2048);
    EXPECT_EQ(set("core.packedRefsTimeout", "-1").packed_lock_timeout_ms, -1);
    EXPECT_EQ(set("core.filesRefLockTimeout", "0").loose_lock_timeout_ms, 0);
    EXPECT_TRUE(set("core.fsync", "reference").fsync);
    EXPECT_TRUE(set("core.fsync", "committed").fsync);
    EXPECT_TRUE(set("core.fsync", "all,-pack").fsync);
    EXPECT_FALSE(set("core.fsync", "-reference").fsync);
    // git takes out a "-x" from its default only: what is named stays.
    EXPECT_TRUE(set("core.fsync", "all,-reference").fsync);
    EXPECT_FALSE(set("core.fsync", "objects").fsync);
    EXPECT_FALSE(set("core.fsync", "none").fsync);
}

TEST(PackedRefsParse, RefusesWhatGitRefuses) {
    std::string err;
    const std::string id(40, 'a');
    EXPECT_TRUE(PackedRefs::parse("", "./packed-refs", err));
    EXPECT_TRUE(PackedRefs::parse(id + " refs/heads/x\n", "./packed-refs", err));
    EXPECT_FALSE(PackedRefs::parse(id + " refs/heads/x", "./packed-refs", err));
    EXPECT_EQ(err, "unterminated line in ./packed-refs: " + id + " refs/heads/x");
    EXPECT_FALSE(PackedRefs::parse("# other header\n", "./packed-refs", err));
    EXPECT_EQ(err, "unexpected line in ./packed-refs: # other header");
    EXPECT_FALSE(PackedRefs::parse("zz" + id.substr(2) + " refs/heads/x\n", "./p", err));
    EXPECT_FALSE(PackedRefs::parse(id + " refs/heads/x\n^abc\n", "./p", err));
    const auto refs = PackedRefs::parse(id + " refs/b\n" + id + " refs/a\n^" + id + "\n", "p", err);
    ASSERT_TRUE(refs);
    ASSERT_EQ(refs->refs().size(), 2u);
    EXPECT_EQ(refs->refs()[0].name, "refs/a"); // no "sorted" trait: sorted here
    EXPECT_TRUE(refs->refs()[0].peel_known);
    EXPECT_FALSE(refs->refs()[1].peel_known);
}

// Look-ups over a file written out of order (sorted at parse), many refs.
TEST(PackedRefsParse, FindsByNameAndPrefix) {
    std::string text, err;
    for (int i = 999; i >= 0; i--) {
        char id[41];
        std::snprintf(id, sizeof id, "%040d", i);
        text += std::string(id) + " refs/tags/v" + std::to_string(i) + "\n";
    }
    text += std::string(40, 'b') + " refs/heads/main\n";
    const auto refs = PackedRefs::parse(text, "p", err);
    ASSERT_TRUE(refs) << err;
    for (int i : {0, 1, 10, 500, 999}) {
        const PackedRef *r = refs->find("refs/tags/v" + std::to_string(i));
        ASSERT_TRUE(r) << i;
        char id[41];
        std::snprintf(id, sizeof id, "%040d", i);
        EXPECT_EQ(oid_hex(r->id), id);
    }
    EXPECT_FALSE(refs->find("refs/tags/v1000"));
    EXPECT_FALSE(refs->find("refs/tags/v"));
    EXPECT_FALSE(refs->find("refs/heads/mai"));
    ASSERT_TRUE(refs->find("refs/heads/main"));
    ASSERT_TRUE(refs->first_with_prefix("refs/tags/v99"));
    EXPECT_EQ(refs->first_with_prefix("refs/tags/v99")->name, "refs/tags/v99");
    EXPECT_EQ(refs->first_with_prefix("refs/heads/")->name, "refs/heads/main");
    EXPECT_FALSE(refs->first_with_prefix("refs/notes/"));
    EXPECT_FALSE(refs->first_with_prefix("refs/tags/w"));
}

} // namespace

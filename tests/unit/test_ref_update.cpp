// Locked compare-and-swap ref updates, checked with the real git.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "fixture.h"
#include "util/git_ptr.h"
#include "push/ref_update.h"

using namespace gsh;
using gsh::test::sh;

namespace {

class RefUpdateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        git_libgit2_init();
        dir.run("git init -q --bare -b main r.git && git init -q -b main w && cd w && "
                "git commit -q --allow-empty -m a && git commit -q --allow-empty -m b && "
                "git push -q ../r.git main main:other main~1:refs/tags/t 2>/dev/null");
        a = rev("main~1");
        b = rev("main");
        git_repository *raw = nullptr;
        git_check(git_repository_open_bare(&raw, (dir.str() + "/r.git").c_str()), "open");
        repo.reset(raw);
        git_check(git_signature_now(&raw_sig, "alice", "alice@http.192.0.2.7"), "sig");
        sig.reset(raw_sig);
    }
    std::string real() const { return std::filesystem::canonical(dir.path() / "r.git").string(); }
    std::string rev(const std::string &name) {
        std::string out =
            sh("git -C '" + dir.str() + "/r.git' rev-parse -q --verify '" + name + "' || true");
        return out.substr(0, 40);
    }
    git_oid oid(const std::string &hex) {
        git_oid o{};
        if (!hex.empty())
            git_oid_fromstr(&o, hex.c_str());
        return o;
    }
    RefUpdate update(const std::string &ref, const std::string &from, const std::string &to) {
        return {ref, oid(from), oid(to), {}, {}};
    }

    test::TempDir dir;
    std::string a, b;
    RepoPtr repo;
    git_signature *raw_sig = nullptr;
    GitPtr<git_signature, git_signature_free> sig;
};

TEST_F(RefUpdateTest, CompareAndSwap) {
    std::vector<RefUpdate> u = {update("refs/heads/main", b, a),  // matches: moves
                                update("refs/heads/other", a, b), // stale
                                update("refs/heads/new", "", a),  // creates
                                update("refs/tags/t", "", b)};    // exists already
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "");
    EXPECT_EQ(u[1].error, "failed to update ref");
    EXPECT_NE(u[1].detail.find("is at " + b + " but expected " + a), std::string::npos);
    EXPECT_EQ(u[2].error, "");
    EXPECT_EQ(u[3].error, "failed to update ref");
    EXPECT_EQ(rev("main"), a);
    EXPECT_EQ(rev("other"), b);
    EXPECT_EQ(rev("refs/heads/new"), a);
    EXPECT_EQ(rev("refs/tags/t"), a);
    EXPECT_EQ(sh("git -C '" + dir.str() + "/r.git' fsck 2>&1"), "");
}

// As git's receive-pack: one transaction, and when it fails every ref gets
// "atomic transaction failed" and git's message is printed once.
TEST_F(RefUpdateTest, AtomicAllOrNone) {
    std::vector<RefUpdate> u = {update("refs/heads/main", b, a), update("refs/heads/other", a, b)};
    update_refs(repo.get(), u, true, sig.get(), "push");
    EXPECT_EQ(u[0].error, "atomic transaction failed");
    EXPECT_EQ(u[1].error, "atomic transaction failed");
    EXPECT_EQ(u[0].detail, "cannot lock ref 'refs/heads/other': is at " + b + " but expected " + a);
    EXPECT_EQ(u[1].detail, "");
    EXPECT_EQ(rev("main"), b);
    // No lock is left behind.
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/r.git/refs/heads/main.lock"));
    u = {update("refs/heads/main", b, a), update("refs/heads/other", b, "")};
    update_refs(repo.get(), u, true, sig.get(), "push");
    EXPECT_EQ(u[0].error, "");
    EXPECT_EQ(u[1].error, "");
    EXPECT_EQ(rev("main"), a);
    EXPECT_EQ(rev("other"), "");
}

TEST_F(RefUpdateTest, LockFilePresentFails) {
    std::ofstream(dir.str() + "/r.git/refs/heads/main.lock") << "x";
    std::vector<RefUpdate> u = {update("refs/heads/main", b, a)};
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "failed to update ref");
    EXPECT_EQ(u[0].detail, "cannot lock ref 'refs/heads/main': Unable to create '" + real() +
                               "/./refs/heads/main.lock': File exists.\n\nAnother git process "
                               "seems to be running in this repository, e.g.\nan editor opened "
                               "by 'git commit'. Please make sure all processes\nare terminated "
                               "then try again. If it still fails, a git process\nmay have "
                               "crashed in this repository earlier:\nremove the file manually "
                               "to continue.");
    EXPECT_EQ(rev("main"), b);
    // The lock is someone else's: it stays.
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/r.git/refs/heads/main.lock"));
}

// A failed deletion is "failed to update ref", as in git (its "failed to
// delete" is for a deletion that cannot even be queued).
TEST_F(RefUpdateTest, PackedRefDeletion) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all && git -C '" + dir.str() +
       "/r.git' config core.packedRefsTimeout 0");
    ASSERT_FALSE(std::filesystem::exists(dir.str() + "/r.git/refs/heads/other"));
    std::vector<RefUpdate> u = {update("refs/heads/other", b, ""),
                                update("refs/tags/t", b, "")}; // stale
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "");
    EXPECT_EQ(u[1].error, "failed to update ref");
    EXPECT_EQ(rev("other"), "");
    EXPECT_EQ(rev("refs/tags/t"), a);
    EXPECT_EQ(sh("grep -c other '" + dir.str() + "/r.git/packed-refs' || true"), "0\n");
    // packed-refs locked by someone else: the deletion fails.
    std::ofstream(dir.str() + "/r.git/packed-refs.lock") << "x";
    u = {update("refs/tags/t", a, "")};
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "failed to update ref");
    EXPECT_EQ(u[0].detail.substr(0, u[0].detail.find('\n')),
              "Unable to create '" + real() + "/./packed-refs.lock': File exists.");
    EXPECT_EQ(rev("refs/tags/t"), a);
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/r.git/refs/tags/t.lock"));
}

// packed-refs.lock is taken before anything moves: when it cannot be, none
// of an atomic push's refs moves (libgit2 created the new branch first).
TEST_F(RefUpdateTest, AtomicPackedLockFailureMovesNothing) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all && git -C '" + dir.str() +
       "/r.git' config core.packedRefsTimeout 0");
    std::ofstream(dir.str() + "/r.git/packed-refs.lock") << "x";
    // libgit2 committed its transaction's refs in hash order: several names.
    for (int i = 0; i < 8; i++) {
        const std::string name = "refs/heads/n" + std::to_string(i);
        std::vector<RefUpdate> u = {update(name, "", a), update("refs/heads/other", b, "")};
        update_refs(repo.get(), u, true, sig.get(), "push");
        EXPECT_EQ(u[0].error, "atomic transaction failed");
        EXPECT_EQ(u[1].error, "atomic transaction failed");
        EXPECT_EQ(rev(name), "");
        EXPECT_EQ(rev("refs/heads/other"), b);
        EXPECT_FALSE(std::filesystem::exists(dir.str() + "/r.git/" + name + ".lock"));
    }
    // The lock is someone else's: it stays.
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/r.git/packed-refs.lock"));
}

// git waits core.packedRefsTimeout (1 s by default) for packed-refs.lock:
// a deletion that meets a pack-refs or another deletion waits its turn.
TEST_F(RefUpdateTest, PackedRefsLockIsWaitedFor) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all && git -C '" + dir.str() +
       "/r.git' config core.packedRefsTimeout 20000");
    const std::string lock = dir.str() + "/r.git/packed-refs.lock";
    std::ofstream(lock) << "x";
    std::vector<RefUpdate> u = {update("refs/tags/t", a, "")};
    std::thread deleter([&] {
        git_repository *raw = nullptr;
        git_check(git_repository_open_bare(&raw, (dir.str() + "/r.git").c_str()), "open");
        RepoPtr own(raw);
        update_refs(own.get(), u, false, sig.get(), "push");
    });
    // The deleter holds the ref's lock while it waits for packed-refs.lock.
    const std::string ref_lock = dir.str() + "/r.git/refs/tags/t.lock";
    while (!std::filesystem::exists(ref_lock))
        std::this_thread::yield();
    // Not synchronisation: time for a deleter that tries once to give up
    // (the one here waits up to the 20 s configured).
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(std::filesystem::exists(ref_lock)) << "the deleter is still waiting";
    std::filesystem::remove(lock);
    deleter.join();
    EXPECT_EQ(u[0].error, "") << u[0].detail;
    EXPECT_EQ(rev("refs/tags/t"), "");
    EXPECT_EQ(sh("grep -c refs/tags/t '" + dir.str() + "/r.git/packed-refs' || true"), "0\n");
}

// Deletions and creations beside `git pack-refs --all` in a loop, and
// deleters racing each other: every update reported done is on disk.
TEST_F(RefUpdateTest, NothingLostBesidePackRefsAndOtherDeleters) {
    std::string script = "cd '" + dir.str() +
                         "/r.git' && for i in $(seq 60); do echo create "
                         "refs/tags/p$i " +
                         a +
                         "; done | git update-ref --stdin && "
                         "git pack-refs --all";
    sh(script);
    std::atomic<bool> stop{false};
    std::thread packer([&] {
        const std::string pack = "git -C '" + dir.str() + "/r.git' pack-refs --all 2>/dev/null";
        while (!stop)
            if (std::system(pack.c_str()) != 0) {
                // pack-refs gives up when packed-refs.lock stays taken: fine
            }
    });
    std::vector<std::vector<RefUpdate>> work(3);
    for (int i = 1; i <= 60; i++) // every tag deleted by two deleters
        for (int w = 0; w < 3; w++)
            if (i % 3 != w)
                work[w].push_back(update("refs/tags/p" + std::to_string(i), a, ""));
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < 20; i++) // and branches made beside
            work[w].push_back(
                update("refs/heads/w" + std::to_string(w) + "-" + std::to_string(i), "", b));
    std::vector<std::thread> threads;
    for (int w = 0; w < 3; w++)
        threads.emplace_back([&, w] {
            git_repository *raw = nullptr;
            git_check(git_repository_open_bare(&raw, (dir.str() + "/r.git").c_str()), "open");
            RepoPtr own(raw);
            update_refs(own.get(), work[w], false, sig.get(), "push");
        });
    for (std::thread &t : threads)
        t.join();
    stop = true;
    packer.join();
    std::set<std::string> deleted;
    size_t made = 0;
    for (const auto &list : work)
        for (const RefUpdate &u : list) {
            if (git_oid_is_zero(&u.new_id)) {
                if (u.error.empty())
                    deleted.insert(u.ref);
            } else if (u.error.empty()) {
                made++;
                EXPECT_EQ(rev(u.ref), b) << u.ref << " was made";
            } else {
                EXPECT_EQ(rev(u.ref), "") << u.ref << " was refused: " << u.detail;
            }
        }
    for (int i = 1; i <= 60; i++) {
        const std::string ref = "refs/tags/p" + std::to_string(i);
        // Deleted by one of its two deleters (the other finds it gone), or
        // refused to both and still there.
        EXPECT_EQ(rev(ref), deleted.count(ref) ? "" : a) << ref;
    }
    EXPECT_GT(deleted.size() + made, 0u);
    EXPECT_EQ(sh("cd '" + dir.str() + "/r.git' && git fsck 2>&1 && find . -name '*.lock'"), "");
}

// A deletion that failed on packed-refs.lock must not make the handle forget
// the ref: the next packed-refs written through it (another deletion of the
// same push, once the lock is gone) would drop the ref the client was told
// is still there.
TEST_F(RefUpdateTest, FailedPackedDeletionForgetsNothing) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all");
    std::ofstream(dir.str() + "/r.git/packed-refs.lock") << "x";
    sh("git -C '" + dir.str() + "/r.git' config core.packedRefsTimeout 0");
    std::vector<RefUpdate> u = {update("refs/heads/other", b, "")};
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "failed to update ref");
    std::filesystem::remove(dir.str() + "/r.git/packed-refs.lock");
    u = {update("refs/tags/t", a, "")};
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "");
    EXPECT_EQ(rev("refs/tags/t"), "");
    EXPECT_EQ(rev("refs/heads/other"), b);
    EXPECT_EQ(rev("refs/heads/main"), b);
}

TEST_F(RefUpdateTest, DeletionRemovesTheReflog) {
    sh("git -C '" + dir.str() + "/r.git' config core.logAllRefUpdates always");
    std::vector<RefUpdate> u = {update("refs/heads/feature", "", a)};
    update_refs(repo.get(), u, false, sig.get(), "push");
    ASSERT_EQ(u[0].error, "");
    ASSERT_TRUE(std::filesystem::exists(dir.str() + "/r.git/logs/refs/heads/feature"));
    u = {update("refs/heads/feature", a, "")};
    update_refs(repo.get(), u, false, sig.get(), "push");
    ASSERT_EQ(u[0].error, "");
    EXPECT_FALSE(std::filesystem::exists(dir.str() + "/r.git/logs/refs/heads/feature"));
    // As after git's deletion, a ref named below the deleted one can be made.
    u = {update("refs/heads/feature/x", "", a)};
    update_refs(repo.get(), u, true, sig.get(), "push");
    EXPECT_EQ(u[0].error, "") << u[0].detail;
    EXPECT_EQ(rev("refs/heads/feature/x"), a);
    EXPECT_EQ(sh("git -C '" + dir.str() + "/r.git' fsck 2>&1"), "");
}

TEST_F(RefUpdateTest, ReflogIdentity) {
    sh("git -C '" + dir.str() + "/r.git' config core.logAllRefUpdates always");
    std::vector<RefUpdate> u = {update("refs/heads/main", b, a)};
    update_refs(repo.get(), u, false, sig.get(), "push");
    ASSERT_EQ(u[0].error, "");
    const std::string log = sh("cat '" + dir.str() + "/r.git/logs/refs/heads/main'");
    EXPECT_NE(log.find(b + " " + a + " alice <alice@http.192.0.2.7> "), std::string::npos) << log;
    EXPECT_NE(log.find("\tpush"), std::string::npos);
}

} // namespace

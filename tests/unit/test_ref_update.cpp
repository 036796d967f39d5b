// Locked compare-and-swap ref updates, checked with the real git.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fixture.h"
#include "repo/git_ptr.h"
#include "repo/ref_update.h"

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

TEST_F(RefUpdateTest, AtomicAllOrNone) {
    std::vector<RefUpdate> u = {update("refs/heads/main", b, a), update("refs/heads/other", a, b)};
    update_refs(repo.get(), u, true, sig.get(), "push");
    EXPECT_EQ(u[0].error, "atomic push failure");
    EXPECT_EQ(u[1].error, "failed to update ref");
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
    EXPECT_EQ(rev("main"), b);
    // The lock is someone else's: it stays.
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/r.git/refs/heads/main.lock"));
}

TEST_F(RefUpdateTest, PackedRefDeletion) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all");
    ASSERT_FALSE(std::filesystem::exists(dir.str() + "/r.git/refs/heads/other"));
    std::vector<RefUpdate> u = {update("refs/heads/other", b, ""),
                                update("refs/tags/t", b, "")}; // stale
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "");
    EXPECT_EQ(u[1].error, "failed to delete");
    EXPECT_EQ(rev("other"), "");
    EXPECT_EQ(rev("refs/tags/t"), a);
    EXPECT_EQ(sh("grep -c other '" + dir.str() + "/r.git/packed-refs' || true"), "0\n");
    // packed-refs locked by someone else: the deletion fails.
    std::ofstream(dir.str() + "/r.git/packed-refs.lock") << "x";
    u = {update("refs/tags/t", a, "")};
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "failed to delete");
    EXPECT_EQ(rev("refs/tags/t"), a);
}

// libgit2 rewrites packed-refs for a deletion only when it commits, after
// the other refs of the transaction may have moved: what the report says of
// each ref must be what happened to it.
TEST_F(RefUpdateTest, AtomicCommitFailureReportsWhatMoved) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all");
    std::ofstream(dir.str() + "/r.git/packed-refs.lock") << "x";
    for (int i = 0; i < 8; i++) {
        const std::string name = "refs/heads/n" + std::to_string(i);
        std::vector<RefUpdate> u = {update(name, "", a), update("refs/heads/other", b, "")};
        update_refs(repo.get(), u, true, sig.get(), "push");
        EXPECT_EQ(u[1].error, "atomic transaction failed");
        EXPECT_EQ(rev("refs/heads/other"), b);
        const bool exists = rev(name) == a;
        EXPECT_EQ(u[0].error.empty(), exists) << name << ": " << u[0].error;
        EXPECT_FALSE(std::filesystem::exists(dir.str() + "/r.git/" + name + ".lock"));
    }
    // The lock is someone else's: it stays.
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/r.git/packed-refs.lock"));
}

// A deletion that failed on packed-refs.lock must not make the handle forget
// the ref: the next packed-refs written through it (another deletion of the
// same push, once the lock is gone) would drop the ref the client was told
// is still there.
TEST_F(RefUpdateTest, FailedPackedDeletionForgetsNothing) {
    sh("git -C '" + dir.str() + "/r.git' pack-refs --all");
    std::ofstream(dir.str() + "/r.git/packed-refs.lock") << "x";
    std::vector<RefUpdate> u = {update("refs/heads/other", b, "")};
    update_refs(repo.get(), u, false, sig.get(), "push");
    EXPECT_EQ(u[0].error, "failed to delete");
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

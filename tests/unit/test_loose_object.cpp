// Loose objects are read by our own backend: a damaged file (cut off in its
// compressed data, trailing garbage, a lying header) is a clear error naming
// the object, never a hang. libgit2 1.5's own loose backend spins forever in
// inflate() on a file cut off mid-stream, so each read here runs in a forked
// child under alarm(): a hang fails the test instead of stalling the suite.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include "fixture.h"
#include "git_smart_http.h"
#include "odb/object_db.h"
#include "odb/object_reader.h"
#include "repo/repo_cache.h"
#include "test_pack_repo.h"
#include "util/error.h"
#include "util/git_ptr.h"

namespace gsh {
namespace {

using test::sh;

// Generous: a healthy read takes milliseconds.
constexpr unsigned kHangGuardSeconds = 20;

enum Outcome { kOk = 0, kFailedCleanly = 1, kWrongMessage = 2, kHung = 3, kOther = 4 };

// Runs fn in a child; fn returns kOk or kFailedCleanly (or kWrongMessage).
Outcome guarded(const std::function<int()> &fn, unsigned guard = kHangGuardSeconds) {
    const pid_t pid = fork();
    if (pid == 0) {
        alarm(guard);
        _exit(fn());
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return kOther;
    if (WIFSIGNALED(status))
        return WTERMSIG(status) == SIGALRM ? kHung : kOther;
    return static_cast<Outcome>(WEXITSTATUS(status));
}

// kFailedCleanly when rc is an error whose message names id as corrupt.
int expect_corrupt(int rc, const std::string &id) {
    if (rc >= 0)
        return kOk;
    const git_error *e = git_error_last();
    const std::string msg = e && e->message ? e->message : "";
    return msg.find("loose object " + id + " is corrupt") != std::string::npos ? kFailedCleanly
                                                                               : kWrongMessage;
}

class LooseObjectTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_EQ(gsh_global_init(), 0); }

    void SetUp() override {
        // A bare repository whose objects are all loose; the blob is large
        // enough that cutting its file in half lands in the deflate stream.
        dir_.run("git init -q --bare r.git && mkdir w && cd w && "
                 "awk 'BEGIN{for(i=0;i<20000;i++) print i*7919 % 100003}' > big && "
                 "echo small > small && git --git-dir=../r.git --work-tree=. add . && "
                 "git --git-dir=../r.git --work-tree=. commit -qm c1");
        git_ = "git --git-dir='" + dir_.str() + "/r.git' ";
        path_ = dir_.str() + "/r.git";
    }

    std::string rev(const std::string &r) {
        return test::split_lines(sh(git_ + "rev-parse " + r))[0];
    }
    std::string file_of(const std::string &id) {
        return path_ + "/objects/" + id.substr(0, 2) + "/" + id.substr(2);
    }
    void cut_in_half(const std::string &id) {
        const std::string f = file_of(id);
        sh("chmod u+w '" + f + "' && truncate -s $(( $(stat -c %s '" + f + "') / 2 )) '" + f + "'");
    }
    static git_oid oid(const std::string &hex) {
        git_oid o;
        git_oid_fromstr(&o, hex.c_str());
        return o;
    }
    // git_odb_read through the repository as the core opens it.
    Outcome odb_read(const std::string &id) {
        return guarded([&] {
            RepoPtr repo = open_repository(path_);
            git_odb *raw = nullptr;
            if (git_repository_odb(&raw, repo.get()) < 0)
                return static_cast<int>(kOther);
            OdbPtr odb(raw);
            git_odb_object *obj = nullptr;
            const git_oid o = oid(id);
            const int rc = git_odb_read(&obj, odb.get(), &o);
            git_odb_object_free(obj);
            return expect_corrupt(rc, id);
        });
    }
    Outcome header_read(const std::string &id) {
        return guarded([&] {
            RepoPtr repo = open_repository(path_);
            git_odb *raw = nullptr;
            if (git_repository_odb(&raw, repo.get()) < 0)
                return static_cast<int>(kOther);
            OdbPtr odb(raw);
            size_t size = 0;
            git_object_t type = GIT_OBJECT_INVALID;
            const git_oid o = oid(id);
            return expect_corrupt(git_odb_read_header(&size, &type, odb.get(), &o), id);
        });
    }
    Outcome lookup(const std::string &id) {
        return guarded([&] {
            RepoPtr repo = open_repository(path_);
            git_object *obj = nullptr;
            const git_oid o = oid(id);
            const int rc = git_object_lookup(&obj, repo.get(), &o, GIT_OBJECT_ANY);
            git_object_free(obj);
            return expect_corrupt(rc, id);
        });
    }

    test::TempDir dir_;
    std::string git_, path_;
};

// The walk reads loose objects itself (not through libgit2): a file that
// holds another object is refused, as libgit2's hash check refuses it, and
// a sound one reads as git wrote it. What was read sound is kept by the
// pack set (its ObjectCache) and read so again, whatever the file becomes.
TEST_F(LooseObjectTest, WalkReadsAndChecksLooseObjects) {
    const std::string small = rev("HEAD:small"), big = rev("HEAD:big");
    RepoPtr repo = open_repository(path_);
    auto read_small = [&](pack::ObjectReader &reader) {
        const pack::ObjectReader::Object o = reader.read(oid(small));
        EXPECT_EQ(o.type, GIT_OBJECT_BLOB);
        return std::string(reinterpret_cast<const char *>(o.data), o.size);
    };
    pack::PackSet packs(repo.get());
    pack::ObjectReader reader(repo.get(), packs);
    EXPECT_EQ(read_small(reader), "small\n");
    EXPECT_GT(packs.object_cache().bytes(), 0u);
    sh("chmod u+w '" + file_of(small) + "' && cp '" + file_of(big) + "' '" + file_of(small) + "'");
    EXPECT_EQ(read_small(reader), "small\n") << "from the cache";

    pack::PackSet fresh(repo.get());
    pack::ObjectReader checking(repo.get(), fresh);
    try {
        checking.read(oid(small));
        ADD_FAILURE() << "another object's content was read";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("loose object " + small + " is corrupt"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(fresh.object_cache().bytes(), 0u) << "nothing kept of a corrupt file";
}

TEST_F(LooseObjectTest, TruncatedBlobIsAClearErrorNotAHang) {
    const std::string blob = rev("HEAD:big");
    cut_in_half(blob);
    EXPECT_EQ(odb_read(blob), kFailedCleanly);
    EXPECT_EQ(lookup(blob), kFailedCleanly);
    // Only the header is read, which is whole: git cat-file -s answers too.
    EXPECT_EQ(header_read(blob), kOk);
    EXPECT_NE(sh(git_ + "cat-file -s " + blob + " 2>&1; true"), "");
}

TEST_F(LooseObjectTest, TruncatedCommitAndTreeAreClearErrors) {
    const std::string commit = rev("HEAD");
    const std::string tree = rev("HEAD^{tree}");
    cut_in_half(commit);
    cut_in_half(tree);
    EXPECT_EQ(odb_read(commit), kFailedCleanly);
    EXPECT_EQ(lookup(commit), kFailedCleanly);
    EXPECT_EQ(odb_read(tree), kFailedCleanly);
    EXPECT_EQ(lookup(tree), kFailedCleanly);
}

TEST_F(LooseObjectTest, FileCutInsideTheHeaderFailsEvenForTheHeader) {
    const std::string blob = rev("HEAD:big");
    const std::string f = file_of(blob);
    sh("chmod u+w '" + f + "' && truncate -s 3 '" + f + "'");
    EXPECT_EQ(header_read(blob), kFailedCleanly);
    EXPECT_EQ(odb_read(blob), kFailedCleanly);
}

TEST_F(LooseObjectTest, TrailingGarbageAndLyingSizesAreCorrupt) {
    const std::string small = rev("HEAD:small");
    const std::string f = file_of(small);
    sh("chmod u+w '" + f + "' && printf xyz >> '" + f + "'");
    EXPECT_EQ(odb_read(small), kFailedCleanly);
    // git's fsck refuses the same file ("unable to unpack contents"), and so
    // does its read_object, which pack-objects uses.
    EXPECT_NE(system((git_ + "fsck >/dev/null 2>&1").c_str()), 0);

    // A header declaring more, and less, than the stream holds; and one
    // declaring a size no file this small could inflate to.
    const std::string big = rev("HEAD:big");
    for (const char *payload : {"blob 10\\0abc", "blob 2\\0abc", "blob 99999999999\\0abc"}) {
        sh(std::string("python3 -c \"import sys,zlib; sys.stdout.buffer.write(zlib.compress(b'") +
           payload + "'))\" > '" + file_of(big) + ".new' && chmod u+w '" + file_of(big) +
           "' && mv -f '" + file_of(big) + ".new' '" + file_of(big) + "'");
        EXPECT_EQ(odb_read(big), kFailedCleanly) << payload;
    }
}

TEST_F(LooseObjectTest, HealthyLooseObjectsReadAsGitReadsThem) {
    RepoPtr repo = open_repository(path_);
    git_odb *raw = nullptr;
    ASSERT_EQ(git_repository_odb(&raw, repo.get()), 0);
    OdbPtr odb(raw);
    for (const char *spec : {"HEAD", "HEAD^{tree}", "HEAD:big", "HEAD:small"}) {
        const std::string id = rev(spec);
        const git_oid o = oid(id);
        git_odb_object *obj = nullptr;
        ASSERT_EQ(git_odb_read(&obj, odb.get(), &o), 0) << spec;
        OdbObjectPtr held(obj);
        const std::string data(static_cast<const char *>(git_odb_object_data(obj)),
                               git_odb_object_size(obj));
        const std::string type = test::split_lines(sh(git_ + "cat-file -t " + id))[0];
        EXPECT_EQ(data, sh(git_ + "cat-file " + type + " " + id)) << spec;
        EXPECT_EQ(git_odb_exists(odb.get(), &o), 1);
    }
    // The stream libgit2 offers for large loose objects reads the same bytes.
    const git_oid big = oid(rev("HEAD:big"));
    git_odb_stream *st = nullptr;
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    ASSERT_EQ(git_odb_open_rstream(&st, &size, &type, odb.get(), &big), 0);
    std::string streamed;
    char buf[1000];
    int n;
    while ((n = git_odb_stream_read(st, buf, sizeof buf)) > 0)
        streamed.append(buf, static_cast<size_t>(n));
    free_odb_stream(st);
    EXPECT_EQ(n, 0);
    EXPECT_EQ(type, GIT_OBJECT_BLOB);
    EXPECT_EQ(streamed, sh(git_ + "cat-file blob HEAD:big"));
    EXPECT_EQ(streamed.size(), size);
    const git_oid missing = oid("0123456789012345678901234567890123456789");
    EXPECT_EQ(git_odb_exists(odb.get(), &missing), 0);
}

TEST_F(LooseObjectTest, AlternatesAreReadNestedAndRelative) {
    // b borrows from r through a relative path, c from b by an absolute one.
    dir_.run("git init -q --bare b.git && git init -q --bare c.git && "
             "echo ../../r.git/objects > b.git/objects/info/alternates && "
             "echo \"# comment\" > c.git/objects/info/alternates && "
             "echo \"$PWD/b.git/objects\" >> c.git/objects/info/alternates");
    RepoPtr repo = open_repository(dir_.str() + "/c.git");
    git_odb *raw = nullptr;
    ASSERT_EQ(git_repository_odb(&raw, repo.get()), 0);
    OdbPtr odb(raw);
    const git_oid o = oid(rev("HEAD:small"));
    git_odb_object *obj = nullptr;
    ASSERT_EQ(git_odb_read(&obj, odb.get(), &o), 0);
    EXPECT_EQ(
        std::string(static_cast<const char *>(git_odb_object_data(obj)), git_odb_object_size(obj)),
        "small\n");
    git_odb_object_free(obj);
    EXPECT_EQ(sh("git --git-dir='" + dir_.str() + "/c.git' cat-file blob " + rev("HEAD:small")),
              "small\n");
}

} // namespace
} // namespace gsh

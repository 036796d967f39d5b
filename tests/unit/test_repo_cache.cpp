// The per-process repository cache: what changes on disk (a push, a
// repack, a packed-refs rewrite, the configuration) is seen by the next
// request; nothing else is read again; several threads serve from one
// cached repository at once.
#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "c_session.h"
#include "fixture.h"
#include "git_smart_http.h"
#include "odb/pack_index.h"
#include "pack/pack_stream.h"
#include "protocol/pkt_line.h"
#include "racy_window.h"
#include "repo/repo_access.h"
#include "repo/repo_cache.h"
#include "test_pack_repo.h"

namespace gsh {
namespace {

using test::sh;

class RepoCacheTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_EQ(gsh_global_init(), 0); }

    void SetUp() override {
        // A server repository (bare, packed with a bitmap, refs packed) and
        // a work tree that pushes to it.
        dir_.run("git init -q -b main w && cd w && for i in 1 2 3; do echo $i > f$i; git add .; "
                 "git commit -qm c$i; done && git tag -a -m t v1 && git branch side HEAD~1 && "
                 "git clone -q --bare . ../r.git && git -C ../r.git repack -adbq && "
                 "git -C ../r.git pack-refs --all && git remote add origin ../r.git");
        path_ = dir_.str() + "/r.git";
    }

    std::string rev(const std::string &r) {
        return test::split_lines(sh("git --git-dir='" + path_ + "' rev-parse " + r))[0];
    }
    std::vector<std::string> ref_names(const RepoSnapshot &s) {
        std::vector<std::string> out;
        for (const Ref &r : s.refs())
            out.push_back(r.name + " " + test::to_hex(r.oid));
        return out;
    }
    std::vector<std::string> git_refs() {
        std::vector<std::string> out = {"HEAD " + rev("HEAD")};
        for (const auto &line : test::split_lines(sh(
                 "git --git-dir='" + path_ + "' for-each-ref --format='%(refname) %(objectname)'")))
            out.push_back(line);
        return out;
    }
    // The objects of a clone of every ref, as the cached repository sends.
    std::set<std::string> clone_objects(RepoCache &cache) {
        RepoAccess access(cache, path_);
        pack::EnumerateInput in;
        for (const Ref &r : access.snapshot().refs())
            in.wants.push_back(r.oid);
        pack::Enumeration e =
            pack::enumerate_objects(access.git(), access.snapshot().packs(), in, nullptr);
        std::set<std::string> out = test::hex_set(e.list());
        // And the pack it makes is sound.
        pack::PackStream ps(access.git(), std::move(e), pack::PackOptions{true, false});
        const std::string file = dir_.str() + "/clone.pack";
        {
            std::ofstream f(file, std::ios::binary);
            std::vector<uint8_t> buf(65536);
            while (size_t n = ps.read(buf.data(), buf.size()))
                f.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
        }
        sh("rm -rf '" + dir_.str() + "/v.git' && git init -q --bare '" + dir_.str() +
           "/v.git' && GIT_DIR='" + dir_.str() + "/v.git' git index-pack --strict --stdin < '" +
           file + "' >/dev/null");
        return out;
    }
    std::set<std::string> git_objects() {
        std::set<std::string> out;
        for (const auto &l :
             test::split_lines(sh("git --git-dir='" + path_ + "' rev-list --objects --all")))
            out.insert(l.substr(0, GIT_OID_HEXSZ));
        return out;
    }

    // A whole request through the C API: its status (0: open_on_loop
    // declined it), the response body in *out.
    int request(gsh_request_kind kind, const std::string &body, std::string *out,
                bool on_loop = false, const std::string &repo = "r.git",
                const char *protocol = "version=2") {
        const std::string root = dir_.str();
        const std::string git_protocol = protocol;
        const gsh_request req = test::make_request(root, repo, kind, git_protocol);
        test::SessionPtr s(gsh_session_create(&req));
        if (!s)
            return -1;
        gsh_session_add_body(s.get(), body.data(), body.size());
        int status = on_loop ? gsh_session_open_on_loop(s.get()) : gsh_session_open(s.get());
        if (status != 200)
            return status;
        int rc;
        *out += test::read_all(s.get(), &rc);
        return rc == GSH_DONE ? 200 : 500;
    }

    test::TempDir dir_;
    std::string path_;
};

TEST_F(RepoCacheTest, UnchangedRepositoryIsNotReadAgain) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    auto a = cache.get(path_);
    auto b = cache.get(path_);
    EXPECT_EQ(a, b);
    EXPECT_TRUE(a->current());
    EXPECT_EQ(ref_names(*a), git_refs());
    EXPECT_EQ(clone_objects(cache), git_objects());
}

TEST_F(RepoCacheTest, PushOfANewCommitAndRefIsSeen) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    auto before = cache.get(path_);
    EXPECT_EQ(clone_objects(cache), git_objects());
    // A small push: loose objects and a loose ref.
    dir_.run("cd w && echo 4 > f4 && git add . && git commit -qm c4 && git push -q origin main "
             "&& git push -q origin main:refs/heads/new");
    auto after = cache.get(path_);
    EXPECT_NE(before, after);
    EXPECT_FALSE(before->current());
    EXPECT_EQ(ref_names(*after), git_refs());
    EXPECT_EQ(after->packs(), before->packs()) << "no new pack: the packs are kept";
    EXPECT_EQ(clone_objects(cache), git_objects());
    EXPECT_EQ(cache.get(path_), after);
}

TEST_F(RepoCacheTest, RepackIsSeen) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    dir_.run("cd w && echo 4 > f4 && git add . && git commit -qm c4 && git push -q origin main");
    auto before = cache.get(path_);
    const auto old_packs = sh("ls '" + path_ + "'/objects/pack/");
    // A new pack with everything and a new bitmap; the old pack removed.
    sh("git -C '" + path_ + "' repack -adbq");
    ASSERT_NE(sh("ls '" + path_ + "'/objects/pack/"), old_packs);
    auto after = cache.get(path_);
    EXPECT_NE(before, after);
    EXPECT_NE(after->packs(), before->packs());
    EXPECT_EQ(after->packs()->size(), 1u);
    EXPECT_EQ(clone_objects(cache), git_objects());
}

// A request that started before a repack finishes from the packs it
// started with, removed from the folder meanwhile.
TEST_F(RepoCacheTest, RequestInFlightDuringARepack) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    const auto expect = git_objects();
    auto access = std::make_unique<RepoAccess>(cache, path_);
    pack::EnumerateInput in;
    for (const Ref &r : access->snapshot().refs())
        in.wants.push_back(r.oid);
    pack::PackStream ps(
        access->git(),
        pack::enumerate_objects(access->git(), access->snapshot().packs(), in, nullptr),
        pack::PackOptions{true, false});
    std::vector<uint8_t> buf(4096);
    std::string out;
    size_t n = ps.read(buf.data(), buf.size());
    out.append(reinterpret_cast<const char *>(buf.data()), n);
    dir_.run("cd w && echo 4 > f4 && git add . && git commit -qm c4 && git push -q origin main");
    sh("git -C '" + path_ + "' repack -adbq && git -C '" + path_ + "' prune-packed");
    EXPECT_NE(cache.get(path_), nullptr);
    while ((n = ps.read(buf.data(), buf.size())))
        out.append(reinterpret_cast<const char *>(buf.data()), n);
    const std::string file = dir_.str() + "/inflight.pack";
    std::ofstream(file, std::ios::binary) << out;
    sh("git init -q --bare '" + dir_.str() + "/v.git' && GIT_DIR='" + dir_.str() +
       "/v.git' git index-pack --strict --stdin < '" + file + "' >/dev/null");
    EXPECT_EQ(ps.stats().objects, expect.size());
}

TEST_F(RepoCacheTest, PackedRefsRewriteIsSeen) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    auto before = cache.get(path_);
    // side lives in packed-refs only: deleting it rewrites that file alone.
    ASSERT_EQ(sh("find '" + path_ + "'/refs -type f | wc -l"), "0\n");
    sh("git --git-dir='" + path_ + "' update-ref -d refs/heads/side");
    auto after = cache.get(path_);
    EXPECT_NE(before, after);
    EXPECT_EQ(ref_names(*after), git_refs());
    // And a ref moved, then packed again.
    sh("git --git-dir='" + path_ + "' update-ref refs/tags/v1 " + rev("main~1") +
       " && git --git-dir='" + path_ + "' pack-refs --all");
    auto packed = cache.get(path_);
    EXPECT_NE(after, packed);
    EXPECT_EQ(ref_names(*packed), git_refs());
}

TEST_F(RepoCacheTest, ConfigAndHeadChangesAreSeen) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    auto before = cache.get(path_);
    sh("git --git-dir='" + path_ + "' config uploadpack.hideRefs refs/tags");
    auto hidden = cache.get(path_);
    EXPECT_NE(before, hidden);
    for (const Ref &r : hidden->refs())
        EXPECT_NE(r.name.rfind("refs/tags/", 0), 0u) << r.name;
    sh("git --git-dir='" + path_ + "' symbolic-ref HEAD refs/heads/side");
    auto head = cache.get(path_);
    EXPECT_NE(hidden, head);
    ASSERT_FALSE(head->refs().empty());
    EXPECT_EQ(head->refs()[0].symref_target, "refs/heads/side");
}

// A loose ref replaced by a file of the same size that has the inode
// number of the one the snapshot saw: the file system reuses freed numbers
// at once, so two quick updates of a ref can leave it so. Made here with a
// hard link that keeps the old number alive.
TEST_F(RepoCacheTest, RefFileBackOnItsOldInodeIsSeen) {
    RepoCache cache(4);
    dir_.run("cd w && git push -q origin main:refs/heads/loose");
    const std::string ref = path_ + "/refs/heads/loose";
    auto before = cache.get(path_);
    ASSERT_EQ(test::to_hex(before->find_ref("refs/heads/loose")->oid), rev("main"));
    ASSERT_EQ(::link(ref.c_str(), (path_ + "/kept").c_str()), 0);
    sh("git --git-dir='" + path_ + "' update-ref refs/heads/loose " + rev("main~1"));
    std::ofstream(path_ + "/kept", std::ios::trunc) << rev("main~2") << "\n";
    ASSERT_EQ(::rename((path_ + "/kept").c_str(), ref.c_str()), 0);
    ASSERT_EQ(rev("refs/heads/loose"), rev("main~2"));

    auto after = cache.get(path_);
    EXPECT_NE(before, after);
    EXPECT_EQ(test::to_hex(after->find_ref("refs/heads/loose")->oid), rev("main~2"));
    EXPECT_EQ(ref_names(*after), git_refs());
}

// Within the racy window of its ref files' times a snapshot is read again
// at each request (its packs kept); with the window behind, it is reused.
TEST_F(RepoCacheTest, SnapshotOfRefsWrittenJustNowIsReadAgain) {
    RepoCache cache(4);
    cache.set_racy_window(int64_t(60) * 1000000000); // a file system that ticks once a minute
    dir_.run("cd w && echo 4 > f4 && git add . && git commit -qm c4 && git push -q origin main");
    auto a = cache.get(path_);
    EXPECT_FALSE(a->current());
    auto b = cache.get(path_);
    EXPECT_NE(a, b);
    EXPECT_EQ(a->packs(), b->packs());
    EXPECT_EQ(ref_names(*b), git_refs());
    EXPECT_EQ(cache.get_cached(path_), nullptr) << "not trusted on the event loop either";

    cache.set_racy_window(0); // as if the window were behind
    auto c = cache.get(path_);
    EXPECT_TRUE(c->current());
    EXPECT_EQ(cache.get(path_), c);
    EXPECT_EQ(cache.get_cached(path_), c);
}

TEST_F(RepoCacheTest, LeastRecentlyUsedRepositoryGoes) {
    dir_.run("git clone -q --bare r.git r2.git && git clone -q --bare r.git r3.git");
    RepoCache cache(2);
    cache.set_racy_window(0);
    auto a = cache.get(path_);
    cache.get(dir_.str() + "/r2.git");
    cache.get(path_); // a is now the most recently used
    cache.get(dir_.str() + "/r3.git");
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.get(path_), a);
}

// Copies r.git to r2.git, r3.git, ...: names of one length, so that each
// is counted for the same bytes.
std::vector<std::string> copies(const test::TempDir &dir, int n) {
    std::vector<std::string> out;
    for (int i = 2; i < 2 + n; i++) {
        const std::string name = "r" + std::to_string(i) + ".git";
        dir.run("git clone -q --bare r.git " + name + " && git -C " + name + " repack -adbq");
        out.push_back(dir.str() + "/" + name);
    }
    return out;
}

TEST_F(RepoCacheTest, LeastRecentlyUsedGoesByBytes) {
    const std::vector<std::string> r = copies(dir_, 3);
    RepoCache probe{CacheLimits{}};
    auto a = probe.get(r[0]);
    const size_t one = probe.bytes();
    // The refs, the packs' tables and the bitmap, estimated.
    ASSERT_GT(one, sizeof(RepoSnapshot));
    ASSERT_GE(one, a->memory_bytes());

    CacheLimits limits;
    limits.bytes = 2 * one + one / 2;
    RepoCache cache(limits);
    cache.set_racy_window(0);
    auto first = cache.get(r[0]);
    cache.get(r[1]);
    EXPECT_EQ(cache.bytes(), 2 * one);
    cache.get(r[0]); // first is now the most recently used
    cache.get(r[2]); // r[1] goes
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_LE(cache.bytes(), limits.bytes);
    EXPECT_EQ(cache.get_cached(r[0]), first);
    EXPECT_EQ(cache.get_cached(r[1]), nullptr);
    EXPECT_NE(cache.get_cached(r[2]), nullptr);

    // An evicted snapshot that a request holds stays whole, uncounted.
    auto held = cache.get(r[1]); // r[0] goes now
    EXPECT_EQ(cache.get_cached(r[0]), nullptr);
    EXPECT_EQ(cache.bytes(), 2 * one);
    EXPECT_EQ(first.use_count(), 1);
    EXPECT_EQ(first->path(), r[0]);
    EXPECT_FALSE(first->refs().empty());

    // Smaller: only the most recently used is kept, however large.
    cache.set_limits(CacheLimits{1, 128, SIZE_MAX});
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.get_cached(r[1]), held);
}

TEST_F(RepoCacheTest, IdleHandlesAndMemoTextAreCounted) {
    RepoCache cache{CacheLimits{}};
    cache.set_racy_window(0);
    auto s = cache.get(path_);
    const size_t bare = cache.bytes();
    s->memo(RepoSnapshot::kAdvertisementV0, [] { return std::string(100000, 'x'); });
    {
        RepoAccess a(cache, path_);
        RepoAccess b(cache, path_);
        a.git();
        b.git();
    } // both handles idle now
    EXPECT_GE(cache.bytes(), bare + 100000 + 2 * RepoCache::kIdleHandleBytes);
}

#if defined(__GLIBC__)
// The estimate against what the heap really gives a snapshot of 20,000 refs
// and its advertisement, and a handle that has read them.
TEST_F(RepoCacheTest, EstimateFollowsTheHeap) {
    dir_.run("h=$(git -C r.git rev-parse HEAD) && seq 10000 29999 | sed \"s|^|$h refs/tags/t|\" "
             ">> r.git/packed-refs && git -C r.git pack-refs --all");
    const std::vector<std::string> warm = copies(dir_, 1);
    RepoCache cache{CacheLimits{}};
    cache.set_racy_window(0);
    cache.get(warm[0]); // libgit2's and the cache's first allocations
    const size_t before = cache.bytes();
    const struct mallinfo2 m0 = mallinfo2();
    auto s = cache.get(path_);
    s->memo(RepoSnapshot::kAdvertisementV0, [&] {
        std::string text;
        for (const Ref &r : s->refs())
            text += "0040" + test::to_hex(r.oid) + " " + r.name + "\n";
        return text;
    });
    RepoPtr handle = cache.lend(path_);
    git_strarray names{};
    ASSERT_EQ(git_reference_list(&names, handle.get()), 0);
    git_strarray_dispose(&names);
    cache.give_back(*s, std::move(handle));
    const struct mallinfo2 m1 = mallinfo2();
    const size_t heap = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);
    if (heap == 0)
        GTEST_SKIP() << "no malloc statistics (a sanitizer's allocator)";
    const size_t counted = cache.bytes() - before;
    ASSERT_GE(s->refs().size(), 20000u);
    EXPECT_GE(counted, heap * 8 / 10) << "heap " << heap;
    EXPECT_LE(counted, heap * 3 / 2) << "heap " << heap;
}
#endif

TEST_F(RepoCacheTest, OpenPackFilesAreBounded) {
    const std::vector<std::string> r = copies(dir_, 3);
    CacheLimits limits;
    limits.open_files = 2; // one pack each
    RepoCache cache(limits);
    cache.set_racy_window(0);
    for (const std::string &p : r)
        cache.get(p);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.open_files(), 2u);
    EXPECT_EQ(cache.get_cached(r[0]), nullptr);
}

TEST_F(RepoCacheTest, HandlesAreLentOnceAndKeptWhileTheSnapshotIsCurrent) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    git_repository *first;
    {
        RepoAccess a(cache, path_);
        RepoAccess b(cache, path_);
        first = a.git();
        EXPECT_NE(a.git(), b.git()) << "a handle is lent to one request at a time";
        EXPECT_EQ(a.git(), first);
    }
    {
        RepoAccess c(cache, path_);
        RepoAccess d(cache, path_);
        EXPECT_EQ(c.git() == first || d.git() == first, true) << "given back, lent again";
    }
    dir_.run("cd w && echo 5 > f5 && git add . && git commit -qm c5 && git push -q origin main");
    RepoAccess e(cache, path_);
    EXPECT_EQ(ref_names(e.snapshot()), git_refs());
}

// Whole requests through the C API, from several threads at once, on one
// cached repository: every answer is the same as git's object set says,
// while pushes land meanwhile.
TEST_F(RepoCacheTest, ConcurrentRequestsShareTheCachedRepository) {
    auto request = [&](const std::string &body, std::string *out) {
        return this->request(GSH_RPC_UPLOAD_PACK, body, out);
    };
    std::string fetch;
    proto::pkt_write_line(fetch, "command=fetch");
    proto::pkt_delim(fetch);
    for (const std::string &line : std::vector<std::string>{
             "ofs-delta", "no-progress", "want " + rev("main"), "want " + rev("v1"), "done"})
        proto::pkt_write_line(fetch, line);
    proto::pkt_flush(fetch);
    std::string ls;
    proto::pkt_write_line(ls, "command=ls-refs");
    proto::pkt_delim(ls);
    proto::pkt_write_line(ls, "peel");
    proto::pkt_flush(ls);

    std::string first_pack;
    ASSERT_EQ(request(fetch, &first_pack), 200);
    ASSERT_NE(first_pack.find("PACK"), std::string::npos);

    std::atomic<int> failures{0}, different{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&] {
            for (int i = 0; i < 15; i++) {
                std::string a, b;
                if (request(fetch, &a) != 200 || request(ls, &b) != 200 ||
                    b.find(" refs/heads/main\n") == std::string::npos)
                    failures++;
                else if (a != first_pack)
                    different++;
            }
        });
    // Meanwhile: pushes to other refs, which change the snapshot.
    std::thread pusher([&] {
        for (int i = 0; i < 5 && !stop; i++)
            sh("cd '" + dir_.str() + "/w' && git push -q origin HEAD:refs/heads/b" +
               std::to_string(i));
    });
    for (auto &t : threads)
        t.join();
    stop = true;
    pusher.join();
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(different, 0) << "the same wants give the same pack";
}

// get_cached() answers from what is cached and never reads: nothing before
// the first get(), the snapshot while it is current, nothing once the
// repository changed, until a get() reads it again.
TEST_F(RepoCacheTest, GetCachedNeverReads) {
    RepoCache cache(4);
    cache.set_racy_window(0);
    EXPECT_EQ(cache.get_cached(path_), nullptr);
    auto a = cache.get(path_);
    EXPECT_EQ(cache.get_cached(path_), a);
    dir_.run("cd w && echo 4 > f4 && git add . && git commit -qm c4 && git push -q origin main");
    EXPECT_EQ(cache.get_cached(path_), nullptr);
    auto b = cache.get(path_);
    EXPECT_NE(a, b);
    EXPECT_EQ(cache.get_cached(path_), b);
}

// Through the C API: the advertisement and ls-refs of a cached repository
// are answered on the event loop, the same bytes as on a thread; a fetch,
// a v0 request, a compressed body or a repository not cached (or changed
// since) wait for a thread; a missing repository is answered at once.
TEST_F(RepoCacheTest, OpenOnLoopAnswersOnlyFromTheCache) {
    // A repository of its own: the process cache may know r.git already.
    dir_.run("git clone -q --bare r.git loop.git");
    test::TrustFreshStamps trust;
    const std::string repo = "loop.git";
    std::string ls;
    proto::pkt_write_line(ls, "command=ls-refs");
    proto::pkt_delim(ls);
    proto::pkt_write_line(ls, "peel");
    proto::pkt_write_line(ls, "symrefs");
    proto::pkt_flush(ls);
    std::string fetch;
    proto::pkt_write_line(fetch, "command=fetch");
    proto::pkt_delim(fetch);
    proto::pkt_write_line(fetch, "want " + rev("main"));
    proto::pkt_write_line(fetch, "done");
    proto::pkt_flush(fetch);

    std::string out;
    EXPECT_EQ(request(GSH_ADVERTISE_UPLOAD_PACK, "", &out, true, repo), 0) << "not cached yet";
    std::string adv_thread, ls_thread, adv_v0_thread;
    ASSERT_EQ(request(GSH_ADVERTISE_UPLOAD_PACK, "", &adv_thread, false, repo), 200);
    ASSERT_EQ(request(GSH_RPC_UPLOAD_PACK, ls, &ls_thread, false, repo), 200);
    ASSERT_EQ(request(GSH_ADVERTISE_UPLOAD_PACK, "", &adv_v0_thread, false, repo, ""), 200);

    std::string adv_loop, ls_loop, adv_v0_loop;
    EXPECT_EQ(request(GSH_ADVERTISE_UPLOAD_PACK, "", &adv_loop, true, repo), 200);
    EXPECT_EQ(adv_loop, adv_thread);
    EXPECT_EQ(request(GSH_RPC_UPLOAD_PACK, ls, &ls_loop, true, repo), 200);
    EXPECT_EQ(ls_loop, ls_thread);
    EXPECT_NE(ls_loop.find(" refs/heads/main"), std::string::npos);
    EXPECT_EQ(request(GSH_ADVERTISE_UPLOAD_PACK, "", &adv_v0_loop, true, repo, ""), 200);
    EXPECT_EQ(adv_v0_loop, adv_v0_thread);

    out.clear();
    EXPECT_EQ(request(GSH_RPC_UPLOAD_PACK, fetch, &out, true, repo), 0) << "a fetch";
    EXPECT_EQ(request(GSH_RPC_UPLOAD_PACK, "0000", &out, true, repo, ""), 0) << "v0";
    EXPECT_EQ(request(GSH_ADVERTISE_UPLOAD_PACK, "", &out, true, "missing.git"), 404);
    EXPECT_EQ(request(GSH_RPC_UPLOAD_PACK, "00", &out, true, repo), 400) << "malformed";

    // A push: the next answer is a thread's, with the new ref.
    sh("git --git-dir='" + dir_.str() + "/loop.git' update-ref refs/heads/pushed " + rev("main"));
    EXPECT_EQ(request(GSH_RPC_UPLOAD_PACK, ls, &out, true, repo), 0);
    std::string ls_after;
    ASSERT_EQ(request(GSH_RPC_UPLOAD_PACK, ls, &ls_after, false, repo), 200);
    EXPECT_NE(ls_after.find(" refs/heads/pushed"), std::string::npos);
    std::string ls_after_loop;
    EXPECT_EQ(request(GSH_RPC_UPLOAD_PACK, ls, &ls_after_loop, true, repo), 200);
    EXPECT_EQ(ls_after_loop, ls_after);
}

} // namespace
} // namespace gsh

// Our index-pack (push/index_pack.h): packs made by git index to the very
// .idx and .rev git's index-pack writes (thin ones completed as --fix-thin
// completes them), whatever the pieces and threads; every kind of corrupt
// entry is refused naming the entry, and nothing is left in the directory.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "odb/pack_format.h"
#include "pack_bytes.h"
#include "push/index_pack.h"
#include "util/git_ptr.h"
#include "util/sha1.h"

using namespace gsh;
using gsh::pack::IndexPackOptions;
using gsh::pack::PackIndexer;
using gsh::test::sh;

namespace {

using gsh::test::blob_oid;
using gsh::test::deflate;
using gsh::test::delta;
using gsh::test::make_pack;
using gsh::test::ofs_delta;
using gsh::test::ref_delta;
using gsh::test::varint;
using gsh::test::whole;

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class IndexPackTest : public ::testing::Test {
  protected:
    void SetUp() override {
        git_libgit2_init();
        dir.run("git init -q --bare r.git && mkdir out && mkdir git");
        open_odb();
    }
    void open_odb() {
        git_repository *raw = nullptr;
        git_check(git_repository_open_bare(&raw, (dir.str() + "/r.git").c_str()), "open");
        repo.reset(raw);
        git_odb *o = nullptr;
        git_check(git_repository_odb(&o, repo.get()), "odb");
        odb.reset(o);
    }
    std::string out() const { return dir.str() + "/out"; }
    // Our verdict on data fed in pieces of step bytes: "" or the error;
    // the name of the pack written.
    std::string index(const std::string &data, size_t step = 1000, IndexPackOptions opts = {}) {
        PackIndexer ix(out(), odb.get(), opts);
        bool ok = true;
        for (size_t pos = 0; ok && pos < data.size(); pos += step)
            ok = ix.feed(data.data() + pos, std::min(step, data.size() - pos));
        if (ok)
            ok = ix.finish();
        name = ix.name();
        linked = ix.links().objects.size();
        return ok ? std::string() : ix.error();
    }
    size_t files_left() const {
        size_t n = 0;
        for (const auto &e : std::filesystem::directory_iterator(out()))
            n += !e.path().empty();
        return n;
    }
    void expect_refused(const std::string &data, const std::string &words) {
        for (size_t step : {size_t(1), size_t(7), data.size()}) {
            const std::string err = index(data, step);
            EXPECT_NE(err.find(words), std::string::npos) << "step " << step << ": " << err;
        }
        EXPECT_EQ(files_left(), 0u);
    }
    // git index-pack --stdin --fix-thin on data in repo (for thin bases):
    // ours must write the same .pack, .idx and .rev bytes.
    void expect_as_git(const std::string &data, const std::string &repo_dir, size_t step,
                       IndexPackOptions opts = {}) {
        std::ofstream(dir.str() + "/in.pack", std::ios::binary) << data;
        sh("cd '" + repo_dir + "' && git index-pack --stdin --fix-thin --rev-index '" + dir.str() +
           "/git/g.pack' < '" + dir.str() + "/in.pack'");
        ASSERT_EQ(index(data, step, opts), "");
        const std::string ours = out() + "/" + name, git = dir.str() + "/git/g";
        EXPECT_EQ(sh("git show-index < '" + ours + ".idx'"),
                  sh("git show-index < '" + git + ".idx'"));
        EXPECT_TRUE(read_file(ours + ".idx") == read_file(git + ".idx"));
        EXPECT_TRUE(read_file(ours + ".rev") == read_file(git + ".rev"));
        EXPECT_TRUE(read_file(ours + ".pack") == read_file(git + ".pack"));
        sh("git verify-pack '" + ours + ".idx'");
        sh("cd '" + repo_dir + "' && git index-pack --verify '" + ours + ".pack'");
    }

    test::TempDir dir;
    RepoPtr repo;
    OdbPtr odb;
    std::string name;
    size_t linked = 0; // objects whose links were recorded
};

// A history with deltas: files that change a line at a time.
void make_history(const test::TempDir &dir, int files, int commits) {
    dir.run("git init -q -b main w && cd w && for f in $(seq 1 " + std::to_string(files) +
            "); do seq 1 300 | sed \"s/^/$f /\" > f$f; done && git add . && git commit -qm 0 && "
            "for c in $(seq 1 " +
            std::to_string(commits) + "); do for f in $(seq 1 " + std::to_string(files) +
            "); do echo \"$c change\" >> f$f; done; git commit -qam $c; done");
}

TEST_F(IndexPackTest, GitPacksIndexAsGitIndexesThem) {
    make_history(dir, 6, 12);
    const std::string w = dir.str() + "/w";
    for (const char *flags : {"--delta-base-offset", ""}) {
        const std::string data = dir.run("cd w && git pack-objects -q --all --stdout " +
                                         std::string(flags) + " </dev/null");
        expect_as_git(data, w, 4096);
        dir.run("rm -f out/* git/*");
    }
}

TEST_F(IndexPackTest, ManyChainsOnManyThreadsWithATinyCache) {
    make_history(dir, 40, 8);
    const std::string data =
        dir.run("cd w && git pack-objects -q --all --stdout --delta-base-offset </dev/null");
    IndexPackOptions opts;
    opts.threads = 4;
    opts.delta_base_cache_limit = 1; // every base dropped, made again when needed
    uint32_t calls = 0, last_deltas = 0, total_deltas = 0, received = 0;
    opts.progress = [&](const git_indexer_progress &p) {
        calls++;
        last_deltas = p.indexed_deltas;
        total_deltas = p.total_deltas;
        received = p.received_objects;
    };
    expect_as_git(data, dir.str() + "/w", 333, opts);
    EXPECT_GT(calls, 0u);
    EXPECT_GT(total_deltas, 100u);
    EXPECT_EQ(last_deltas, total_deltas);
    EXPECT_EQ(received,
              uint32_t(std::stoul(dir.run("cd w && git rev-list --objects --all | wc -l"))));
}

TEST_F(IndexPackTest, ThinPackCompletedAsFixThin) {
    make_history(dir, 3, 4);
    dir.run("cd w && git push -q ../r.git main~2:refs/heads/main");
    open_odb();
    const std::string data =
        dir.run("cd w && printf 'main\\n^main~2\\n' | git pack-objects -q --stdout --revs --thin");
    expect_as_git(data, dir.str() + "/r.git", 100);
}

TEST_F(IndexPackTest, RefDeltaBeforeItsBaseAccepted) {
    const std::string base = "hello hello hello world";
    const std::string data = make_pack(
        {ref_delta(blob_oid(base), delta(base.size(), 8, 0, 5, "!!!")), whole(pack::kBlob, base)});
    expect_as_git(data, dir.str() + "/r.git", 5);
}

TEST_F(IndexPackTest, BadHeadersRefused) {
    std::string bad = make_pack({whole(pack::kBlob, "x")});
    bad[3] = 'X';
    expect_refused(bad, "pack signature mismatch");
    bad = make_pack({whole(pack::kBlob, "x")});
    bad[7] = 4;
    expect_refused(bad, "pack version 4 unsupported");
    expect_refused(make_pack({whole(pack::kBlob, "x"), whole(5, "y")}),
                   "pack has bad object at offset 22: unknown object type 5");
}

TEST_F(IndexPackTest, SizeMismatchesAndBrokenStreamsRefused) {
    expect_refused(make_pack({whole(pack::kBlob, "abcdef", 9)}),
                   "pack has bad object at offset 12: inflate returned");
    expect_refused(make_pack({whole(pack::kBlob, "abcdef", 3)}),
                   "pack has bad object at offset 12: inflate returned");
    // The stream cut short, another entry after it.
    std::string cut = whole(pack::kBlob, "abcdefgh");
    cut.resize(cut.size() - 5);
    expect_refused(make_pack({cut, whole(pack::kBlob, "abcdefgh")}),
                   "pack has bad object at offset 12");
    const std::string good = make_pack({whole(pack::kBlob, "abc")});
    expect_refused(good + "x", "pack has junk at the end");
    std::string trailer = good;
    trailer.back() ^= 1;
    expect_refused(trailer, "pack is corrupted (SHA1 mismatch)");
    expect_refused(good.substr(0, good.size() - 4), "early EOF");
}

TEST_F(IndexPackTest, BadDeltaBasesRefused) {
    const std::string base = whole(pack::kBlob, "hello world");
    const std::string d = delta(11, 5, 0, 5, "");
    expect_refused(make_pack({base, ofs_delta(0, d)}), "delta base offset is out of bound");
    expect_refused(make_pack({base, ofs_delta(base.size() + 12 + 1, d)}),
                   "delta base offset is out of bound");
    // Into the middle of the base entry.
    expect_refused(make_pack({base, ofs_delta(base.size() - 1, d)}),
                   "pack has 1 unresolved delta (the first at offset " +
                       std::to_string(12 + base.size()) + ", base offset 13)");
    const std::string missing(20, '\x44');
    expect_refused(make_pack({base, ref_delta(missing, d)}),
                   "pack has 1 unresolved delta (the first at offset " +
                       std::to_string(12 + base.size()) + ", base " + std::string(40, '4') + ")");
    // A cycle: deltas that only insert, each naming as its base the blob
    // the other one makes.
    const std::string to_a = varint(5) + varint(5) + char(5) + "aaaaa";
    const std::string to_b = varint(5) + varint(5) + char(5) + "bbbbb";
    expect_refused(
        make_pack({ref_delta(blob_oid("bbbbb"), to_a), ref_delta(blob_oid("aaaaa"), to_b)}),
        "pack has 2 unresolved deltas (the first at offset 12, base ");
}

TEST_F(IndexPackTest, BadDeltasRefused) {
    const std::string base = whole(pack::kBlob, "hello world");
    const std::string at = "pack has bad object at offset " + std::to_string(12 + base.size()) +
                           ": failed to apply delta";
    expect_refused(make_pack({base, ofs_delta(base.size(), delta(10, 5, 0, 5, ""))}), at);
    expect_refused(make_pack({base, ofs_delta(base.size(), delta(11, 9, 0, 5, ""))}), at);
    expect_refused(make_pack({base, ofs_delta(base.size(), delta(11, 5, 9, 5, ""))}), at);
    // Thin, but the base is nowhere.
    expect_refused(make_pack({ref_delta(blob_oid("hello world"), delta(11, 5, 0, 5, ""))}),
                   "pack has 1 unresolved delta (the first at offset 12, base ");
}

} // namespace

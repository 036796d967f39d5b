// Published base packs (service/publish.h): a pack and a bundle of HEAD,
// the branches and the tags, named by the pack's checksum, with a manifest
// that names the current one; replaced once due or at once when a clone of
// every ref cannot use it, never by an older snapshot; named files that the
// manifest lacks swept; checked against git's own index-pack, rev-list and
// bundle verify.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "repo/repo_access.h"
#include "repo/upload_pack_config.h"
#include "service/publish.h"
#include "test_pack_repo.h"
#include "walk/object_walk.h"

using namespace gsh;
using gsh::test::sh;
using gsh::test::split_lines;
using gsh::test::to_hex;
using gsh::test::to_oid;

namespace {

constexpr int64_t kNow = 1'800'000'000;

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::string &path, const std::string &text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

bool exists(const std::string &path) {
    return std::filesystem::exists(path);
}

std::set<std::string> names_in(const std::string &folder) {
    std::set<std::string> out;
    for (const auto &e : std::filesystem::directory_iterator(folder))
        out.insert(e.path().filename().string());
    return out;
}

std::vector<std::string> ref_lines(const std::vector<std::pair<std::string, git_oid>> &refs) {
    std::vector<std::string> out;
    for (const auto &[name, oid] : refs)
        out.push_back(to_hex(oid) + " " + name);
    return out;
}

class PublishTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { git_libgit2_init(); }
    static void TearDownTestSuite() { git_libgit2_shutdown(); }

    // main: five commits (the last one loose), v1 (annotated) and light
    // (lightweight) tags on it, side: two commits of its own from main~2.
    void SetUp() override {
        dir_.run("git init -q -b main repo && cd repo && git config gc.auto 0 && "
                 "git config advice.detachedHead false");
        for (int i = 0; i < 4; i++)
            commit("main", "f");
        dir_.run("cd repo && GIT_COMMITTER_DATE='" + date() +
                 "' git tag -a -m annotated v1 main~1 && git tag light main~2 && "
                 "git branch side main~2");
        commit("side", "s");
        commit("side", "s");
        dir_.run("cd repo && git repack -adq && git commit-graph write --reachable");
        commit("main", "f");
        path_ = dir_.str() + "/repo/.git";
        policy_.dir = dir_.str() + "/published";
        policy_.interval = 3600;
        policy_.grace = 7200;
        policy_.url = "https://cdn.example.com/base/";
    }

    std::string date() const { return "@" + std::to_string(1'700'000'000 + n_ * 60) + " +0000"; }

    // A new commit on branch (changing file), dated a minute after the last.
    void commit(const std::string &branch, const std::string &file) {
        ++n_;
        dir_.run("cd repo && { [ \"$(git symbolic-ref --short HEAD)\" = " + branch +
                 " ] || git checkout -q " + branch + "; } && echo " + std::to_string(n_) + " >> " +
                 file + " && git add -A && GIT_AUTHOR_DATE='" + date() + "' GIT_COMMITTER_DATE='" +
                 date() + "' git commit -qm c" + std::to_string(n_) + " && git checkout -q main");
    }

    std::string rev(const std::string &what) const {
        return split_lines(dir_.run("cd repo && git rev-parse '" + what + "'"))[0];
    }

    // The repository read afresh, as the next request reads it after a push.
    RepoAccess &fresh_access() {
        access_ = std::make_unique<RepoAccess>(path_);
        return *access_;
    }

    std::string folder() const { return publish_folder(policy_.dir, access_->snapshot().path()); }

    std::optional<PublishedBase> base_for_clone_refs(int64_t now, std::string *warning) {
        return current_base(*access_, policy_, now, clone_refs(access_->snapshot()), warning);
    }

    // Objects a clone of every ref gets, as git lists them.
    std::set<std::string> git_objects() const {
        std::set<std::string> out;
        for (const std::string &line :
             split_lines(dir_.run("cd repo && git rev-list --objects --all")))
            out.insert(line.substr(0, 40));
        return out;
    }

    // The objects of a pack file as git's index-pack reads them (which
    // checks the pack whole), and the checksum index-pack reports.
    std::set<std::string> pack_objects(const std::string &pack_file, std::string *checksum) const {
        const std::string copy = dir_.str() + "/check.pack", idx = dir_.str() + "/check.idx";
        std::filesystem::copy_file(pack_file, copy,
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::remove(idx);
        *checksum = split_lines(sh("git index-pack '" + copy + "'"))[0];
        std::set<std::string> out;
        for (const std::string &line : split_lines(sh("git show-index < '" + idx + "'"))) {
            std::istringstream in(line);
            std::string offset, oid;
            in >> offset >> oid;
            out.insert(oid);
        }
        return out;
    }

    std::vector<git_oid> every_ref_but(const std::string &name) const {
        std::vector<git_oid> out;
        for (const Ref &r : access_->snapshot().refs())
            if (!r.unborn && r.name != name)
                out.push_back(r.oid);
        return out;
    }

    test::TempDir dir_;
    std::string path_;
    PublishConfig policy_;
    std::unique_ptr<RepoAccess> access_;
    int n_ = 0;
};

TEST_F(PublishTest, PublishFolderIsStableAndPerRepository) {
    const std::string a = publish_folder("/srv/published", "/srv/git/a.git");
    EXPECT_EQ(a, publish_folder("/srv/published", "/srv/git/a.git"));
    // The git directory's path, SHA-1 hashed: the same from one process,
    // one build, to the next.
    const std::string sha1 = split_lines(sh("printf %s /srv/git/a.git | sha1sum"))[0];
    EXPECT_EQ(a, "/srv/published/" + sha1.substr(0, 16));
    const std::string b = publish_folder("/srv/published", "/srv/git/b.git");
    EXPECT_TRUE(b.starts_with("/srv/published/")) << b;
    EXPECT_NE(a, b);
    EXPECT_EQ(publish_folder("/other", "/srv/git/a.git"), "/other/" + sha1.substr(0, 16));
}

TEST_F(PublishTest, FirstCallPublishesPackAndBundle) {
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> base = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(base) << warning;
    EXPECT_EQ(warning, "");
    ASSERT_EQ(base->hash.size(), 40u);
    const std::string f = folder();
    // Keyed by the path the request resolved, as the published files are
    // looked for.
    EXPECT_EQ(f, publish_folder(policy_.dir, path_));
    const std::string pack = f + "/pack-" + base->hash + ".pack";
    const std::string bundle = f + "/bundle-" + base->hash + ".bundle";
    EXPECT_EQ(names_in(f),
              (std::set<std::string>{"lock", "manifest", "pack-" + base->hash + ".pack",
                                     "bundle-" + base->hash + ".bundle"}));
    EXPECT_EQ(published_pack_name(*base), "pack-" + base->hash + ".pack");
    EXPECT_EQ(published_bundle_name(*base), "bundle-" + base->hash + ".bundle");

    // The pack: named by its checksum, whole, of exactly what every ref reaches.
    const std::string pack_bytes = read_file(pack);
    ASSERT_GT(pack_bytes.size(), 32u);
    git_oid tail;
    std::memcpy(tail.id, pack_bytes.data() + pack_bytes.size() - 20, 20);
    EXPECT_EQ(to_hex(tail), base->hash);
    EXPECT_EQ(base->pack_size, pack_bytes.size());
    std::string checksum;
    const std::set<std::string> objects = pack_objects(pack, &checksum);
    EXPECT_EQ(checksum, base->hash);
    EXPECT_EQ(objects, git_objects());
    EXPECT_EQ(base->objects, objects.size());

    // The refs: every ref, HEAD first, as the snapshot has them.
    std::vector<std::string> expected_refs = {rev("HEAD") + " HEAD"};
    for (const std::string &line :
         split_lines(dir_.run("cd repo && git for-each-ref --format='%(objectname) %(refname)'")))
        expected_refs.push_back(line);
    EXPECT_EQ(ref_lines(base->refs), expected_refs);

    // The bundle: its header, then the same pack; git takes it.
    const std::string bundle_bytes = read_file(bundle);
    EXPECT_EQ(bundle_bytes, base->bundle_header() + pack_bytes);
    EXPECT_TRUE(base->bundle_header().starts_with("# v2 git bundle\n" + rev("HEAD") + " HEAD\n"));
    EXPECT_TRUE(base->bundle_header().ends_with("\n\n"));
    dir_.run("cd repo && git bundle verify -q '" + bundle + "' 2>&1");
    dir_.run("git clone -q '" + bundle + "' from-bundle 2>&1");
    EXPECT_EQ(split_lines(dir_.run("cd from-bundle && git rev-parse origin/main origin/side"
                                   " v1")),
              (std::vector<std::string>{rev("main"), rev("side"), rev("v1")}));

    // The manifest names it.
    const std::optional<PublishedBase> read = read_published(f);
    ASSERT_TRUE(read);
    EXPECT_EQ(read->hash, base->hash);
    EXPECT_EQ(ref_lines(read->refs), ref_lines(base->refs));
    EXPECT_EQ(read->stamp, base->stamp);
    EXPECT_FALSE(read->stamp.empty());
    EXPECT_EQ(read->time, kNow);
    EXPECT_EQ(read->objects, base->objects);
    EXPECT_EQ(read->pack_size, base->pack_size);
    EXPECT_TRUE(read->retired.empty());
}

TEST_F(PublishTest, UnchangedRepositoryIsNeverRepublished) {
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> first = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(first) << warning;
    fresh_access();
    const std::optional<PublishedBase> later =
        base_for_clone_refs(kNow + 10 * policy_.interval, &warning);
    ASSERT_TRUE(later) << warning;
    EXPECT_EQ(later->hash, first->hash);
    EXPECT_EQ(later->time, kNow); // the same manifest, not a new one
    EXPECT_EQ(read_published(folder())->time, kNow);
}

TEST_F(PublishTest, NotDueWithinIntervalAfterAPush) {
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> old = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(old) << warning;
    const std::string old_pack = folder() + "/" + published_pack_name(*old);
    const std::string old_bundle = folder() + "/" + published_bundle_name(*old);

    commit("main", "f");
    fresh_access();
    // The old base's refs are all within a clone of the new refs: still
    // offered until interval has passed.
    std::optional<PublishedBase> base = base_for_clone_refs(kNow + policy_.interval - 1, &warning);
    ASSERT_TRUE(base) << warning;
    EXPECT_EQ(base->hash, old->hash);
    EXPECT_EQ(read_published(folder())->hash, old->hash);

    const int64_t then = kNow + policy_.interval;
    const std::optional<PublishedBase> next = base_for_clone_refs(then, &warning);
    ASSERT_TRUE(next) << warning;
    EXPECT_EQ(warning, "");
    EXPECT_NE(next->hash, old->hash);
    EXPECT_EQ(next->time, then);
    EXPECT_EQ(next->objects, old->objects + 3); // a commit, its tree, a blob
    std::string checksum;
    EXPECT_EQ(pack_objects(folder() + "/" + published_pack_name(*next), &checksum), git_objects());
    EXPECT_EQ(checksum, next->hash);
    const std::optional<PublishedBase> manifest = read_published(folder());
    ASSERT_TRUE(manifest);
    EXPECT_EQ(manifest->hash, next->hash);
    using Retired = std::vector<std::pair<std::string, int64_t>>;
    EXPECT_EQ(manifest->retired, (Retired{{old->hash, then}}));
    // Within grace: the clones given the old URIs still find the files.
    EXPECT_TRUE(exists(old_pack));
    EXPECT_TRUE(exists(old_bundle));

    // Once grace has passed, the next publish removes them.
    commit("main", "f");
    fresh_access();
    const int64_t last = then + policy_.grace;
    const std::optional<PublishedBase> third = base_for_clone_refs(last, &warning);
    ASSERT_TRUE(third) << warning;
    EXPECT_NE(third->hash, next->hash);
    EXPECT_FALSE(exists(old_pack));
    EXPECT_FALSE(exists(old_bundle));
    EXPECT_TRUE(exists(folder() + "/" + published_pack_name(*next)));
    EXPECT_TRUE(exists(folder() + "/" + published_bundle_name(*next)));
    EXPECT_EQ(read_published(folder())->retired, (Retired{{next->hash, last}}));
}

TEST_F(PublishTest, GraceZeroRemovesTheOldFilesAtThePublish) {
    policy_.grace = 0;
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> old = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(old) << warning;
    commit("main", "f");
    fresh_access();
    const std::optional<PublishedBase> next =
        base_for_clone_refs(kNow + policy_.interval, &warning);
    ASSERT_TRUE(next) << warning;
    EXPECT_NE(next->hash, old->hash);
    EXPECT_EQ(names_in(folder()),
              (std::set<std::string>{"lock", "manifest", published_pack_name(*next),
                                     published_bundle_name(*next)}));
    EXPECT_TRUE(read_published(folder())->retired.empty());
}

TEST_F(PublishTest, RewoundRefRepublishesAtOnce) {
    dir_.run("cd repo && git branch x main~1");
    commit("x", "x");
    commit("x", "x");
    const std::string x1 = rev("x~1"), x2 = rev("x");
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> old = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(old) << warning;

    // Force-pushed back: x2 is reachable from no ref any more.
    dir_.run("cd repo && git update-ref refs/heads/x " + x1);
    fresh_access();
    // A request for a single branch cannot use the base either, but does
    // not make a new one before interval has passed.
    const std::optional<PublishedBase> single =
        current_base(*access_, policy_, kNow + 1, {to_oid(rev("main"))}, &warning);
    EXPECT_FALSE(single);
    EXPECT_EQ(read_published(folder())->hash, old->hash);

    const std::optional<PublishedBase> next = base_for_clone_refs(kNow + 1, &warning);
    ASSERT_TRUE(next) << warning;
    EXPECT_NE(next->hash, old->hash);
    EXPECT_EQ(next->time, kNow + 1);
    EXPECT_EQ(next->objects, old->objects - 3); // x2, its tree, its blob
    const std::vector<std::string> refs = ref_lines(next->refs);
    EXPECT_NE(std::find(refs.begin(), refs.end(), x1 + " refs/heads/x"), refs.end());
    EXPECT_EQ(std::find(refs.begin(), refs.end(), x2 + " refs/heads/x"), refs.end());
    std::string checksum;
    const std::set<std::string> objects =
        pack_objects(folder() + "/" + published_pack_name(*next), &checksum);
    EXPECT_EQ(objects, git_objects());
    EXPECT_FALSE(objects.contains(x2));
    EXPECT_EQ(read_published(folder())->hash, next->hash);
}

TEST_F(PublishTest, BaseWithinWants) {
    RepoAccess &access = fresh_access();
    const pack::CommitGraph *graph =
        pack::usable_commit_graph(access.git(), *access.snapshot().packs());
    PublishedBase all;
    for (const Ref &r : access.snapshot().refs())
        if (!r.unborn)
            all.refs.emplace_back(r.name, r.oid);
    ASSERT_EQ(all.refs.size(), 5u); // HEAD, main, side, light, v1
    const git_oid main = to_oid(rev("main")), side = to_oid(rev("side"));
    PublishedBase older;
    older.refs = {{"HEAD", to_oid(rev("main~2"))},
                  {"refs/heads/main", to_oid(rev("main~2"))},
                  {"refs/heads/side", to_oid(rev("side~1"))}};
    const git_oid v1_commit = to_oid(rev("v1^{commit}"));
    std::vector<git_oid> all_but_tag = every_ref_but("refs/tags/v1");
    all_but_tag.push_back(v1_commit);

    // With the commit-graph and without it.
    for (const pack::CommitGraph *g : {graph, static_cast<const pack::CommitGraph *>(nullptr)}) {
        SCOPED_TRACE(g ? "with the commit-graph" : "without it");
        EXPECT_TRUE(base_within(access.git(), g, all, clone_refs(access.snapshot())));
        // A single-branch clone lacks side.
        EXPECT_FALSE(base_within(access.git(), g, all, every_ref_but("refs/heads/side")));
        EXPECT_FALSE(base_within(access.git(), g, all, {main}));
        // New commits on top of every ref of the base.
        EXPECT_TRUE(base_within(access.git(), g, older, {main, side}));
        EXPECT_TRUE(base_within(access.git(), g, older, {side, main}));
        EXPECT_FALSE(base_within(access.git(), g, older, {main}));
        EXPECT_FALSE(base_within(access.git(), g, older, {}));
        // An annotated tag is no commit a walk finds: it must be wanted.
        EXPECT_FALSE(base_within(access.git(), g, all, all_but_tag));
        std::vector<git_oid> with_tag = all_but_tag;
        with_tag.push_back(to_oid(rev("v1")));
        EXPECT_TRUE(base_within(access.git(), g, all, with_tag));
    }
}

TEST_F(PublishTest, LeftoversAreRemovedAndNeverNamed) {
    fresh_access();
    const std::string f = folder();
    ASSERT_EQ(::mkdir(policy_.dir.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(f.c_str(), 0755), 0);
    write_file(f + "/tmp-pack-123", "PACK half of it");
    write_file(f + "/tmp-bundle-123", "# v2 git bundle\n");
    write_file(f + "/tmp-manifest", "gsh-published 1\n");
    std::string warning;
    const std::optional<PublishedBase> base = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(base) << warning;
    EXPECT_EQ(names_in(f), (std::set<std::string>{"lock", "manifest", published_pack_name(*base),
                                                  published_bundle_name(*base)}));

    // A manifest that does not read whole reads as none.
    const std::string manifest = read_file(f + "/manifest");
    ASSERT_TRUE(manifest.ends_with("\n"));
    ASSERT_TRUE(read_published(f));
    write_file(f + "/manifest", manifest.substr(0, manifest.size() - 1));
    EXPECT_FALSE(read_published(f));
    write_file(f + "/manifest", "gsh-published 2" + manifest.substr(manifest.find('\n')));
    EXPECT_FALSE(read_published(f));
    write_file(f + "/manifest", "");
    EXPECT_FALSE(read_published(f));
    write_file(f + "/manifest", manifest);
    ASSERT_TRUE(read_published(f));
    EXPECT_EQ(read_published(f)->hash, base->hash);
}

TEST_F(PublishTest, AnotherPublisherHoldsTheLock) {
    fresh_access();
    const std::string f = folder();
    ASSERT_EQ(::mkdir(policy_.dir.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(f.c_str(), 0755), 0);
    const int fd = ::open((f + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    std::string warning;
    EXPECT_FALSE(base_for_clone_refs(kNow, &warning));
    EXPECT_EQ(warning, "");
    EXPECT_EQ(names_in(f), (std::set<std::string>{"lock"}));
    EXPECT_FALSE(read_published(f));

    ASSERT_EQ(::close(fd), 0);
    const std::optional<PublishedBase> base = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(base) << warning;
    EXPECT_TRUE(exists(f + "/" + published_pack_name(*base)));
    EXPECT_EQ(read_published(f)->hash, base->hash);
}

TEST_F(PublishTest, IsPublishedName) {
    const std::string hex = "0123456789abcdef0123456789abcdef01234567";
    EXPECT_TRUE(is_published_name("pack-" + hex + ".pack"));
    EXPECT_TRUE(is_published_name("bundle-" + hex + ".bundle"));
    for (const std::string &name : std::vector<std::string>{
             "tmp-pack-123", "tmp-bundle-123", "tmp-manifest", "manifest", "lock", "",
             "pack-" + hex + ".bundle", "bundle-" + hex + ".pack", "pack-" + hex + ".idx",
             "pack-" + hex.substr(1) + ".pack", "pack-" + hex + "0.pack",
             "bundle-" + hex.substr(0, 39) + ".bundle", "pack-" + hex + ".pack/",
             "../pack-" + hex + ".pack", "pack-../" + hex.substr(3) + ".pack",
             "pack-" + hex.substr(0, 39) + "g.pack", "tmp-pack-" + hex + ".pack",
             "pack-" + hex + ".packx", "xpack-" + hex + ".pack"})
        EXPECT_FALSE(is_published_name(name)) << name;
}

TEST_F(PublishTest, TheSameObjectsKeepTheirFiles) {
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> old = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(old) << warning;
    const std::string bundle = folder() + "/" + published_bundle_name(*old);
    struct stat before;
    ASSERT_EQ(::stat(bundle.c_str(), &before), 0);
    // a branch made on a commit the base has: new refs, the same objects
    dir_.run("cd repo && git branch also main");
    fresh_access();
    const std::optional<PublishedBase> next =
        base_for_clone_refs(kNow + policy_.interval, &warning);
    ASSERT_TRUE(next) << warning;
    EXPECT_EQ(next->hash, old->hash);
    // the name still names the same bytes (caches keep them for a year)
    struct stat after;
    ASSERT_EQ(::stat(bundle.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(next->bundle_header(), old->bundle_header());
    const std::optional<PublishedBase> manifest = read_published(folder());
    ASSERT_TRUE(manifest);
    EXPECT_EQ(manifest->time, kNow + policy_.interval);
    EXPECT_TRUE(manifest->retired.empty());
}

TEST_F(PublishTest, OnlyBloblessFiltersArePublishable) {
    auto parsed = [](const std::string &spec) {
        pack::ObjectFilter f;
        std::string error;
        EXPECT_TRUE(pack::parse_filter(spec, &f, &error)) << spec << ": " << error;
        return f;
    };
    EXPECT_TRUE(publishable(pack::ObjectFilter()));
    EXPECT_TRUE(publishable(parsed("blob:none")));
    // blob:limit=N would let clients make a base per N; object:type keeps
    // wanted objects of other types, which a base of the refs does not
    for (const char *spec : {"blob:limit=1k", "object:type=commit", "combine:blob:none+tree:1",
                             "tree:0", "tree:3", "sparse:oid=main:spec"})
        EXPECT_FALSE(publishable(parsed(spec))) << spec;
    EXPECT_EQ(filter_spec(parsed("blob:limit=1k")), "blob:limit=1024");
}

TEST_F(PublishTest, AFilteredBaseHasAFolderOfItsOwnAndNoBundle) {
    fresh_access();
    pack::ObjectFilter blobless;
    std::string error;
    ASSERT_TRUE(pack::parse_filter("blob:none", &blobless, &error)) << error;
    std::string warning;
    const std::optional<PublishedBase> base =
        current_base(*access_, policy_, kNow, clone_refs(access_->snapshot()), &warning, blobless);
    ASSERT_TRUE(base) << warning;
    EXPECT_EQ(base->filter, "blob:none");
    const std::string path = published_pack_path(*base);
    ASSERT_EQ(path.find('/'), std::string("filter-0123456789abcdef").size()) << path;
    const std::string sub = folder() + "/" + path.substr(0, path.find('/'));
    EXPECT_EQ(names_in(sub),
              (std::set<std::string>{"lock", "manifest", published_pack_name(*base)}));
    // exactly what the filter keeps: no blob
    std::string checksum;
    std::set<std::string> want;
    for (const std::string &line : split_lines(
             dir_.run("cd repo && git rev-list --objects --no-object-names --filter=blob:none HEAD "
                      "--branches --tags")))
        want.insert(line.substr(0, 40));
    EXPECT_EQ(pack_objects(folder() + "/" + path, &checksum), want);
    EXPECT_EQ(checksum, base->hash);
    // the whole clone's base is another, in the repository's folder
    const std::optional<PublishedBase> whole = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(whole) << warning;
    EXPECT_NE(whole->hash, base->hash);
    EXPECT_EQ(published_pack_path(*whole), published_pack_name(*whole));
    EXPECT_TRUE(exists(folder() + "/" + published_pack_name(*whole)));
}

TEST_F(PublishTest, BundleListNamesTheBundle) {
    PublishedBase base;
    base.hash = "0123456789abcdef0123456789abcdef01234567";
    const std::string url = "https://cdn.example.com/base/";
    EXPECT_EQ(bundle_list_config(base, url),
              "[bundle]\n\tversion = 1\n\tmode = all\n"
              "[bundle \"0123456789abcdef0123456789abcdef01234567\"]\n"
              "\turi = \"https://cdn.example.com/base/"
              "bundle-0123456789abcdef0123456789abcdef01234567.bundle\"\n");
    EXPECT_EQ(bundle_list_lines(base, url),
              (std::vector<std::string>{
                  "bundle.version=1", "bundle.mode=all",
                  "bundle.0123456789abcdef0123456789abcdef01234567.uri=https://cdn.example.com/"
                  "base/bundle-0123456789abcdef0123456789abcdef01234567.bundle"}));
    // git reads the list as we mean it.
    const std::string list = dir_.str() + "/bundle-list";
    write_file(list, bundle_list_config(base, url));
    EXPECT_EQ(split_lines(sh("git config -f '" + list + "' --get-regexp '^bundle\\.'")),
              (std::vector<std::string>{"bundle.version 1", "bundle.mode all",
                                        "bundle.0123456789abcdef0123456789abcdef01234567.uri "
                                        "https://cdn.example.com/base/"
                                        "bundle-0123456789abcdef0123456789abcdef01234567.bundle"}));
    // a ';' (which a Host header may hold) does not start a comment
    write_file(list, bundle_list_config(base, "http://a;b/\"q\"/"));
    EXPECT_EQ(sh("git config -f '" + list + "' bundle." + base.hash + ".uri"),
              "http://a;b/\"q\"/bundle-" + base.hash + ".bundle\n");
}

TEST_F(PublishTest, AFailedPublishWarnsAndServesNothing) {
    write_file(dir_.str() + "/a-file", "not a folder");
    policy_.dir = dir_.str() + "/a-file/published";
    fresh_access();
    std::string warning;
    std::optional<PublishedBase> base;
    EXPECT_NO_THROW(base = base_for_clone_refs(kNow, &warning));
    EXPECT_FALSE(base);
    EXPECT_NE(warning.find(policy_.dir), std::string::npos) << warning;
    EXPECT_TRUE(std::filesystem::is_regular_file(dir_.str() + "/a-file"));
}

TEST_F(PublishTest, AFailedRepublishKeepsTheOldBase) {
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> old = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(old) << warning;
    // The next publisher's temporary pack cannot be made: a folder has its name.
    const std::string blocker = folder() + "/tmp-pack-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(blocker.c_str(), 0755), 0);
    commit("main", "f");
    fresh_access();
    const std::optional<PublishedBase> base =
        base_for_clone_refs(kNow + policy_.interval, &warning);
    EXPECT_NE(warning.find(blocker), std::string::npos) << warning;
    ASSERT_TRUE(base);
    EXPECT_EQ(base->hash, old->hash);
    EXPECT_EQ(read_published(folder())->hash, old->hash);
    EXPECT_EQ(names_in(folder()),
              (std::set<std::string>{"lock", "manifest", "failed", published_pack_name(*old),
                                     published_bundle_name(*old),
                                     "tmp-pack-" + std::to_string(::getpid())}));
    // Not tried again by the next request (a full disk would be filled
    // again by each): no warning, the old base.
    std::string again;
    const std::optional<PublishedBase> next =
        base_for_clone_refs(kNow + policy_.interval + 1, &again);
    EXPECT_EQ(again, "");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->hash, old->hash);
    // Once the pause has passed, it is, and a publish that works clears it.
    ASSERT_EQ(::rmdir(blocker.c_str()), 0);
    const std::optional<PublishedBase> later =
        base_for_clone_refs(kNow + 2 * policy_.interval + 301, &again);
    ASSERT_TRUE(later) << again;
    EXPECT_NE(later->hash, old->hash);
    EXPECT_FALSE(exists(folder() + "/failed"));
}

TEST_F(PublishTest, EmptyRepositoryPublishesNothing) {
    dir_.run("git init -q --bare empty.git");
    path_ = dir_.str() + "/empty.git";
    fresh_access();
    std::string warning;
    EXPECT_FALSE(base_for_clone_refs(kNow, &warning));
    EXPECT_EQ(warning, "");
    EXPECT_FALSE(read_published(folder()));
    for (const std::string &name : names_in(folder()))
        EXPECT_FALSE(is_published_name(name) || name == "manifest") << name;
}

TEST_F(PublishTest, RefsOutsideBranchesAndTagsStayOutOfTheBase) {
    // A pull request's head on a commit of its own, which no branch or tag
    // reaches, and notes on main, as forges keep them.
    dir_.run("cd repo && git branch pr main");
    commit("pr", "p");
    const std::string pull = rev("pr");
    ++n_;
    dir_.run("cd repo && git update-ref refs/pull/1/head pr && git branch -q -D pr && "
             "GIT_AUTHOR_DATE='" +
             date() + "' GIT_COMMITTER_DATE='" + date() + "' git notes add -m note main");
    const std::string notes = rev("refs/notes/commits");
    RepoAccess &access = fresh_access();
    ASSERT_TRUE(access.snapshot().find_ref("refs/pull/1/head"));
    ASSERT_TRUE(access.snapshot().find_ref("refs/notes/commits"));

    // What a plain clone wants: HEAD, the branches and the tags, as git
    // lists them.
    std::vector<std::string> plain_refs = {rev("HEAD") + " HEAD"};
    for (const std::string &line :
         split_lines(dir_.run("cd repo && git for-each-ref --format='%(objectname) %(refname)' "
                              "refs/heads refs/tags")))
        plain_refs.push_back(line);
    std::set<std::string> plain_wants;
    for (const std::string &line : plain_refs)
        plain_wants.insert(line.substr(0, 40));
    const std::vector<git_oid> clone_wants = clone_refs(access.snapshot());
    std::set<std::string> clone_hex;
    for (const git_oid &oid : clone_wants)
        clone_hex.insert(to_hex(oid));
    EXPECT_EQ(clone_hex, plain_wants);
    EXPECT_EQ(clone_wants.size(), clone_hex.size()); // no repeats

    std::string warning;
    const std::optional<PublishedBase> base = base_for_clone_refs(kNow, &warning);
    EXPECT_TRUE(base) << warning; // a plain clone can take it
    EXPECT_EQ(warning, "");
    const std::optional<PublishedBase> manifest = read_published(folder());
    ASSERT_TRUE(manifest);
    EXPECT_EQ(ref_lines(manifest->refs), plain_refs);
    for (const auto &[name, oid] : manifest->refs)
        EXPECT_FALSE(name.starts_with("refs/pull/") || name.starts_with("refs/notes/")) << name;
    EXPECT_EQ(manifest->bundle_header().find("refs/pull/"), std::string::npos);
    EXPECT_EQ(manifest->bundle_header().find("refs/notes/"), std::string::npos);
    const std::string bundle = folder() + "/" + published_bundle_name(*manifest);
    EXPECT_TRUE(read_file(bundle).starts_with(manifest->bundle_header()));
    dir_.run("cd repo && git bundle verify -q '" + bundle + "' 2>&1");

    // The pack: what HEAD, the branches and the tags reach, and no more.
    std::string checksum;
    const std::set<std::string> objects =
        pack_objects(folder() + "/" + published_pack_name(*manifest), &checksum);
    EXPECT_EQ(checksum, manifest->hash);
    std::set<std::string> reached;
    for (const std::string &line :
         split_lines(dir_.run("cd repo && git rev-list --objects HEAD --branches --tags")))
        reached.insert(line.substr(0, 40));
    EXPECT_EQ(objects, reached);
    EXPECT_FALSE(objects.contains(pull));
    EXPECT_FALSE(objects.contains(notes));
    EXPECT_EQ(manifest->objects, objects.size());

    const pack::CommitGraph *graph =
        pack::usable_commit_graph(access.git(), *access.snapshot().packs());
    for (const pack::CommitGraph *g : {graph, static_cast<const pack::CommitGraph *>(nullptr)}) {
        SCOPED_TRACE(g ? "with the commit-graph" : "without it");
        EXPECT_TRUE(base_within(access.git(), g, *manifest, clone_wants));
        // A mirror clone wants the rest too, and gets it inline.
        std::vector<git_oid> mirror = clone_wants;
        mirror.push_back(to_oid(pull));
        EXPECT_TRUE(base_within(access.git(), g, *manifest, mirror));
        mirror.push_back(to_oid(notes));
        EXPECT_TRUE(base_within(access.git(), g, *manifest, mirror));
    }
}

TEST_F(PublishTest, AnOlderSnapshotDoesNotReplaceANewerBase) {
    // A request that read the repository before a push publishes only
    // after another request, which read it after, has published.
    RepoAccess old(path_);
    commit("main", "f");
    fresh_access();
    ASSERT_EQ(publish_folder(policy_.dir, old.snapshot().path()), folder());
    std::string warning;
    const std::optional<PublishedBase> newer = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(newer) << warning;
    const std::set<std::string> files = names_in(folder());
    ASSERT_FALSE(old.snapshot().unchanged());

    // The newer base is of no use to the old request (main is newer than
    // what it wants), which would be cause to publish at once, or after
    // interval: neither replaces the newer base with an older one.
    for (const int64_t now : {kNow, kNow + 10 * policy_.interval}) {
        SCOPED_TRACE(now);
        const std::optional<PublishedBase> got =
            current_base(old, policy_, now, clone_refs(old.snapshot()), &warning);
        EXPECT_FALSE(got);
        EXPECT_EQ(warning, "");
        const std::optional<PublishedBase> manifest = read_published(folder());
        ASSERT_TRUE(manifest);
        EXPECT_EQ(manifest->hash, newer->hash);
        EXPECT_EQ(manifest->stamp, newer->stamp);
        EXPECT_EQ(manifest->time, kNow);
        EXPECT_TRUE(manifest->retired.empty());
        EXPECT_EQ(names_in(folder()), files);
    }

    // The requests that read the repository as it is still get the newer
    // base.
    fresh_access();
    const std::optional<PublishedBase> again = base_for_clone_refs(kNow + 1, &warning);
    ASSERT_TRUE(again) << warning;
    EXPECT_EQ(again->hash, newer->hash);
}

TEST_F(PublishTest, NamedFilesTheManifestLacksAreRemoved) {
    policy_.grace = 100 * policy_.interval;
    fresh_access();
    std::string warning;
    const std::optional<PublishedBase> first = base_for_clone_refs(kNow, &warning);
    ASSERT_TRUE(first) << warning;
    const std::string f = folder();
    // As a publisher leaves them that died after naming its files and
    // before the manifest named them.
    auto plant = [&](const std::string &hex) {
        ASSERT_TRUE(is_published_name("pack-" + hex + ".pack"));
        write_file(f + "/pack-" + hex + ".pack", "PACK not one we named");
        write_file(f + "/bundle-" + hex + ".bundle", "# v2 git bundle\n");
        ASSERT_TRUE(exists(f + "/pack-" + hex + ".pack"));
        ASSERT_TRUE(exists(f + "/bundle-" + hex + ".bundle"));
    };
    auto named = [](std::initializer_list<const PublishedBase *> bases) {
        std::set<std::string> out = {"lock", "manifest"};
        for (const PublishedBase *b : bases) {
            out.insert(published_pack_name(*b));
            out.insert(published_bundle_name(*b));
        }
        return out;
    };
    plant("0123456789abcdef0123456789abcdef01234567");

    commit("main", "f");
    fresh_access();
    const int64_t second_time = kNow + policy_.interval;
    const std::optional<PublishedBase> second = base_for_clone_refs(second_time, &warning);
    ASSERT_TRUE(second) << warning;
    ASSERT_NE(second->hash, first->hash);
    EXPECT_EQ(names_in(f), named({&*first, &*second}));

    // Again, with a retired base in the manifest: its files stay as well.
    plant("fedcba9876543210fedcba9876543210fedcba98");
    write_file(f + "/bundle-" + std::string(40, 'a') + ".bundle", "# v2 git bundle\n");
    commit("main", "f");
    fresh_access();
    const int64_t third_time = second_time + policy_.interval;
    const std::optional<PublishedBase> third = base_for_clone_refs(third_time, &warning);
    ASSERT_TRUE(third) << warning;
    ASSERT_NE(third->hash, second->hash);
    using Retired = std::vector<std::pair<std::string, int64_t>>;
    EXPECT_EQ(read_published(f)->retired,
              (Retired{{first->hash, second_time}, {second->hash, third_time}}));
    EXPECT_EQ(names_in(f), named({&*first, &*second, &*third}));
    std::string checksum;
    for (const PublishedBase *b : {&*first, &*second, &*third}) {
        pack_objects(f + "/" + published_pack_name(*b), &checksum);
        EXPECT_EQ(checksum, b->hash);
    }
}

TEST_F(PublishTest, OffWhenNoFolder) {
    policy_.dir = "";
    fresh_access();
    std::string warning;
    EXPECT_FALSE(base_for_clone_refs(kNow, &warning));
    EXPECT_EQ(warning, "");
}

} // namespace

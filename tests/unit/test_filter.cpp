// Partial clone: filter specs parsed as git parses them, and the objects a
// filtered fetch sends compared with `git rev-list --objects --filter=...`
// (what git's pack-objects sends for upload-pack: the wanted objects
// themselves are never filtered out), walking and with a bitmap.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "fixture.h"
#include "walk/enumerate.h"
#include "protocol/filter.h"
#include "pack/pack_stream.h"
#include "walk/sparse_patterns.h"
#include "test_pack_repo.h"
#include "util/error.h"

namespace gsh::pack {
namespace {

using test::sh;

// The pack fixture (merges, tags of a tree and of a blob, a gitlink,
// several packs and loose objects) in three shapes: as it is, packed into
// one pack, and packed with a bitmap; each with a sparse-checkout spec blob.
class FilterRepos {
  public:
    static const FilterRepos &get() {
        static FilterRepos repos;
        return repos;
    }
    std::string multi() const { return test::PackRepo::get().path(); }
    std::string plain() const { return dir_.str() + "/plain.git"; }
    std::string bitmap() const { return dir_.str() + "/bitmap.git"; }
    std::string spec() const { return spec_; }

  private:
    FilterRepos() {
        const std::string src = test::PackRepo::get().path();
        dir_.run("git clone -q --mirror '" + src +
                 "' plain.git && git -C plain.git -c repack.writeBitmaps=false repack -adq && " +
                 "git clone -q --mirror '" + src +
                 "' bitmap.git && git -C bitmap.git repack -adbq");
        for (const std::string &repo : {multi(), plain(), bitmap()})
            spec_ = test::split_lines(sh("printf '/src/\\n!*.txt\\ndocs/\\n*1.txt\\n' | git "
                                         "--git-dir='" +
                                         repo + "' hash-object -w --stdin"))[0];
    }
    test::TempDir dir_;
    std::string spec_;
};

ObjectFilter parse(const std::string &spec) {
    ObjectFilter f;
    std::string error;
    EXPECT_TRUE(parse_filter(spec, &f, &error)) << spec << ": " << error;
    return f;
}

std::string parse_error(const std::string &spec) {
    ObjectFilter f;
    std::string error;
    EXPECT_FALSE(parse_filter(spec, &f, &error)) << spec;
    EXPECT_FALSE(f.active()) << spec;
    return error;
}

TEST(FilterSpec, ParsesEveryKind) {
    EXPECT_EQ(parse("blob:none").kind, ObjectFilter::Kind::BlobNone);
    EXPECT_EQ(parse("blob:limit=0").value, 0u);
    EXPECT_EQ(parse("blob:limit=123").value, 123u);
    EXPECT_EQ(parse("blob:limit=2k").value, 2048u);
    EXPECT_EQ(parse("blob:limit=3M").value, 3u << 20);
    EXPECT_EQ(parse("blob:limit=1g").value, 1u << 30);
    EXPECT_EQ(parse("blob:limit=0x10").value, 16u); // strtoumax in base 0, as git
    EXPECT_EQ(parse("tree:0").kind, ObjectFilter::Kind::TreeDepth);
    EXPECT_EQ(parse("tree:7").value, 7u);
    EXPECT_EQ(parse("object:type=tag").type, GIT_OBJECT_TAG);
    EXPECT_EQ(parse("object:type=commit").type, GIT_OBJECT_COMMIT);
    EXPECT_EQ(parse("sparse:oid=main:spec").sparse_oid, "main:spec");
    ObjectFilter c = parse("combine:blob:limit=1k+tree:2+object:type%3Dblob");
    ASSERT_EQ(c.kind, ObjectFilter::Kind::Combine);
    ASSERT_EQ(c.subs.size(), 3u);
    EXPECT_EQ(c.subs[0].value, 1024u);
    EXPECT_EQ(c.subs[1].kind, ObjectFilter::Kind::TreeDepth);
    EXPECT_EQ(c.subs[2].type, GIT_OBJECT_BLOB);
    // A combine inside a combine, encoded as git encodes it.
    ObjectFilter nested = parse("combine:combine%3Ablob%3Anone%2Btree%3A1+tree:3");
    ASSERT_EQ(nested.subs.size(), 2u);
    EXPECT_EQ(nested.subs[0].subs.size(), 2u);
    EXPECT_TRUE(parse("blob:none").per_object());
    EXPECT_FALSE(parse("combine:blob:none+tree:1").per_object());
}

TEST(FilterSpec, RejectsWithGitsMessages) {
    EXPECT_EQ(parse_error("blob:nonsense"), "invalid filter-spec 'blob:nonsense'");
    EXPECT_EQ(parse_error("blob:limit=1x"), "invalid filter-spec 'blob:limit=1x'");
    EXPECT_EQ(parse_error("blob:limit=-1"), "invalid filter-spec 'blob:limit=-1'");
    EXPECT_EQ(parse_error("blob:limit="), "invalid filter-spec 'blob:limit='");
    EXPECT_EQ(parse_error("blob:limit=99999999999999999999"),
              "invalid filter-spec 'blob:limit=99999999999999999999'");
    EXPECT_EQ(parse_error("blob:limit=99999999999g"),
              "invalid filter-spec 'blob:limit=99999999999g'");
    EXPECT_EQ(parse_error("tree:"), "expected 'tree:<depth>'");
    EXPECT_EQ(parse_error("tree:-1"), "expected 'tree:<depth>'");
    EXPECT_EQ(parse_error("object:type=ofs-delta"),
              "'ofs-delta' for 'object:type=<type>' is not a valid object type");
    EXPECT_EQ(parse_error("sparse:path=x"), "sparse:path filters support has been dropped");
    EXPECT_EQ(parse_error("combine:"), "expected something after combine:");
    EXPECT_EQ(parse_error("combine:blob:none+"), "invalid filter-spec 'blob:none+'");
    EXPECT_EQ(parse_error("combine:blob:none++tree:1"), "invalid filter-spec ''");
    EXPECT_EQ(parse_error("combine:tree:1+a~b"), "must escape char in sub-filter-spec: '~'");
    EXPECT_EQ(parse_error("combine:tree:1+tree:x"), "expected 'tree:<depth>'");
    EXPECT_EQ(parse_error(""), "invalid filter-spec ''");
}

TEST(FilterSpec, PolicyAsUploadPackFilterConfig) {
    FilterPolicy policy;
    EXPECT_EQ(filter_refusal(policy, parse("tree:9")), "");
    policy.fallback = false;
    policy.allowed = {{"blob:none", true}, {"tree", true}};
    policy.tree_max_depth = 1;
    EXPECT_EQ(filter_refusal(policy, parse("blob:none")), "");
    EXPECT_EQ(filter_refusal(policy, parse("tree:1")), "");
    EXPECT_EQ(filter_refusal(policy, parse("tree:2")), "tree filter allows max depth 1, but got 2");
    EXPECT_EQ(filter_refusal(policy, parse("blob:limit=1")), "filter 'blob:limit' not supported");
    EXPECT_EQ(filter_refusal(policy, parse("combine:blob:none+tree:1")),
              "filter 'combine' not supported");
    policy.allowed.emplace_back("combine", true);
    EXPECT_EQ(filter_refusal(policy, parse("combine:blob:none+tree:1")), "");
    EXPECT_EQ(filter_refusal(policy, parse("combine:blob:none+object:type=tree")),
              "filter 'object:type' not supported");
    policy.allowed.emplace_back("blob:none", false); // the last setting wins
    EXPECT_EQ(filter_refusal(policy, parse("blob:none")), "filter 'blob:none' not supported");
}

TEST(SparsePatterns, MatchAsGitignore) {
    using M = SparsePatterns::Match;
    SparsePatterns p("# comment\n/src/\n!*.txt\ndocs/\nlib/**/x\n*1.txt   \n\\!bang\nfoo\\ \n");
    EXPECT_EQ(p.match("src", true), M::Matched);
    EXPECT_EQ(p.match("src", false), M::Undecided);  // a directory pattern
    EXPECT_EQ(p.match("a/src", true), M::Undecided); // anchored
    EXPECT_EQ(p.match("src/a.txt", false), M::NotMatched);
    EXPECT_EQ(p.match("docs/doc1.txt", false), M::Matched);
    EXPECT_EQ(p.match("x/docs", true), M::Matched);
    EXPECT_EQ(p.match("lib/x", false), M::Matched);
    EXPECT_EQ(p.match("lib/a/b/x", false), M::Matched);
    EXPECT_EQ(p.match("lib/a/b/y", false), M::Undecided);
    EXPECT_EQ(p.match("!bang", false), M::Matched);
    EXPECT_EQ(p.match("foo ", false), M::Matched);
    EXPECT_EQ(p.match("", true), M::Undecided);
    EXPECT_TRUE(wildmatch("a*/b", "abc/b", true));
    EXPECT_FALSE(wildmatch("a*", "a/b", true));
    EXPECT_TRUE(wildmatch("a*", "a/b", false));
    EXPECT_TRUE(wildmatch("**/b", "x/y/b", true));
    EXPECT_TRUE(wildmatch("**/b", "b", true));
    EXPECT_TRUE(wildmatch("a/**", "a/x/y", true));
    EXPECT_TRUE(wildmatch("[a-c]x[!0-9]", "bxz", true));
    EXPECT_FALSE(wildmatch("[a-c]x[!0-9]", "bx5", true));
    EXPECT_TRUE(wildmatch("[[:digit:]]?", "7q", true));
    EXPECT_FALSE(wildmatch("[[:bogus:]]", "b", true));
    EXPECT_TRUE(wildmatch("\\*", "*", true));
}

// `git rev-list --objects --filter=spec wants --not haves`, with the
// repository's bitmap when it has one (what upload-pack's pack-objects uses).
std::set<std::string> git_filtered(const std::string &repo, const std::string &spec,
                                   const std::vector<std::string> &wants,
                                   const std::vector<std::string> &haves, bool bitmap) {
    std::string cmd = "git --git-dir='" + repo + "' rev-list --objects --filter='" + spec + "'";
    if (bitmap)
        cmd += " --use-bitmap-index";
    for (const auto &w : wants)
        cmd += " " + w;
    if (!haves.empty()) {
        cmd += " --not";
        for (const auto &h : haves)
            cmd += " " + h;
    }
    std::set<std::string> out;
    for (const auto &line : test::split_lines(sh(cmd)))
        out.insert(line.substr(0, GIT_OID_HEXSZ));
    return out;
}

class FilterWalkTest : public ::testing::Test {
  protected:
    const FilterRepos &repos_ = FilterRepos::get();
    const test::PackRepo &src_ = test::PackRepo::get();

    Enumeration enumerate(const std::string &path, const std::string &spec,
                          const std::vector<std::string> &wants,
                          const std::vector<std::string> &haves) {
        handle_ = test::open_repo(path);
        EnumerateInput in;
        in.wants = test::oids_of(wants);
        in.haves = test::oids_of(haves);
        in.filter = parse(spec);
        return enumerate_objects(handle_.get(), in, nullptr);
    }

    void expect_like_git(const std::string &spec, const std::vector<std::string> &want_names,
                         const std::vector<std::string> &have_names) {
        const std::vector<std::string> wants = src_.revs(want_names), haves = src_.revs(have_names);
        for (const auto &[path, bitmap] :
             {std::pair{repos_.multi(), false}, std::pair{repos_.plain(), false},
              std::pair{repos_.bitmap(), true}}) {
            SCOPED_TRACE(path);
            const std::vector<git_oid> got = enumerate(path, spec, wants, haves).list();
            const std::set<std::string> got_set = test::hex_set(got);
            EXPECT_EQ(got_set.size(), got.size()) << "an object listed twice";
            EXPECT_EQ(got_set, git_filtered(path, spec, wants, haves, bitmap));
        }
    }

    RepoPtr handle_;
};

const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> kCases = {
    {{"main"}, {}},
    {{"main", "side", "v1", "v2", "tree-tag", "blob-tag", "v1-outer", "light"}, {}},
    {{"main"}, {"main~4"}},
    {{"main", "side"}, {"main~6", "side~1", "v1"}},
    {{"tree-tag", "blob-tag"}, {}},
    {{"main:src", "main~1:README", "main~3:src/big.txt"}, {}}, // a lazy fetch
    {{"main^{tree}", "main:src/big.txt"}, {}},                 // a wanted blob inside a wanted tree
    {{"main~3:src/lib/numbers.txt", "main"}, {"main~1"}},
};

class FilterTest : public FilterWalkTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(FilterTest, SameObjectsAsGit) {
    std::string spec = GetParam();
    if (spec == "sparse")
        spec = "sparse:oid=" + repos_.spec();
    for (const auto &[wants, haves] : kCases) {
        std::string name = spec + ":";
        for (const auto &w : wants)
            name += " " + w;
        name += " --not";
        for (const auto &h : haves)
            name += " " + h;
        SCOPED_TRACE(name);
        expect_like_git(spec, wants, haves);
    }
}

INSTANTIATE_TEST_SUITE_P(Filters, FilterTest,
                         ::testing::Values("blob:none", "blob:limit=0", "blob:limit=1k",
                                           "blob:limit=4k", "tree:0", "tree:1", "tree:2", "tree:3",
                                           "object:type=commit", "object:type=tree",
                                           "object:type=blob", "object:type=tag", "sparse",
                                           "combine:blob:limit=4k+tree:2",
                                           "combine:tree:3+object:type=blob",
                                           "combine:blob:none+object:type=tree"),
                         [](const ::testing::TestParamInfo<std::string> &info) {
                             std::string name;
                             for (char c : info.param)
                                 name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                             return name;
                         });

// Deltas whose base the filter leaves out are written whole: the pack
// stands alone.
TEST_F(FilterWalkTest, PackOfAFilteredFetchResolves) {
    test::TempDir work;
    for (const char *spec : {"blob:limit=4k", "tree:1", "object:type=blob"}) {
        SCOPED_TRACE(spec);
        for (const std::string &path : {repos_.multi(), repos_.bitmap()}) {
            Enumeration e = enumerate(path, spec, src_.revs({"main", "side"}), {});
            const std::set<std::string> expected = test::hex_set(e.list());
            PackStream ps(handle_.get(), std::move(e), PackOptions{true, false});
            const std::string pack = work.str() + "/f.pack";
            {
                std::ofstream out(pack, std::ios::binary);
                std::vector<uint8_t> buf(65536);
                while (size_t n = ps.read(buf.data(), buf.size()))
                    out.write(reinterpret_cast<const char *>(buf.data()), std::streamsize(n));
            }
            work.run("rm -rf v.git && git init -q --bare v.git && GIT_DIR=v.git git index-pack "
                     "-o f.idx f.pack >/dev/null");
            std::set<std::string> got;
            for (const auto &line : test::split_lines(work.run("git show-index < f.idx")))
                got.insert(line.substr(line.find(' ') + 1, GIT_OID_HEXSZ));
            EXPECT_EQ(got, expected);
        }
    }
}

TEST_F(FilterWalkTest, SparseBlobThatIsNoBlobFails) {
    EXPECT_THROW(enumerate(repos_.plain(), "sparse:oid=main", src_.revs({"main"}), {}), Error);
    EXPECT_THROW(enumerate(repos_.plain(), "sparse:oid=nothing:here", src_.revs({"main"}), {}),
                 Error);
}

} // namespace
} // namespace gsh::pack

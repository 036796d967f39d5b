// A fixture repository for the pack tests, made once per test run by the
// real git: history with delta chains, several packs plus loose objects, a
// pack with REF_DELTA entries duplicating objects of the others, annotated
// tags (of a commit, of a tag, of a tree, of a blob), merges (one of seven
// parents) and a gitlink.
#pragma once

#include <git2.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "pack/pack_writer.h"
#include "util/git_ptr.h"

namespace gsh::test {

inline std::vector<std::string> split_lines(const std::string &s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            out.push_back(line);
    return out;
}

// An object line of `git verify-pack -v`: "<oid> <type> <size> <size in
// pack> <offset> [<depth> <base>]"; base is "" for a whole object.
struct VerifiedObject {
    std::string oid, type, base;
};

inline std::vector<VerifiedObject> verify_pack_objects(const std::string &verify_pack_output) {
    std::vector<VerifiedObject> out;
    for (const auto &line : split_lines(verify_pack_output)) {
        std::istringstream in(line);
        std::vector<std::string> f;
        std::string w;
        while (in >> w)
            f.push_back(w);
        if (f.size() >= 5 && f[0].size() == GIT_OID_HEXSZ)
            out.push_back({f[0], f[1], f.size() >= 7 ? f[6] : ""});
    }
    return out;
}

inline git_oid to_oid(const std::string &hex) {
    git_oid oid;
    EXPECT_EQ(git_oid_fromstrn(&oid, hex.data(), GIT_OID_HEXSZ), 0) << hex;
    return oid;
}

inline std::string to_hex(const git_oid &oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    return buf;
}

inline std::set<std::string> hex_set(const std::vector<git_oid> &oids) {
    std::set<std::string> s;
    for (const git_oid &o : oids)
        s.insert(to_hex(o));
    return s;
}

// The script that makes the repository in the current folder (./repo).
inline const char *pack_repo_script() {
    return R"SH(
set -e
git init -q -b main repo
cd repo
git config gc.auto 0
git config core.autocrlf false
git config advice.detachedHead false
git config advice.nestedTag false
n=0
stamp() { n=$((n+1)); export GIT_AUTHOR_DATE="@$((1700000000 + n * 60)) +0000"; export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"; }
commit() { stamp; git add -A; git commit -q -m "commit $n: $1"; }
change() {
  mkdir -p src/lib docs
  awk -v i="$1" 'BEGIN { for (l = 1; l <= 300; l++) print "line " l " of the big file" ((l % 29 == i % 29) ? " changed in " i : "") }' > src/big.txt
  seq 1 $((100 + $1 * 7)) > src/lib/numbers.txt
  echo "readme version $1" > README
  awk -v i="$1" 'BEGIN { for (l = 1; l <= 60 + i; l++) print "doc line " l }' > docs/doc$(($1 % 3)).txt
}
for i in $(seq 1 25); do change $i; commit "step $i"; done
stamp; git tag -a -m "version one" v1
stamp; git tag -a -m "a tag of a tree" tree-tag 'HEAD^{tree}'
stamp; git tag -a -m "a tag of a blob" blob-tag HEAD:README
stamp; git tag -a -m "a tag of a tag" v1-outer v1
git tag light HEAD~3
git repack -adf --depth=50 -q
git checkout -q -b side HEAD~10
for i in $(seq 1 5); do echo "side $i" >> src/side.txt; commit "side $i"; done
git checkout -q main
for i in $(seq 26 30); do change $i; commit "step $i"; done
stamp; git merge -q --no-ff -m "merge side" side
for b in 1 2 3 4 5 6; do git checkout -q -b oct$b main~1; echo "octopus $b" > oct$b.txt; commit "oct $b"; done
git checkout -q main
stamp; git merge -q -m "an octopus of six" oct1 oct2 oct3 oct4 oct5 oct6
git update-index --add --cacheinfo 160000,1234567890abcdef1234567890abcdef12345678,sub
stamp; git commit -q -m "a gitlink"
for i in $(seq 31 33); do change $i; commit "step $i"; done
git repack -d -q
git rev-list --objects main~6..main side~3..side | git pack-objects -q .git/objects/pack/pack >/dev/null
for i in $(seq 34 37); do change $i; commit "step $i"; done
stamp; git tag -a -m "version two" v2
)SH";
}

// Commands (for TempDir::run) that add history above what the bare
// repository repo (a folder of the temporary directory) holds, as pushes
// since its last repack leave it: new commits on main, one restoring an old
// file, pushed, then between run in the clone w; then loose objects: more on
// main, a branch from deep in the history with an annotated tag, a tag of an
// old commit.
inline std::string history_above(const std::string &repo, const std::string &between) {
    return "git clone -q " + repo +
           " w && cd w && git config advice.detachedHead false && "
           "echo one > new1.txt && git add . && git commit -qm n1 && "
           "git show main~20:src/big.txt > src/big.txt && git commit -qam n2 && "
           "git push -q origin main && " +
           between +
           " && echo two > new2.txt && git add . && git commit -qm n3 && "
           "git checkout -q -b feature main~25 && echo f > f.txt && git add . && "
           "git commit -qm f1 && git tag -a -m 'new tag' t-new && "
           "git tag -a -m 'old commit, new tag' t-old main~30 && "
           "git push -q origin main feature t-new t-old";
}

// The repository made once per run; path() is its .git folder.
class PackRepo {
  public:
    static const PackRepo &get() {
        static PackRepo repo;
        return repo;
    }
    std::string path() const { return dir_.str() + "/repo/.git"; }
    std::string work() const { return dir_.str() + "/repo"; }
    std::string git(const std::string &args) const { return sh("git -C '" + work() + "' " + args); }
    std::string rev(const std::string &name) const {
        std::string s = git("rev-parse '" + name + "'");
        return s.substr(0, GIT_OID_HEXSZ);
    }
    // Several names with one git process.
    std::vector<std::string> revs(const std::vector<std::string> &names) const {
        if (names.empty())
            return {};
        std::string args;
        for (const auto &n : names)
            args += " '" + n + "'";
        return split_lines(git("rev-parse" + args));
    }

  private:
    PackRepo() {
        git_libgit2_init();
        dir_.run(std::string("bash -c '") + escape(pack_repo_script()) + "'");
    }
    static std::string escape(const std::string &s) {
        std::string out;
        for (char c : s) {
            if (c == '\'')
                out += "'\\''";
            else
                out += c;
        }
        return out;
    }
    TempDir dir_;
};

inline RepoPtr open_repo(const std::string &path) {
    git_libgit2_init();
    git_repository *r = nullptr;
    EXPECT_EQ(git_repository_open_bare(&r, path.c_str()), 0) << path;
    return RepoPtr(r);
}

// `git rev-list --objects <wants> --not <haves>` in repo (a .git folder).
inline std::set<std::string> rev_list_objects(const std::string &repo,
                                              const std::vector<std::string> &wants,
                                              const std::vector<std::string> &haves) {
    std::string cmd = "git --git-dir='" + repo + "' rev-list --objects";
    for (const auto &w : wants)
        cmd += " " + w;
    if (!haves.empty()) {
        cmd += " --not";
        for (const auto &h : haves)
            cmd += " " + h;
    }
    std::set<std::string> out;
    for (const auto &line : split_lines(sh(cmd)))
        out.insert(line.substr(0, GIT_OID_HEXSZ));
    return out;
}

inline std::vector<git_oid> oids_of(const std::vector<std::string> &hexes) {
    std::vector<git_oid> out;
    for (const auto &h : hexes)
        out.push_back(to_oid(h));
    return out;
}

// A history where files shrink, so that git stores the newer versions as
// deltas against the older ones (the client's, in a fetch): a file that
// changes in every commit, and one that is removed at commit 12 and comes
// back at commit 26 (its old versions are only deep in the haves' history).
// Packed into one pack; ref_delta: REF_DELTA entries instead of OFS_DELTA.
inline std::string shrinking_repo(const std::string &path, bool ref_delta) {
    sh("git init -q -b main '" + path + "' && cd '" + path + "' && " +
       "for i in $(seq 1 30); do "
       "  seq -f 'line %g of the shrinking file' 1 $((900 - i * 10)) | sed \"5s/$/ $i/\" > a; "
       "  if [ $i -le 11 ] || [ $i -ge 26 ]; then "
       "    seq -f 'g line %g' 1 $((700 - i * 3)) | sed \"7s/$/ $i/\" > g; else rm -f g; fi; "
       "  git add -A && GIT_COMMITTER_DATE=\"@$((1700000000 + i * 60)) +0000\" "
       "  GIT_AUTHOR_DATE=\"@$((1700000000 + i * 60)) +0000\" git commit -qm c$i; done && "
       "git -c repack.useDeltaBaseOffset=" +
       (ref_delta ? "false" : "true") + " repack -adfq --window=50 --depth=50");
    return path + "/.git";
}

// Three files whose versions on main are stored as deltas against versions
// that only a side branch has, down to one that main has again: main's
// first commit has the largest version M (stored whole), the side branch
// four smaller ones S1..S4 (S1 a delta against M, each next one against the
// one before), main's second commit the smallest D, a delta against S4. A
// fetch of main alone sends M and D but not S1..S4: D can be composed
// against M. The lines are pseudo-random so that zlib cannot hide what a
// whole object costs. g.txt is the other kind: on main, deltas against a
// larger version that only the side branch has, stored whole.
inline std::string side_bases_repo(const std::string &path) {
    sh("git init -q -b main '" + path + "' && cd '" + path + "' && " + R"SH(
git config gc.auto 0
n=0
commit() { n=$((n+1)); export GIT_AUTHOR_DATE="@$((1700000000 + n * 60)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + n * 60)) +0000"; git add -A; git commit -qm "$1"; }
# lines SEED COUNT EDITS: pseudo-random lines whose blocks 1..EDITS (20
# lines at each hundred) are rewritten
lines() { awk -v s="$1" -v n="$2" -v e="$3" 'function r() { return sprintf("%08x%08x%08x", rand() * 4294967295, rand() * 4294967295, rand() * 4294967295) }
  BEGIN { srand(s); for (l = 1; l <= n; l++) a[l] = l " " r();
          for (b = 1; b <= e; b++) { srand(s * 1000 + b); for (l = b * 100 + 1; l <= b * 100 + 20; l++) a[l] = l " " r() " edit " b }
          for (l = 1; l <= n; l++) print a[l] }'; }
# version K: K blocks rewritten, 30 K lines fewer
version() { for f in 1 2 3; do lines $f $((1500 - 30 * $1)) $1 > f$f.txt; done; }
version 0
lines 9 50 0 > g.txt
commit "main one"
git checkout -q -b side
lines 9 1200 0 > g.txt
for k in 1 2 3 4; do version $k; commit "side $k"; done
git checkout -q main
version 5
lines 9 1150 3 > g.txt
commit "main two"
git repack -adfq --window=50 --depth=50
)SH");
    return path + "/.git";
}

// Three files of pseudo-random lines edited a little in each of 16 commits
// on main, in a subfolder (sub/) and at the top: after the first 12 the
// repository is repacked with -f, so that the newest version of each file
// is stored whole and the older ones as deltas against it (as git packs);
// the last 4 commits are loose objects. With bitmap, the pack has a
// reachability bitmap.
inline std::string whole_newest_repo(const std::string &path, bool bitmap) {
    sh("git init -q -b main '" + path + "' && cd '" + path + "' && " + R"SH(
git config gc.auto 0
n=0
commit() { n=$((n+1)); export GIT_AUTHOR_DATE="@$((1700000000 + n * 60)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + n * 60)) +0000"; git add -A; git commit -qm "$1"; }
# edit SEED FILE K: line K * 37 of FILE (of 1500 pseudo-random lines) rewritten
edit() { awk -v s="$1" -v k="$3" 'function r() { return sprintf("%08x%08x%08x", rand() * 4294967295, rand() * 4294967295, rand() * 4294967295) }
  BEGIN { srand(s); for (l = 1; l <= 1500; l++) a[l] = l " " r(); for (j = 1; j <= k; j++) a[j * 37 % 1500 + 1] = "edit " j " " r();
          for (l = 1; l <= 1500; l++) print a[l] }' > "$2"; }
mkdir sub
for k in $(seq 0 15); do
  edit 1 a.txt $k; edit 2 sub/b.txt $k; edit 3 sub/c.txt $((k / 2))
  echo "small $k" > small.txt
  commit "step $k"
  if [ $k = 11 ]; then git -c repack.writeBitmaps=false repack -adfq )SH" +
       std::string(bitmap ? "-b" : "") + R"SH(; fi
done
)SH");
    return path + "/.git";
}

// The whole pack a plan makes, and the writer's stats.
inline std::string write_pack(pack::PackPlan plan, pack::PackStats *stats = nullptr) {
    pack::PackWriter w(std::move(plan));
    std::string out;
    std::vector<uint8_t> buf(65536);
    while (size_t n = w.read(buf.data(), buf.size()))
        out.append(reinterpret_cast<const char *>(buf.data()), n);
    if (stats)
        *stats = w.stats();
    return out;
}

} // namespace gsh::test

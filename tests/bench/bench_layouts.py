"""Repository layouts as servers hold them (issue 18), made from a source
repository that bench_repos.py has already prepared (read only):

  <p>-partial  a bitmap with partial coverage and many tags: the source as it
               was `cut` first-parent commits ago (branches at that time,
               tags on commits of that time), `repack -adb`; then the newer
               history as `late_packs` fetch-like packs (no bitmap); then an
               annotated and a lightweight tag on every `tag_every`-th commit
               of the HEAD branch, in one more pack (fast-import, no bitmap)
  <p>-pushes   the history as `pushes` push-sized packs (each a thin pack of
               the next slice of the HEAD branch's first-parent history, with
               the branches and tags of that time, completed by index-pack
               --fix-thin), then the last `loose` commits' objects loose
               (unpack-objects); no bitmap, no MIDX, no commit-graph
  <p>-midx     a copy (hard links) of <p>-pushes after
               `git repack --geometric=2 -d --write-midx --write-bitmap-index`
               (the newest `midx_recent` push packs kept out of the roll-up,
               so that the MIDX and its bitmap span several packs) and a
               split commit-graph of two layers (`git commit-graph write
               --split`: the history up to `cut` commits ago, then
               `--reachable`)
  refs<N>      a copy (hard links) of a bitmapped repository plus N refs
               refs/pull/<n>/head (packed-refs) on commits spread over the
               whole history, added after the bitmap was written

Every state is computed from the source's refs and commit dates, and every
object the builders write (the extra tags) has fixed names and dates: the
same object ids and refs on every run. Pack files themselves may differ in
their delta choices (pack-objects' threads), which no row depends on.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

LAYOUTS_VERSION = 1  # the recipes in this file

# the parameters of each size: "corpus" for the nginx bundle, "small" for
# the quick run's generated repository
PARAMS = {
    "corpus": dict(cut=300, late_packs=3, tag_every=20, pushes=30, loose=8,
                   midx_recent=4, refs=50000),
    "small": dict(cut=200, late_packs=2, tag_every=20, pushes=6, loose=4,
                  midx_recent=2, refs=2000),
}


class Source:
    """The source repository's refs and first-parent histories."""

    def __init__(self, git, path):
        self.git = git
        self.path = Path(path)
        self.head = git.run("symbolic-ref", "HEAD", cwd=path).strip()
        fmt = ("%(refname) %(objectname) %(*objectname) "
               "%(committerdate:unix) %(*committerdate:unix)")
        self.refs = {}    # refname -> object id
        self.when = {}    # refname (not a branch) -> its commit's time
        self.branches = {}  # refname -> [(commit, time)] newest first
        for line in git.run("for-each-ref", "--format=" + fmt,
                            cwd=path).splitlines():
            parts = line.split()
            name, oid = parts[0], parts[1]
            self.refs[name] = oid
            times = [int(p) for p in parts[2:] if p.isdigit()]
            if name.startswith("refs/heads/"):
                self.branches[name] = self.first_parent(oid)
            else:
                # a tag of a tree or blob has no date: there from the start
                self.when[name] = times[-1] if times else 0

    def first_parent(self, tip):
        out = self.git.run("rev-list", "--first-parent", "--format=%ct",
                           tip, cwd=self.path).split("\n")
        hist = []
        for i in range(0, len(out) - 1, 2):
            if out[i].startswith("commit "):
                hist.append((out[i].split()[1], int(out[i + 1])))
        return hist

    def head_history(self):
        """The HEAD branch's first-parent commits, oldest first."""
        return list(reversed(self.branches[self.head]))

    def state_at(self, head_commit, t):
        """{refname: oid}: the HEAD branch at head_commit, every other
        branch at its newest first-parent commit of time <= t, every other
        ref whose commit is of time <= t."""
        state = {self.head: head_commit}
        for name, hist in self.branches.items():
            if name == self.head:
                continue
            tip = next((c for c, ct in hist if ct <= t), None)
            if tip:
                state[name] = tip
        for name, ct in self.when.items():
            if ct <= t:
                state[name] = self.refs[name]
        return state


def init_target(git, src, tmp):
    git.run("init", "-q", "--bare", tmp)
    for k, v in (("gc.auto", "0"), ("maintenance.auto", "false"),
                 ("core.logAllRefUpdates", "false")):
        git.run("config", k, v, cwd=tmp)
    git.run("symbolic-ref", "HEAD", src.head, cwd=tmp)


def set_refs(git, repo, new, old):
    cmds = "".join("delete %s\n" % r for r in sorted(set(old) - set(new)))
    cmds += "".join("update %s %s\n" % (r, new[r]) for r in sorted(new)
                    if old.get(r) != new[r])
    if cmds:
        git.run("update-ref", "--stdin", cwd=repo, input=cmds.encode())


def transfer(git, src, dest, new, old, loose=False):
    """What a push from `old` to `new` brings: a thin pack of what the refs
    of `new` reach and those of `old` do not, made in the source, stored
    in dest as index-pack --fix-thin does (or as loose objects), then the
    ref updates. Returns the number of objects."""
    revs = sorted(set(new.values())) + ["^" + o for o in
                                        sorted(set(old.values())
                                               - set(new.values()))]
    r = subprocess.run(
        ["git", "pack-objects", "--revs", "--thin", "--stdout", "-q",
         "--delta-base-offset"], cwd=src.path, env=git.env,
        input=("\n".join(revs) + "\n").encode(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, check=True)
    pack = r.stdout
    count = int.from_bytes(pack[8:12], "big")
    if count:
        if loose:
            git.run("unpack-objects", "-q", cwd=dest, input=pack)
        else:
            git.run("index-pack", "--stdin", "--fix-thin", cwd=dest,
                    input=pack)
    set_refs(git, dest, new, old)
    return count


def make_partial(git, source_path, p):
    def make(tmp):
        src = Source(git, source_path)
        hist = src.head_history()
        cut_i = len(hist) - 1 - p["cut"]
        cut, t = hist[cut_i]
        init_target(git, src, tmp)
        old = src.state_at(cut, t)
        transfer(git, src, tmp, old, {})
        git.run("repack", "-q", "-a", "-d", "-b", cwd=tmp)
        # the newer history, as later fetches or pushes leave it
        for i in range(1, p["late_packs"] + 1):
            if i == p["late_packs"]:
                new = dict(src.refs)
            else:
                c, ct = hist[cut_i + round(i * p["cut"] / p["late_packs"])]
                new = src.state_at(c, ct)
            transfer(git, src, tmp, new, old)
            old = new
        add_tags(git, tmp, hist, p["tag_every"])
    return make


def add_tags(git, repo, hist, every):
    """An annotated and a lightweight tag on every `every`-th commit of the
    HEAD branch, made after the bitmap: fast-import writes the tag objects
    into a pack of their own, as a push of tags would."""
    out = []
    for i in range(0, len(hist), every):
        c, ct = hist[i]
        msg = b"bench tag at first-parent commit %d\n" % i
        out.append(("tag bench/a%05d\nfrom %s\ntagger Bench Tagger "
                    "<tagger@example.com> %d +0000\n" % (i, c, ct)).encode())
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        out.append(("reset refs/tags/bench/l%05d\nfrom %s\n\n"
                    % (i, c)).encode())
    # (a pack however few the tags: fast-import's default unpacks fewer
    # than 100 objects)
    git.run("-c", "fastimport.unpackLimit=1", "fast-import", "--quiet",
            cwd=repo, input=b"".join(out))


def make_pushes(git, source_path, p):
    def make(tmp):
        src = Source(git, source_path)
        hist = src.head_history()
        init_target(git, src, tmp)
        packed = len(hist) - p["loose"]
        old = {}
        for i in range(1, p["pushes"] + 1):
            c, ct = hist[round(i * packed / p["pushes"]) - 1]
            new = src.state_at(c, ct)
            transfer(git, src, tmp, new, old)
            old = new
        # the newest commits as loose objects, as pushes under
        # receive.unpackLimit (or fetches under fetch.unpackLimit) leave them
        transfer(git, src, tmp, dict(src.refs), old, loose=True)
    return make


def make_midx(git, pushes_path, p):
    def make(tmp):
        # hard links: git never changes an object file in place, and
        # replaces config and packed-refs by rename
        shutil.copytree(pushes_path, tmp, copy_function=os.link)
        # the push packs are of similar sizes, so one geometric repack rolls
        # them all into one pack. What maintenance leaves between two runs
        # is a MIDX over a rolled-up pack and the packs of the latest
        # pushes: those are kept out of the roll-up (and in the MIDX)
        packs = sorted((Path(tmp) / "objects" / "pack").glob("*.pack"),
                       key=lambda f: (f.stat().st_mtime_ns, f.name))
        keeps = [f.with_suffix(".keep") for f in packs[-p["midx_recent"]:]]
        for k in keeps:
            k.write_text("")
        git.run("repack", "-q", "--geometric=2", "-d", "--write-midx",
                "--write-bitmap-index", cwd=tmp)
        for k in keeps:
            k.unlink()
        # a split chain of two layers, as two maintenance runs leave it:
        # the history up to `cut` commits ago, then the rest
        old = git.run("rev-parse", "HEAD~%d" % p["cut"], cwd=tmp)
        git.run("commit-graph", "write", "--split", "--stdin-commits",
                "--no-progress", cwd=tmp, input=old.encode())
        git.run("commit-graph", "write", "--reachable", "--split",
                "--no-progress", cwd=tmp)
    return make


def make_refs(git, source_path, n):
    def make(tmp):
        shutil.copytree(source_path, tmp, copy_function=os.link)
        commits = git.run("rev-list", "--all", cwd=tmp).split()
        # spread over the whole history (7919 is prime: a stride that
        # visits every commit before repeating one)
        refs = {"refs/pull/%d/head" % i: (commits[(i * 7919) % len(commits)],
                                          None) for i in range(1, n + 1)}
        fmt = "%(refname) %(objectname) %(*objectname)"
        for line in git.run("for-each-ref", "--format=" + fmt,
                            cwd=tmp).splitlines():
            name, oid, *peeled = line.split()
            refs[name] = (oid, peeled[0] if peeled else None)
        # packed-refs written whole: `update-ref --stdin` of 50k refs
        # takes minutes (a loose file and a lock each)
        lines = ["# pack-refs with: peeled fully-peeled sorted \n"]
        for name in sorted(refs, key=lambda r: r.encode()):
            oid, peeled = refs[name]
            lines.append("%s %s\n" % (oid, name))
            if peeled:
                lines.append("^%s\n" % peeled)
        packed = Path(tmp) / "packed-refs"
        packed.unlink(missing_ok=True)  # a hard link to the source's
        packed.write_text("".join(lines))
        # every ref is in packed-refs now
        for f in sorted((Path(tmp) / "refs").rglob("*"), reverse=True):
            if f.is_file():
                f.unlink()
        git.run("fsck", "--connectivity-only", "--no-progress", cwd=tmp)
    return make


def refs_name(n):
    return "refs%dk" % (n // 1000) if n % 1000 == 0 else "refs%d" % n


def wanted(git, root, prefix, size, sources, git_version):
    """[(name, key, make, rows, needs)] of the layouts, in the order to
    make them. sources: {"plain": (path, key) of a repository without a
    bitmap, "bitmap": (path, key) of the same with one}. rows: which
    scenarios suit it ("layout" or "refs"); needs: the name of a layout
    it is made from (to be made first even when not benchmarked)."""
    p = PARAMS[size]
    base = "layouts-v%d %s" % (LAYOUTS_VERSION, git_version)
    (plain, kp), (bitmap, kb) = sources["plain"], sources["bitmap"]

    def key(what, *names):
        # only the parameters the recipe reads: a change remakes only what
        # depends on it
        return "%s %s" % (what, " ".join("%s=%s" % (n, p[n]) for n in names))
    pushes = prefix + "-pushes"
    pushes_key = "%s of [%s] %s" % (key("pushes", "pushes", "loose"), kp,
                                    base)
    return [
        (prefix + "-partial", "%s of [%s] %s" % (
            key("partial", "cut", "late_packs", "tag_every"), kp, base),
         make_partial(git, plain, p), "layout", None),
        (pushes, pushes_key, make_pushes(git, plain, p), "layout", None),
        (prefix + "-midx", "%s of [%s]" % (
            key("midx", "midx_recent", "cut"), pushes_key),
         make_midx(git, Path(root) / (pushes + ".git"), p), "layout",
         pushes),
        (refs_name(p["refs"]), "%s of [%s] %s" % (key("refs", "refs"), kb,
                                                  base),
         make_refs(git, bitmap, p["refs"]), "refs", None),
    ]

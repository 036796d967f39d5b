"""The benchmark's repositories, made once and cached under
build/bench/repos (the root both servers serve) and build/bench/clients.

  nginx-bitmap.git    mirror of ../shared/corpus/nginx.bundle, `repack -adb`
  nginx-nobitmap.git  the same, `repack -ad` (no .bitmap)
  big.git             make_big_repo.py (several packs, a bitmap on the
                      oldest, loose objects), >= 300k objects
  small.git           make_big_repo.py --profile small (BENCH_QUICK=1)
  nginx-partial.git, nginx-pushes.git, nginx-midx.git, refs50k.git
                      the layouts of issue 18 (bench_layouts.py), made
                      from nginx-nobitmap.git / nginx-bitmap.git; from
                      small.git when quick (small-*.git, refs2k.git)
  extra-<name>.git    BENCH_REPO=/path[:/path...]: `git clone --mirror
                      --local` (hard links: the packs, .bitmap, loose objects
                      as they are; the repository's own config is not copied)

Every repository carries git-daemon-export-ok. A repository is made in a
temporary directory and renamed into place, with a stamp file holding the
key it was made from (generator version, git version, corpus size/mtime):
a different key remakes it, an interrupted run never leaves half a
repository that the next run would trust.

For the incremental fetch each repository also gets a client seed
(build/bench/clients/<name>-behind<N>.git): a mirror of the repository in
which the HEAD branch is N commits (first parent) behind and every ref that
contains one of those N commits (tags, merged topic branches) is deleted,
cloned with --no-local so that it holds only what those refs reach.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parents[1]

sys.path.insert(0, str(TOP / "tests" / "lib"))
from git_env import clean_git_env  # noqa: E402

import bench_layouts  # noqa: E402

GENERATOR = HERE / "make_big_repo.py"
REPOS_VERSION = 1   # the recipes in this file
BEHIND = 150


class GitEnv:
    """git with an environment that does not depend on the caller."""

    def __init__(self, home):
        self.home = Path(home)
        self.env = clean_git_env(self.home)
        self.env.update({
            "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "b@example.com",
            "GIT_COMMITTER_NAME": "Bench",
            "GIT_COMMITTER_EMAIL": "b@example.com",
        })

    def run(self, *args, cwd=None, check=True, input=None, timeout=3600):
        r = subprocess.run(["git"] + [str(a) for a in args], cwd=cwd,
                           env=self.env, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("git %s failed (%d): %s" % (
                " ".join(str(a) for a in args), r.returncode,
                r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")


def git_version(git):
    return git.run("--version").strip()


def corpus_bundle():
    return Path(os.environ.get(
        "GSH_CORPUS", TOP.parent / "shared" / "corpus" / "nginx.bundle"))


def file_key(path):
    st = Path(path).stat()
    return "%s:%d:%d" % (Path(path).name, st.st_size, int(st.st_mtime))


def log(msg):
    print(msg, flush=True)


def cached(dest, key, make):
    """Makes `dest` with make(tmp) unless its stamp says `key`."""
    dest = Path(dest)
    stamp = dest.with_name(dest.name + ".stamp")
    if dest.is_dir() and stamp.is_file() and stamp.read_text() == key:
        return dest, False
    tmp = dest.with_name(dest.name + ".tmp")
    for p in (tmp, dest):
        if p.exists():
            shutil.rmtree(p)
    if stamp.exists():
        stamp.unlink()
    make(tmp)
    (tmp / "git-daemon-export-ok").write_text("")
    tmp.rename(dest)
    stamp.write_text(key)
    return dest, True


def object_count(git, repo):
    out = git.run("count-objects", "-v", cwd=repo)
    d = dict(line.split(": ", 1) for line in out.splitlines())
    return int(d["count"]) + int(d["in-pack"])


def describe(git, repo):
    pack = Path(repo) / "objects" / "pack"
    out = git.run("count-objects", "-v", cwd=repo)
    d = dict(line.split(": ", 1) for line in out.splitlines())
    refs = len(git.run("for-each-ref", "--format=x", cwd=repo).split())
    return {"objects": int(d["count"]) + int(d["in-pack"]),
            "loose": int(d["count"]), "packs": int(d["packs"]),
            "bitmaps": len(list(pack.glob("*.bitmap"))),
            "midx": (pack / "multi-pack-index").is_file(),
            "commit_graph": (Path(repo) / "objects" / "info" / "commit-graph")
            .is_file() or (Path(repo) / "objects" / "info" / "commit-graphs")
            .is_dir(),
            "pack_bytes": sum(p.stat().st_size for p in pack.glob("*.pack")),
            "refs": refs}


def make_corpus(git, bundle, bitmap):
    def make(tmp):
        git.run("clone", "-q", "--mirror", bundle, tmp)
        git.run("repack", "-q", "-a", "-d", *(["-b"] if bitmap else []),
                cwd=tmp)
        if not bitmap:
            for p in (tmp / "objects" / "pack").glob("*.bitmap"):
                p.unlink()
    return make


def make_generated(profile):
    def make(tmp):
        r = subprocess.run([sys.executable, str(GENERATOR), str(tmp),
                            "--profile", profile])
        if r.returncode != 0:
            raise RuntimeError("make_big_repo.py failed")
    return make


def make_extra(git, source):
    def make(tmp):
        git.run("clone", "-q", "--mirror", "--local", source, tmp)
    return make


def generator_version():
    r = subprocess.run([sys.executable, str(GENERATOR), "--version"],
                       stdout=subprocess.PIPE, text=True, check=True)
    return r.stdout.strip()


def prepare(git, root, quick, extra_paths, selected=None, layouts=True):
    """Returns [(name, path, info)] of the repositories to benchmark: those
    for which selected(name, rows) holds (all when None). A repository that a
    selected one is made from is made (or found in the cache) too."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    gv = git_version(git)
    base_key = "repos-v%d %s" % (REPOS_VERSION, gv)
    wanted = []   # (name, key, make, rows, needs)
    if quick:
        small_key = "gen-v%s small %s" % (generator_version(), base_key)
        wanted.append(("small", small_key, make_generated("small"), None,
                       None))
        sources = {"plain": ("small", small_key),
                   "bitmap": ("small", small_key)}
        size = "small"
    else:
        bundle = corpus_bundle()
        if not bundle.is_file():
            raise SystemExit("corpus bundle not found: %s (GSH_CORPUS=...)"
                             % bundle)
        ck = "corpus %s %s" % (file_key(bundle), base_key)
        wanted.append(("nginx-bitmap", ck + " bitmap",
                       make_corpus(git, bundle, True), None, None))
        wanted.append(("nginx-nobitmap", ck + " nobitmap",
                       make_corpus(git, bundle, False), None, None))
        wanted.append(("big", "gen-v%s big %s" % (generator_version(),
                                                  base_key),
                       make_generated("big"), None, None))
        sources = {"plain": ("nginx-nobitmap", ck + " nobitmap"),
                   "bitmap": ("nginx-bitmap", ck + " bitmap")}
        size = "corpus"
    if layouts:
        paths = {k: (root / (n + ".git"), key)
                 for k, (n, key) in sources.items()}
        prefix = "small" if quick else "nginx"
        for name, key, make, rows, needs in bench_layouts.wanted(
                git, root, prefix, size, paths, gv):
            src = {sources[k][0] for k in sources}
            wanted.append((name, key, make, rows, needs or src))
    for src in extra_paths:
        src = Path(src).resolve()
        if not src.exists():
            raise SystemExit("BENCH_REPO: %s does not exist" % src)
        name = "extra-" + src.name.replace(".git", "")
        h = hashlib.sha1(str(src).encode()).hexdigest()[:8]
        # remade when the source's refs change
        refs = git.run("for-each-ref", cwd=src)
        key = "extra %s %s %s" % (src, hashlib.sha1(refs.encode())
                                  .hexdigest(), base_key)
        wanted.append(("%s-%s" % (name, h), key, make_extra(git, src), None,
                       None))
    chosen = {name for name, _, _, rows, _ in wanted
              if selected is None or selected(name, rows)}
    # what the chosen ones are made from, transitively
    by_name = {w[0]: w for w in wanted}
    needed = set(chosen)
    todo = list(chosen)
    while todo:
        needs = by_name[todo.pop()][4]
        for n in ([needs] if isinstance(needs, str) else needs or ()):
            if n not in needed:
                needed.add(n)
                todo.append(n)
    out = []
    for name, key, make, rows, _needs in wanted:
        if name not in needed:
            continue
        dest = root / (name + ".git")
        if not (dest.is_dir() and dest.with_name(dest.name + ".stamp")
                .is_file() and dest.with_name(dest.name + ".stamp")
                .read_text() == key):
            log("preparing %s ..." % dest.relative_to(TOP)
                if dest.is_relative_to(TOP) else "preparing %s ..." % dest)
        t0 = time.monotonic()
        path, made = cached(dest, key, make)
        if made:
            log("  made %s in %.0f s" % (name, time.monotonic() - t0))
        if name not in chosen:
            continue
        # partial clones (the blobless and treeless rows) for both sides
        git.run("config", "uploadpack.allowFilter", "true", cwd=path)
        info = describe(git, path)
        info["key"] = key
        info["made_now"] = made
        if made:
            info["made_s"] = round(time.monotonic() - t0, 1)
        info["rows"] = rows
        out.append((name, path, info))
    return out


def head_branch(git, repo):
    return git.run("symbolic-ref", "HEAD", cwd=repo).strip()


def make_behind(git, server_repo, n):
    def make(tmp):
        work = Path(str(tmp) + "-work")
        if work.exists():
            shutil.rmtree(work)
        try:
            git.run("clone", "-q", "--mirror", "--local", server_repo, work)
            head = head_branch(git, work)
            new = git.run("rev-parse", "%s~%d" % (head, n), cwd=work).strip()
            rng = git.run("rev-list", "--parents", head, "^" + new,
                          cwd=work).split("\n")
            in_range = set()
            parents = {}
            for line in rng:
                if line.strip():
                    ids = line.split()
                    in_range.add(ids[0])
                    parents[ids[0]] = ids[1:]
            # the oldest commits of the range: a ref contains some commit of
            # the range iff it contains one of these
            bottoms = [c for c in in_range
                       if not any(p in in_range for p in parents[c])]
            args = ["for-each-ref", "--format=%(refname)"]
            for b in bottoms:
                args += ["--contains", b]
            doomed = [r for r in git.run(*args, cwd=work).split()
                      if r != head]
            cmds = "".join("delete %s\n" % r for r in doomed)
            cmds += "update %s %s\n" % (head, new)
            git.run("update-ref", "--stdin", cwd=work, input=cmds.encode())
            git.run("clone", "-q", "--mirror", "--no-local", work, tmp)
            # no automatic gc / maintenance after the timed fetch
            git.run("config", "gc.auto", "0", cwd=tmp)
            git.run("config", "maintenance.auto", "false", cwd=tmp)
        finally:
            if work.exists():
                shutil.rmtree(work)
    return make


def prepare_behind(git, clients_dir, name, server_repo, server_key, n=BEHIND):
    clients_dir = Path(clients_dir)
    clients_dir.mkdir(parents=True, exist_ok=True)
    dest = clients_dir / ("%s-behind%d.git" % (name, n))
    path, _ = cached(dest, "behind %d of %s" % (n, server_key),
                     make_behind(git, server_repo, n))
    return path


def all_wants(git, repo):
    """The distinct object ids of every ref (what a mirror clone wants)."""
    out = git.run("for-each-ref", "--format=%(objectname)", cwd=repo)
    return sorted(set(out.split()))


def refs_of(git, repo):
    return git.run("for-each-ref", "--format=%(objectname) %(refname)",
                   cwd=repo)

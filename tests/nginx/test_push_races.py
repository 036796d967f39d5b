"""Pushes racing each other, git pack-refs and a second nginx: no update the
client was told about is lost.

Every scenario checks what each push's --porcelain report said against the
repository afterwards: a ref answered ok is what the client was told (a
deleted ref is gone, a created one has the pushed value), a ref refused to
everyone is unchanged, `git fsck` is clean and no *.lock or packed-refs.new
is left. The same scenario runs against git http-backend where it makes
sense; the module must lose nothing.

  nginx A  /git/  the module, receive-pack on (anonymous pushes: the
                  repositories set http.receivepack)
           /ref/  git http-backend
  nginx B  /git/  the module again, on the same root
"""

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

import helpers
from helpers import Fcgiwrap, Nginx

MODULE = """
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_receive_pack on;"""
FCGI = helpers.serving.FASTCGI

SERVER = """
    client_max_body_size 100m;
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
        location /git/ {%s
        }%s
    }
"""
HTTP_A = SERVER % (MODULE, """
        location /ref/ {%s
        }""" % FCGI)
HTTP_B = SERVER % (MODULE, "")

SELF_CHECK = os.environ.get("GSH_SELF_CHECK") == "1"
if SELF_CHECK:
    HTTP_A = HTTP_A.replace(MODULE, FCGI)
    HTTP_B = HTTP_B.replace(MODULE, FCGI)

STRAY = re.compile(r"\.lock$|^packed-refs\.new$")
TAGS = 45


class RaceEnv:
    def __init__(self, git, tmp, root, a, b):
        self.git = git
        self.tmp = tmp
        self.root = root
        self.a = a
        self.b = b

    def url(self, nginx, location, repo):
        return "http://127.0.0.1:%d/%s/%s" % (nginx.port, location,
                                              Path(repo).name)

    def new_repo(self, name, seed, tags=0):
        """A bare repository in the root with seed's main and, packed, tags
        p0.. (every fifth annotated, so that packed-refs has peeled
        lines)."""
        git = self.git
        repo = self.root / ("%s.git" % name)
        git("init", "-q", "--bare", "-b", "main", repo)
        git("push", "-q", repo, "main",
            *["refs/tags/p%d" % i for i in range(tags)], cwd=seed)
        git("pack-refs", "--all", cwd=repo)
        git("config", "http.receivepack", "true", cwd=repo)
        (repo / "git-daemon-export-ok").write_text("")
        return repo


@pytest.fixture(scope="module")
def race_env(git, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("races")
    root = tmp / "root"
    root.mkdir()
    fcgi = Fcgiwrap(tmp / "fcgiwrap", children=4).start()
    module = None if SELF_CHECK else helpers.module_path()
    servers = []
    try:
        for name, http in (("a", HTTP_A), ("b", HTTP_B)):
            body = http.replace("{root}", str(root)) \
                .replace("{sock}", str(fcgi.socket_path)) \
                .replace("{backend}", helpers.HTTP_BACKEND)
            nginx = Nginx(tmp / ("nginx-" + name), body, module=module,
                          worker_processes=2)
            nginx.start()
            servers.append(nginx)
        yield RaceEnv(git, tmp, root, *servers)
    finally:
        statuses = [s.stop() for s in servers]
        fcgi.stop()
    assert statuses == [0, 0], "nginx did not stop cleanly"


@pytest.fixture(autouse=True)
def _race_log_watch(request):
    """A worker crash or a sanitizer report in either nginx fails the
    test."""
    if "race_env" not in request.fixturenames:
        yield
        return
    env = request.getfixturevalue("race_env")
    starts = [(n, n.error_log_size()) for n in (env.a, env.b)]
    yield
    bad = [line for n, start in starts
           for line in n.read_error_log(start).splitlines()
           if any(m in line for m in ("exited on signal", "AddressSanitizer",
                                      "runtime error:", "[emerg]"))]
    assert not bad, "nginx error.log:\n" + "\n".join(bad[:20])


@pytest.fixture(scope="module")
def seed(race_env):
    """A work repository: main (5 commits) and tags p0.. on them."""
    git = race_env.git
    work = race_env.tmp / "seed"
    git("init", "-q", "-b", "main", work)
    for i in range(5):
        (work / "f").write_text("%d\n" % i)
        git("add", "f", cwd=work)
        git.tick()
        git("commit", "-q", "-m", "c%d" % i, cwd=work)
    commits = git("rev-list", "main", cwd=work).split()
    for i in range(TAGS):
        args = ["-a", "-m", "t%d" % i] if i % 5 == 0 else []
        git("tag", *args, "p%d" % i, commits[i % len(commits)], cwd=work)
    return work


def commits_of(git, seed):
    return git("rev-list", "main", cwd=seed).split()


def push(git, url, refspecs, cwd):
    """git push --porcelain: {destination ref: flag} ("-" deleted, "*"
    created, "!" refused)."""
    r = git.run("push", "--porcelain", url, *refspecs, cwd=cwd)
    out = {}
    for line in r.out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1 and ":" in parts[1]:
            out[parts[1].split(":", 1)[1]] = parts[0]
    return out


def together(jobs):
    """Runs the callables at once (released by one barrier); their results
    in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(i):
        barrier.wait()
        results[i] = jobs[i]()
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def refs(git, repo):
    out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo)
    return dict(line.split(" ") for line in out.splitlines())


def assert_clean(git, repo):
    r = git.run("fsck", "--no-progress", "--no-dangling", cwd=repo)
    assert r.code == 0 and r.err.strip() == "", r
    stray = [os.path.relpath(os.path.join(d, n), repo)
             for d, dirs, files in os.walk(repo) for n in dirs + files
             if STRAY.search(n)]
    assert stray == [], stray


class Tally:
    """What the clients were told and what the repository kept."""

    def __init__(self):
        self.ok = 0
        self.refused = 0
        self.lost = []

    def __str__(self):
        return "%d ok, %d refused, %d lost" % (self.ok, self.refused,
                                               len(self.lost))


def check_deletions(tally, reports, before, after):
    """reports: porcelain maps of pushes that deleted refs in before."""
    deleted = set()
    for rep in reports:
        for ref, flag in rep.items():
            if flag == "-":
                # (a client whose advertisement came after another's
                # deletion asks to delete from 0{40}: ok, "deleting a
                # non-existent ref", as git's)
                tally.ok += 1
                deleted.add(ref)
                if ref in after:
                    tally.lost.append(ref)
            elif flag == "!":
                tally.refused += 1
    # refused to everyone: still there, unchanged
    for ref, value in before.items():
        if ref.startswith("refs/tags/") and ref not in deleted:
            if after.get(ref) != value:
                tally.lost.append(ref)


def check_creations(tally, wanted, reports, after):
    """wanted: {ref: value} the pushes asked for."""
    for rep in reports:
        for ref, flag in rep.items():
            if ref not in wanted:
                continue
            if flag == "*":
                tally.ok += 1
                if after.get(ref) != wanted[ref]:
                    tally.lost.append(ref)
            else:
                tally.refused += 1
                if ref in after:
                    tally.lost.append(ref)


def sides(race_env):
    return (("module", race_env.a, "git"), ("reference", race_env.a, "ref"))


def test_concurrent_deleters_of_packed_tags(race_env, seed):
    """Three clients delete packed tags at once, each tag asked for by two
    of them, over several rounds: every deletion answered ok is gone, and a
    tag every client was refused is still there."""
    git = race_env.git
    tallies = {}
    for side, nginx, location in sides(race_env):
        tally = Tally()
        for rnd in range(3):
            repo = race_env.new_repo("del-%s-%d" % (side, rnd), seed, TAGS)
            before = refs(git, repo)
            url = race_env.url(nginx, location, repo)
            specs = [[":refs/tags/p%d" % i for i in range(TAGS) if i % 3 != c]
                     for c in range(3)]
            reports = together([lambda s=s: push(git, url, s, seed)
                                for s in specs])
            check_deletions(tally, reports, before, refs(git, repo))
            assert_clean(git, repo)
        tallies[side] = tally
    print("\nconcurrent deleters: %s" % "; ".join(
        "%s %s" % (s, t) for s, t in tallies.items()))
    assert tallies["module"].lost == [], tallies["module"]
    assert tallies["module"].ok >= TAGS, tallies["module"]


def pack_refs_loop(git, repo, stop, count):
    while not stop.is_set():
        git.run("pack-refs", "--all", cwd=repo)
        count[0] += 1


def test_pushes_beside_pack_refs_loop(race_env, seed):
    """`git pack-refs --all` in a loop on the server, as a gc would: each
    round one push creates branches and another deletes the ones created
    the round before (packed meanwhile, most of them). Every ref answered
    ok is as the client was told."""
    git = race_env.git
    commits = commits_of(git, seed)
    tallies = {}
    for side, nginx, location in sides(race_env):
        repo = race_env.new_repo("pack-%s" % side, seed)
        url = race_env.url(nginx, location, repo)
        stop, packs = threading.Event(), [0]
        packer = threading.Thread(target=pack_refs_loop,
                                  args=(git, repo, stop, packs))
        packer.start()
        tally = Tally()
        made = {}
        try:
            for rnd in range(5):
                wanted = {"refs/heads/r%d-%d" % (rnd, j):
                          commits[j % len(commits)] for j in range(25)}
                creations = ["%s:%s" % (v, r) for r, v in wanted.items()]
                deletions = [":" + r for r in made]
                jobs = [lambda: push(git, url, creations, seed)]
                if deletions:
                    jobs.append(lambda: push(git, url, deletions, seed))
                reports = together(jobs)
                after = refs(git, repo)
                check_creations(tally, wanted, reports[:1], after)
                if deletions:
                    check_deletions(tally, reports[1:], {}, after)
                    for ref, value in made.items():
                        if reports[1].get(ref) != "-" and \
                                after.get(ref) != value:
                            tally.lost.append(ref)  # refused, yet gone
                made = {r: v for r, v in wanted.items()
                        if reports[0].get(r) == "*"}
        finally:
            stop.set()
            packer.join()
        assert packs[0] > 0
        assert_clean(git, repo)
        tallies[side] = tally
        print("\nbeside pack-refs (%s, %d pack-refs runs): %s"
              % (side, packs[0], tally))
    assert tallies["module"].lost == [], tallies["module"]
    assert tallies["module"].ok > 0


def test_two_nginx_on_one_root(race_env, seed):
    """Two nginx instances serving one root push to the same repository at
    once: each deletes every packed tag and creates branches of its own.
    Nothing is lost. Then the same with the module beside git
    http-backend."""
    git = race_env.git
    commits = commits_of(git, seed)
    pairs = [("module A + module B", (race_env.a, "git"), (race_env.b, "git")),
             ("module + http-backend", (race_env.a, "git"),
              (race_env.a, "ref"))]
    for n, (what, *ends) in enumerate(pairs):
        tally = Tally()
        for rnd in range(2):
            repo = race_env.new_repo("two-%d-%d" % (n, rnd), seed, TAGS)
            before = refs(git, repo)
            jobs, wanted = [], {}
            for c, (nginx, location) in enumerate(ends):
                mine = {"refs/heads/n%d-%d" % (c, j): commits[(j + c) % 5]
                        for j in range(15)}
                wanted.update(mine)
                specs = [":refs/tags/p%d" % i for i in range(TAGS)] + \
                    ["%s:%s" % (v, r) for r, v in mine.items()]
                url = race_env.url(nginx, location, repo)
                jobs.append(lambda u=url, s=specs: push(git, u, s, seed))
            reports = together(jobs)
            after = refs(git, repo)
            check_deletions(tally, reports, before, after)
            check_creations(tally, wanted, reports, after)
            assert_clean(git, repo)
        print("\n%s: %s" % (what, tally))
        assert tally.lost == [], (what, tally.lost)
        assert tally.ok > 0

"""Bounded per-worker caches (issue 18): one worker serves 10,000
repositories under one root with a small git_smart_http_cache_size; its open
files and its anonymous memory stay bounded.

The repositories are hard-linked copies of one small packed repository
(cp -al, ten at a time, nested four deep: d1/d2/d3/rN.git), so making them
costs seconds. Each gets an advertisement (v0, which peels an annotated tag
through libgit2) and every tenth a v2 fetch of its branch, all on one
keep-alive connection. Then come twenty copies of a heavier one (20,000
refs, 12 packs): a cache bounded by a count of repositories alone (16
before issue 18) holds over 200 MB and over 200 files with those.
"""

import http.client
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import helpers
from helpers import Nginx, pkt, pkt_delim, pkt_flush

FANOUT = 10  # 10**4 repositories
CACHE_MB = 4
# The cache's bound on open pack files (git_smart_http_cache_open_files,
# 128 by default) plus nginx's own (logs, listening socket, event fds, the
# client's connection, about 25) with room to spare; far fewer than one per
# repository.
MAX_FDS = 200
# The bound: within 32 MB of the cache size. Under AddressSanitizer
# (GSH_SANITIZE=1) freed memory stays in its quarantine (256 MiB by default)
# and its allocator keeps its own free lists, which malloc_trim does not see:
# 426 and 521 MB over the baseline were measured there. The sanitizer's bound
# only catches growth without limit; the plain build's is the issue's.
SLACK_MB = 32 + (1024 if os.environ.get("GSH_SANITIZE") == "1" else 0)
HEAVY = 20
HEAVY_REFS = 20000
HEAVY_PACKS = 12

HTTP = """
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_export_all on;
        }
    }
    git_smart_http_cache_size %dm;
""" % CACHE_MB


def make_seed(git, dest):
    """A small repository, one pack, an annotated tag: what a copy holds."""
    work = dest.parent / "seed-work"
    git("init", "-q", "-b", "main", work)
    for i in range(3):
        (work / ("f%d.txt" % i)).write_text("file %d\n" % i * 50)
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "commit %d" % i, cwd=work)
    git("tag", "-a", "-m", "v1", "v1", cwd=work)
    git("clone", "-q", "--bare", work, dest)
    git("repack", "-adq", cwd=dest)
    git("pack-refs", "--all", cwd=dest)
    # fewer folders to make and remove: 4 a copy
    for extra in ("hooks", "description", "info", "logs", "branches",
                  "objects/info", "refs/heads", "refs/tags"):
        subprocess.run(["rm", "-rf", str(dest / extra)], check=True)


def make_heavy(git, dest):
    """HEAVY_PACKS packs (one per commit) and HEAVY_REFS tags."""
    work = dest.parent / "heavy-work"
    git("init", "-q", "-b", "main", work)
    git("init", "-q", "--bare", dest)
    for i in range(HEAVY_PACKS):
        (work / "f.txt").write_text("version %d\n" % i)
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "commit %d" % i, cwd=work)
        git("push", "-q", dest, "main", cwd=work)
        git("repack", "-dq", cwd=dest)
    tip = git("rev-parse", "main", cwd=work)
    with open(dest / "packed-refs", "w") as f:
        f.write("# pack-refs with: peeled fully-peeled sorted \n")
        f.write("%s refs/heads/main\n" % tip)
        for i in range(HEAVY_REFS):
            f.write("%s refs/tags/t%05d\n" % (tip, i))
    subprocess.run(["rm", "-rf", str(dest / "refs/heads/main"),
                    str(dest / "hooks")], check=True)
    packs = list((dest / "objects" / "pack").glob("*.pack"))
    assert len(packs) == HEAVY_PACKS, packs
    return tip


def copy_tree(src, parent, name, count):
    """parent/<name % 0> .. <name % (count-1)>: hard-linked copies of src."""
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        subprocess.run(["cp", "-al", str(src), str(parent / (name % i))],
                       check=True)


def scratch(tmp_path_factory):
    """A tmpfs folder when there is one: on a disk mounted with discard,
    removing the 40,000 folders takes minutes (creating them, seconds)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="gsh-cache-bounds-", dir=shm))
    return tmp_path_factory.mktemp("cache_bounds")


@pytest.fixture(scope="module")
def many(git, tmp_path_factory):
    tmp = scratch(tmp_path_factory)
    nginx = None
    try:
        repos, root = make_root(git, tmp)
        nginx = Nginx(tmp / "nginx", HTTP.replace("{root}", str(root)),
                      module=helpers.module_path(), worker_processes=1)
        nginx.start()
        yield nginx, repos
    finally:
        status = nginx.stop() if nginx else 0
        log = nginx.read_error_log()[-5000:] if nginx else ""
        # On a tmpfs it is gone at once; pytest's own tmp is only removed at
        # a later run, at that run's cost.
        subprocess.run(["rm", "-rf", str(tmp)])
    assert status == 0, log


def make_root(git, tmp):
    """10,000 small repositories and the heavy ones: [(name, tip)], root."""
    seed = tmp / "seed.git"
    make_seed(git, seed)
    # level 1: ten repositories; each level above: ten copies of the last
    level = tmp / "l1"
    copy_tree(seed, level, "r%d.git", FANOUT)
    for depth in (2, 3, 4):
        up = tmp / ("l%d" % depth)
        copy_tree(level, up, "d%d", FANOUT)
        level = up
    tip = git("rev-parse", "main", cwd=seed)
    repos = [("d%d/d%d/d%d/r%d.git" % (a, b, c, r), tip)
             for a in range(FANOUT) for b in range(FANOUT)
             for c in range(FANOUT) for r in range(FANOUT)]
    for n, _ in repos[:1] + repos[-1:]:
        assert (level / n / "packed-refs").is_file(), n
    heavy_tip = make_heavy(git, tmp / "heavy.git")
    copy_tree(tmp / "heavy.git", level / "heavy", "h%d.git", HEAVY)
    repos += [("heavy/h%d.git" % i, heavy_tip) for i in range(HEAVY)]
    return repos, level


def worker_pid(master):
    out = subprocess.run(["pgrep", "-P", str(master)],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    assert len(out) == 1, out
    return int(out[0])


def anon_kb(pid):
    return helpers.proc_status_kb(pid, "RssAnon")


def fetch_body(tip):
    return (pkt("command=fetch\n") + pkt("agent=git/2.39.5\n") + pkt_delim()
            + pkt("want %s\n" % tip) + pkt("done\n") + pkt_flush())


def request(conn, method, path, headers, body=None):
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    assert res.status == 200, (path, res.status, data[:200])
    return data


def serve(conn, name, tip, fetch):
    adv = request(conn, "GET", "/git/%s/info/refs?service=git-upload-pack"
                  % name, {})
    assert b"refs/heads/main" in adv, adv[:300]
    if fetch:
        data = request(conn, "POST", "/git/%s/git-upload-pack" % name,
                       {"Git-Protocol": "version=2",
                        "Content-Type":
                        "application/x-git-upload-pack-request"},
                       fetch_body(tip))
        assert b"packfile\n" in data and b"PACK" in data, data[:300]


def test_10000_repositories_bounded_fds_and_memory(many):
    nginx, repos = many
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=60)
    try:
        # a worker answered: it has been started
        serve(conn, *repos[0], True)
        pid = worker_pid(nginx.proc.pid)
        # the baseline: the worker with its code and the first few served
        for i, (name, tip) in enumerate(repos[1:50], 1):
            serve(conn, name, tip, i % 10 == 0)
        fds0, anon0 = helpers.fd_count(pid), anon_kb(pid)
        peak_fds = fds0
        for i, (name, tip) in enumerate(repos[50:], 50):
            serve(conn, name, tip, i % 10 == 0 or name.startswith("heavy"))
            if i % 500 == 0 or name.startswith("heavy"):
                peak_fds = max(peak_fds, helpers.fd_count(pid))
    finally:
        conn.close()
    assert worker_pid(nginx.proc.pid) == pid
    # for the record: before the worker has given its free memory back
    anon_busy = anon_kb(pid)
    # The last request's session ends when nginx frees it, after the
    # response went out; the worker gives its memory back once idle.
    # Bounded poll; the assertion below says by how much it missed.
    bound = anon0 + (CACHE_MB + SLACK_MB) * 1024
    helpers.wait_until(lambda: anon_kb(pid) <= bound, 10)
    fds1, anon1 = helpers.fd_count(pid), anon_kb(pid)
    figures = ("fds %d -> %d (peak %d), anonymous %d kB -> %d kB (%d kB "
               "before the worker was idle), %.1f s" % (
                   fds0, fds1, peak_fds, anon0, anon1, anon_busy,
                   time.monotonic() - start))
    print("\n" + figures)
    assert max(peak_fds, fds1) < MAX_FDS, figures
    assert anon1 <= bound, figures


# --------------------------------------------------------------------------
# nginx -t: the directives are http-level, with a clear refusal

from test_directives import (assert_fails, assert_ok, conf,  # noqa: E402,F401
                             location, module, root, server)


def test_cache_directives_pass_at_http_level(conf, root):
    body = "git_smart_http_root %s;\n            git_smart_http on;" % root
    assert_ok(conf.write("    git_smart_http_cache_size 512k;\n"
                         "    git_smart_http_cache_open_files 4;\n"
                         + server(location("/git/", body))).test())


@pytest.mark.parametrize("line,message", [
    ("git_smart_http_cache_size 0;",
     '"git_smart_http_cache_size" takes a size greater than 0, such as 64m, '
     'not "0"'),
    ("git_smart_http_cache_size lots;",
     'takes a size greater than 0, such as 64m, not "lots"'),
    ("git_smart_http_cache_open_files 3;",
     '"git_smart_http_cache_open_files" takes a number of files, 4 or more, '
     'not "3"'),
    ("git_smart_http_cache_open_files many;", 'not "many"'),
    ("git_smart_http_cache_size 1m; git_smart_http_cache_size 2m;",
     "is duplicate"),
])
def test_bad_cache_directive_rejected(conf, line, message):
    assert_fails(conf.write("    %s\n" % line).test(), message)


@pytest.mark.parametrize("where", ["server", "location"])
def test_cache_size_outside_http_rejected(conf, root, where):
    line = "git_smart_http_cache_size 64m;"
    body = "git_smart_http_root %s;\n            git_smart_http on;" % root
    if where == "location":
        text = server(location("/git/", body + "\n            " + line))
    else:
        text = server("        %s\n" % line + location("/git/", body))
    assert_fails(conf.write(text).test(),
                 '"git_smart_http_cache_size" directive is not allowed here')

#!/usr/bin/python3
"""`make bench`: the module against nginx + fcgiwrap + git http-backend, side
by side, on the same repositories.

    GSH_MODULE=build/ngx_http_git_smart_http_module.so /usr/bin/python3 tests/bench/bench.py

Environment:
  BENCH_QUICK=1      smoke run: one small generated repository (and the
                     issue 18 layouts made from it), one round, every kind
                     of scenario at a small size (< 1 minute)
  BENCH_ROUNDS=N     rounds (default 3; 1 with BENCH_QUICK)
  BENCH_REPO=P[:P]   also benchmark these repositories (mirrored by hard links)
  BENCH_ONLY=a,b     only scenarios whose "repo/scenario" contains one of these
                     (and only the repositories they need are made)
  BENCH_LAYOUTS=0    without the issue 18 layouts (nginx-partial,
                     nginx-pushes, nginx-midx, refs50k; small-* when quick)
  BENCH_DURATION=S   seconds of each throughput run (default 5; 1 quick)
  BENCH_PERF=0|1     perf profile of the module during a full clone (default
                     1 when perf works, 0 with BENCH_QUICK or BENCH_ONLY)
  GSH_MODULE, GSH_NGINX, GSH_CORPUS   as for the nginx tests

Output: a table of medians over the rounds on stdout, and
build/bench/results-<time>.json + build/bench/latest.json (every round of
every side, the medians, the environment, the method).

How server CPU and RSS are measured: see measure.py (cgroup v2 per side when
possible, /proc accounting as cross-check or fallback; RSS sampled every
10 ms as the sum over the side's processes). Why two nginx instances: see
servers.py. The git clients (clone, index-pack) run on the same machine and
compete with the servers for its cores: server CPU is the figure to compare;
wall times are informative.
"""

import gzip
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_repos  # noqa: E402
import loadgen  # noqa: E402
import measure  # noqa: E402
import servers  # noqa: E402
from bench_repos import GitEnv  # noqa: E402
from serving import module_path  # noqa: E402

TOP = HERE.parents[1]
OUT = TOP / "build" / "bench"

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS") or (1 if QUICK else 3))
ONLY = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
DURATION = float(os.environ.get("BENCH_DURATION") or (1 if QUICK else 5))
PERF = os.environ.get("BENCH_PERF", "0" if QUICK or ONLY else "1") == "1"
LAYOUTS = os.environ.get("BENCH_LAYOUTS", "1") != "0"
CONCURRENCY = 4 if QUICK else 16
# the pack cache rows (issue 19; the full run only, on `big`): identical
# fetches at once, and in a row (the reference makes CACHE_SEQ_REF of them,
# its figures scaled to CACHE_SEQ: see sc_cached_fetch)
CACHE_CONCURRENCY = 32
CACHE_SEQ = 100
CACHE_SEQ_REF = 10
CACHE_REF_PREFIX = "refs/bench-cache/"
CACHE_STATUSES = ("miss", "hit", "updating", "expired", "bypass")
LS_REMOTE_N = 5 if QUICK else 20
THROUGHPUT_CONNECTIONS = 16
FCGI_CHILDREN = 16     # as many as concurrent clones (each runs one request
                       # at a time), so none waits for a FastCGI child
QUIESCE_TIMEOUT = 300
FATAL_MARKERS = ("exited on signal", "AddressSanitizer", "runtime error:",
                 "[emerg]", "[alert]", "[crit]")
SIDES = ("module", "reference")


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# sides

class Side:
    def __init__(self, name, nginx, group, prefix, fcgiwrap=None):
        self.name = name
        self.nginx = nginx
        self.group = group
        self.prefix = prefix
        self.fcgiwrap = fcgiwrap
        self.access = measure.LogTail(nginx.access_log)
        self.errors = measure.LogTail(nginx.error_log)
        self.fcgi_errors = (measure.LogTail(fcgiwrap.log_path)
                            if fcgiwrap else None)
        self.idle = set()

    @property
    def port(self):
        return self.nginx.port

    def url(self, repo):
        return "http://127.0.0.1:%d%s/%s.git" % (self.port, self.prefix, repo)

    def path(self, repo):
        return "%s/%s.git" % (self.prefix, repo)

    def settle_idle(self):
        """The processes a side has when nothing runs: a process outside
        this set is request work (git processes of the reference)."""
        self.quiesce()
        self.idle = set(self.group.pids())

    def quiesce(self):
        """Polls until every connection but the status poll itself is closed
        (every request finished and logged) and no request process (git) is
        left in the side's group (every git process exited and was waited
        for, so its CPU is in the accounts)."""
        def done():
            st = self.nginx.status()
            if st["active"] != 1:
                return False
            if self.idle:
                extra = set(self.group.pids()) - self.idle
                if extra:
                    return False
            return True
        measure.wait_for(done, QUIESCE_TIMEOUT, what="%s to be idle"
                         % self.name)


def machine_busy():
    """Non-idle CPU seconds of the whole machine (from /proc/stat)."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / measure.CLK_TCK


def measured(side, fn):
    """Runs fn() (the client side of a scenario) and measures the server
    side around it. fn returns a dict with at least "ok"; "client_cpu" if
    it knows it."""
    side.access.read_new()
    side.errors.read_new()
    if side.fcgi_errors:
        side.fcgi_errors.read_new()
    busy0 = machine_busy()
    self0 = sum(os.times()[:2])
    before = side.group.snapshot()
    with measure.RssSampler(side.group) as rss:
        t0 = time.monotonic()
        try:
            res = fn()
        except Exception as e:  # the benchmark goes on; the row says why
            res = {"ok": False, "error": "%s: %s" % (type(e).__name__, e),
                   "trace": traceback.format_exc()}
        wall = time.monotonic() - t0
        side.quiesce()
    after = side.group.snapshot()
    self1 = sum(os.times()[:2])
    busy1 = machine_busy()
    out = dict(res)
    out["wall"] = res.get("wall", wall)
    out.update(measure.cpu_delta(before, after))
    out.update(rss.result())
    n, sent, received, statuses = measure.parse_access(
        side.access.read_new())
    out["requests"] = n
    out["bytes_sent"] = sent
    out["bytes_received"] = received
    out["statuses"] = statuses
    # a load generator that stops after N seconds cuts the requests in
    # flight: 499 is expected there
    if any(not s.startswith("2") and not (s == "499" and res.get(
            "throughput")) for s in statuses):
        out.setdefault("notes", []).append("HTTP statuses %s" % statuses)
    errlines = [line for line in side.errors.read_new().splitlines()
                if "[error]" in line or any(m in line for m in
                                            FATAL_MARKERS)]
    if errlines:
        out["error_log"] = errlines[:20]
        if any(any(m in line for m in FATAL_MARKERS) for line in errlines):
            out["ok"] = False
            out.setdefault("error", "fatal line in error.log: %s"
                           % errlines[0])
    if side.fcgi_errors:
        text = side.fcgi_errors.read_new().strip()
        if text:
            out["fcgiwrap_stderr"] = text[-2000:]
    # CPU of the machine during the scenario that is neither server, client
    # nor this script: other load that disturbs wall times
    client = out.get("client_cpu") or 0.0
    # (the other side is idle meanwhile)
    out["other_cpu"] = max(0.0, (busy1 - busy0) - out["cpu"] - client
                           - (self1 - self0))
    scale = res.get("scale")
    if scale:
        # the side did a part of the row's work (the scenario says which):
        # its additive figures stand for the whole, as measured under
        # "measured"
        out["measured"] = {k: out[k] for k in SCALED if out.get(k)
                           is not None}
        for k, v in out["measured"].items():
            out[k] = v * scale
    return out


# what a run's "scale" multiplies (not RSS: peaks do not add up)
SCALED = ("cpu", "cpu_proc", "cpu_user", "cpu_sys", "wall", "bytes_sent",
          "bytes_received", "requests", "client_cpu", "other_cpu")


# --------------------------------------------------------------------------
# git clients

class Client:
    def __init__(self, git, tmp):
        self.git = git
        self.tmp = Path(tmp)

    def spawn(self, args, cwd=None, protocol=2, env=None,
              stdin=subprocess.DEVNULL):
        """Starts git; stdout/stderr go to files. Returns (proc, out, err)."""
        fd_out, out = tempfile.mkstemp(dir=self.tmp, suffix=".out")
        fd_err, err = tempfile.mkstemp(dir=self.tmp, suffix=".err")
        cmd = ["git", "-c", "protocol.version=%d" % protocol,
               "-c", "core.fsync=none"] + [str(a) for a in args]
        full_env = dict(self.git.env)
        full_env.update(env or {})
        p = subprocess.Popen(cmd, cwd=cwd, env=full_env,
                             stdin=stdin, stdout=fd_out,
                             stderr=fd_err)
        os.close(fd_out)
        os.close(fd_err)
        return p, Path(out), Path(err)

    @staticmethod
    def wait(p):
        """(exit code, CPU seconds of the process and what it waited for)"""
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        return p.returncode, ru.ru_utime + ru.ru_stime

    def run_many(self, argvs, protocol=2):
        """Starts every command at once, waits for all. Returns
        {"ok", "client_cpu", "codes", "stdout"(first), "error"}."""
        procs = [self.spawn(a, protocol=protocol) for a in argvs]
        codes, cpu = [], 0.0
        for p, _, _ in procs:
            code, c = self.wait(p)
            codes.append(code)
            cpu += c
        res = {"ok": all(c == 0 for c in codes), "client_cpu": cpu,
               "codes": codes}
        if not res["ok"]:
            bad = next(i for i, c in enumerate(codes) if c != 0)
            res["error"] = "git exited %d: %s" % (
                codes[bad], procs[bad][2].read_text(errors="replace")[-1500:])
        res["stdouts"] = [o.read_text(errors="replace") for _, o, _ in procs]
        for _, o, e in procs:
            o.unlink()
            e.unlink()
        return res


# --------------------------------------------------------------------------
# scenarios

class Ctx:
    """What scenarios need: the client, the repositories, expected refs."""

    def __init__(self, git, client, tmp, repos):
        self.git = git
        self.client = client
        self.tmp = Path(tmp)
        self.repos = {name: (path, info) for name, path, info in repos}
        self.refs = {name: bench_repos.refs_of(git, path)
                     for name, path, _ in repos}
        self.wants = {name: bench_repos.all_wants(git, path)
                      for name, path, _ in repos}
        self.behind = {}
        self.seq = 0
        # the clone-uris row: the edge's port, the repositories warmed
        self.edge_port = None
        self.uris_warm = set()

    def dest(self, what):
        self.seq += 1
        return self.tmp / ("%s-%d" % (what, self.seq))


def check_refs(ctx, repo, dest):
    got = bench_repos.refs_of(ctx.git, dest)
    if got != ctx.refs[repo]:
        g, w = set(got.splitlines()), set(ctx.refs[repo].splitlines())
        return "refs differ from the server's: %d missing, %d unexpected " \
               "(e.g. %s)" % (len(w - g), len(g - w),
                              sorted(w - g)[:2] or sorted(g - w)[:2])
    return None


def object_set(ctx, repo_dir):
    """{"count", "digest"} of every object a repository holds (packed and
    loose, promisor packs included): what the answer gave the client, to be
    compared with the other side's (a pack that leaves out trees gives a
    smaller set, even when git accepts it as a partial clone)."""
    out = ctx.git.run("cat-file", "--batch-all-objects",
                      "--batch-check=%(objectname)", cwd=repo_dir)
    names = out.split()
    return {"count": len(names),
            "digest": hashlib.sha256("\n".join(sorted(names))
                                     .encode()).hexdigest()}


def pack_object_set(ctx, pack):
    """The object set of a pack file that no repository holds (the raw
    fetch's): indexed with index-pack, read back with show-index."""
    idx = Path(str(pack)[:-len(".pack")] + ".idx")
    ctx.git.run("index-pack", "--threads=1", "-o", idx, pack)
    with open(idx, "rb") as f:
        r = subprocess.run(["git", "show-index"], stdin=f, env=ctx.git.env,
                           stdout=subprocess.PIPE, check=True)
    names = [line.split()[1] for line in r.stdout.decode().splitlines()]
    idx.unlink()
    return {"count": len(names),
            "digest": hashlib.sha256("\n".join(sorted(names))
                                     .encode()).hexdigest()}


def same_object_sets(res, dests_sets):
    """Every destination of one side must hold the same objects; that set
    goes into res["object_set"]. Returns an error or None."""
    sets = {(s["count"], s["digest"]) for s in dests_sets}
    if len(sets) > 1:
        return "the %d answers differ in their objects: counts %s" % (
            len(dests_sets), sorted(c for c, _ in sets))
    res["object_set"] = dests_sets[0]
    return None


def compare_sides(rnd_results):
    """After both sides of a round ran: the module's answer must hold the
    objects the reference's holds. A module round that differs fails."""
    m, r = rnd_results.get("module"), rnd_results.get("reference")
    if not (m and r and m.get("ok") and r.get("ok")):
        return None
    mo, ro = m.get("object_set"), r.get("object_set")
    if mo is None and ro is None:
        return None
    if mo is None or ro is None:
        err = "only one side's objects were checked"
    elif mo != ro:
        err = "objects differ from the reference's: module %d, reference " \
              "%d (set digests %s / %s)" % (mo["count"], ro["count"],
                                            mo["digest"][:12],
                                            ro["digest"][:12])
    else:
        return None
    m["ok"] = False
    m["error"] = err
    return err


def rmtree(p):
    shutil.rmtree(p, ignore_errors=True)


# The parts of a scenario (prepare, run, check, cleanup) that several share.

def no_dests(ctx, side, repo):
    return []


def no_check(ctx, side, repo, dests, res):
    return None


def remove_dests(ctx, dests):
    for d in dests:
        rmtree(d)


def no_cleanup(ctx, dests):
    pass


def check_one(ctx, side, repo, dests, res):
    """A scenario's one repository: the refs expected, and the objects the
    same on both sides."""
    if not res["ok"]:
        return None
    return check_refs(ctx, repo, dests[0]) or same_object_sets(
        res, [object_set(ctx, dests[0])])


def sc_clone(protocol, n=1, filter_spec=None):
    """n concurrent `git clone --mirror` (every ref, bare), protocol v0/v2,
    with --filter=filter_spec when given (a partial clone).
    Without a terminal git asks for no progress (as CI jobs do)."""
    opts = ["--filter=" + filter_spec] if filter_spec else []

    def prepare(ctx, side, repo):
        return [ctx.dest("clone") for _ in range(n)]

    def run(ctx, side, repo, dests):
        return ctx.client.run_many(
            [["clone", "-q", "--mirror", *opts, side.url(repo), d]
             for d in dests],
            protocol=protocol)

    def check(ctx, side, repo, dests, res):
        if res["ok"]:
            for d in dests:
                err = check_refs(ctx, repo, d)
                if err:
                    return err
            return same_object_sets(res, [object_set(ctx, d)
                                          for d in dests])
        return None
    return prepare, run, check, remove_dests


def sc_uri_clone():
    """`git -c fetch.uriprotocols=http clone --mirror` (issue 20). The
    module side's clients go through the edge (servers.Edge) to /gito/,
    which publishes a base pack and gives its URI: the edge sends the base,
    so the module's CPU is the origin's part of the clone. The first such
    clone of a repository (which publishes, and fills the edge) is made
    before the first round, not measured. git http-backend has no
    packfile-uris: its side is the same clone, whole."""
    def prepare(ctx, side, repo):
        dest = ctx.dest("uris")
        if side.name == "module" and repo not in ctx.uris_warm:
            res = ctx.client.run_many([uri_clone_args(ctx, side, repo, dest)])
            if not res["ok"]:
                raise RuntimeError("the warm-up clone by packfile-uris: %s"
                                   % res["error"])
            rmtree(dest)
            ctx.uris_warm.add(repo)
        return [dest]

    def run(ctx, side, repo, dests):
        return ctx.client.run_many([uri_clone_args(ctx, side, repo, dests[0])])
    return prepare, run, check_one, remove_dests


def uri_clone_args(ctx, side, repo, dest):
    url = side.url(repo)
    if side.name == "module":
        url = "http://127.0.0.1:%d%s/%s.git" % (
            ctx.edge_port, servers.OFFLOAD_PREFIX, repo)
    return ["-c", "fetch.uriprotocols=http", "clone", "-q", "--mirror", url,
            dest]


def sc_clone_shallow(depth, protocol=2):
    """`git clone --bare --depth N` (the default branch only), as CI jobs
    clone."""
    def prepare(ctx, side, repo):
        return [ctx.dest("shallow")]

    def run(ctx, side, repo, dests):
        return ctx.client.run_many(
            [["clone", "-q", "--bare", "--depth", str(depth), side.url(repo),
              d] for d in dests], protocol=protocol)

    def check(ctx, side, repo, dests, res):
        if not res["ok"]:
            return None
        server = ctx.repos[repo][0]
        want = ctx.git.run("rev-parse", "HEAD", cwd=server).strip()
        for d in dests:
            got = ctx.git.run("rev-parse", "HEAD", cwd=d).strip()
            if got != want:
                return "HEAD is %s, the server's %s" % (got, want)
            if not (Path(d) / "shallow").is_file():
                return "the clone is not shallow"
        return same_object_sets(res, [object_set(ctx, d) for d in dests])
    return prepare, run, check, remove_dests


def sc_fetch(protocol):
    """`git fetch` of every ref into a mirror that is 150 commits behind."""
    def prepare(ctx, side, repo):
        seed = ctx.behind[repo]
        dest = ctx.dest("fetch")
        # hard links: objects and packs are never modified in place
        shutil.copytree(seed, dest, copy_function=os.link)
        return [dest]

    def run(ctx, side, repo, dests):
        d = dests[0]
        # the received pack, as git reads it: its header counts the objects
        trace = Path(str(d) + ".pack-trace")
        p, out, err = ctx.client.spawn(
            ["-C", d, "fetch", "-q", "--prune", side.url(repo),
             "+refs/*:refs/*"], protocol=protocol,
            env={"GIT_TRACE_PACKFILE": str(trace)})
        code, cpu = ctx.client.wait(p)
        res = {"ok": code == 0, "client_cpu": cpu}
        if code != 0:
            res["error"] = "git fetch exited %d: %s" % (
                code, err.read_text(errors="replace")[-1500:])
        try:
            with open(trace, "rb") as f:
                head = f.read(12)
            if head[:4] == b"PACK":
                res["objects"] = int.from_bytes(head[8:12], "big")
            res["pack_bytes"] = trace.stat().st_size
            trace.unlink()
        except OSError:
            pass
        out.unlink()
        err.unlink()
        return res

    # the seed's objects and what the fetch brought: the same on both sides
    # when the thin pack held every object the refs need
    return prepare, run, check_one, remove_dests


def sc_ls_remote(n):
    """n sequential `git ls-remote` (v2: info/refs + ls-refs each)."""
    def run(ctx, side, repo, dests):
        cpu = 0.0
        for _ in range(n):
            res = ctx.client.run_many([["ls-remote", side.url(repo)]])
            cpu += res["client_cpu"]
            if not res["ok"]:
                res["client_cpu"] = cpu
                return res
        res["client_cpu"] = cpu
        res["ops"] = n
        return res

    def check(ctx, side, repo, dests, res):
        if not res["ok"]:
            return None
        lines = res["stdouts"][0].splitlines()
        want = {line.split()[1] for line in ctx.refs[repo].splitlines()}
        got = {line.split("\t")[1] for line in lines if "\t" in line}
        missing = want - got
        if missing:
            return "ls-remote misses %d refs (e.g. %s)" % (
                len(missing), sorted(missing)[:2])
        return None
    return no_dests, run, check, no_cleanup


def sc_refs_throughput():
    """info/refs + ls-refs, THROUGHPUT_CONNECTIONS keep-alive connections,
    DURATION seconds."""
    def run(ctx, side, repo, dests):
        r = loadgen.refs_throughput(side.port, side.path(repo),
                                    THROUGHPUT_CONNECTIONS, DURATION,
                                    ctx.tmp)
        res = {"ok": r["errors"] == 0 and r["requests"] > 0,
               "throughput": r, "wall": r["seconds"]}
        if not res["ok"]:
            res["error"] = "%d errors in %d requests" % (r["errors"],
                                                         r["requests"])
        return res
    return no_dests, run, no_check, no_cleanup


def sc_raw_fetch(n):
    """n concurrent v2 fetches of every ref by a client that only checks
    the pack's trailer (no index-pack): the server's own wall time. The
    first pack is kept and indexed after the measured time, so the row
    compares object sets, not only the headers' counts."""
    def prepare(ctx, side, repo):
        return [Path(str(ctx.dest("raw")) + ".pack")]

    def run(ctx, side, repo, dests):
        return raw_fetch_result(loadgen.raw_fetch_many(
            side.port, side.path(repo), ctx.wants[repo], n,
            save_first=dests[0]), n)

    def check(ctx, side, repo, dests, res):
        if not res["ok"]:
            return None
        return raw_pack_check(ctx, dests[0], res)

    def cleanup(ctx, dests):
        for d in dests:
            Path(d).unlink(missing_ok=True)
    return prepare, run, check, cleanup


def raw_fetch_result(results, n):
    """The result of a run from loadgen.raw_fetch_many's results (n
    fetches were to be made)."""
    bad = [r for r in results if not isinstance(r, dict)]
    res = {"ok": not bad and len(results) == n, "client_cpu": None}
    if bad:
        res["error"] = "%d of %d failed: %s" % (len(bad), n, bad[0])
    elif len(results) != n:
        res["error"] = "%d fetches of %d made" % (len(results), n)
    else:
        objs = sorted({r["objects"] for r in results})
        res["objects"] = objs[-1]
        res["pack_bytes"] = max(r["pack_bytes"] for r in results)
        res["trailers"] = len({r["trailer"] for r in results})
        if len(objs) > 1:
            res["ok"] = False
            res["error"] = "the packs differ in object count: %s" % objs
    return res


def raw_pack_check(ctx, pack, res):
    """The kept pack of a raw fetch holds what its header says; its object
    set goes into res (compared with the other side's)."""
    got = pack_object_set(ctx, pack)
    if got["count"] != res["objects"]:
        return "the pack's header says %d objects, it holds %d" % (
            res["objects"], got["count"])
    res["object_set"] = got
    return None


def cache_counts(side):
    """{status: requests} of the module's pack cache zone, from its metrics
    (git_smart_http_pack_cache_requests_total; a status not counted yet has
    no series)."""
    out = dict.fromkeys(CACHE_STATUSES, 0)
    name = "git_smart_http_pack_cache_requests_total{"
    for line in side.nginx.status_get("/metrics").splitlines():
        if not line.startswith(name):
            continue
        labels, _, value = line[len(name):].partition("} ")
        labels = dict(part.split("=", 1) for part in labels.split(","))
        if labels.get("zone") == '"%s"' % servers.PACK_CACHE_ZONE:
            out[labels["status"].strip('"')] = int(float(value))
    return out


def drop_cache_refs(git, path, ref=None):
    """Deletes the ref sc_cached_fetch made (every one under
    CACHE_REF_PREFIX without ref: those an interrupted run left) and the
    folder of them."""
    refs = [ref] if ref else git.run(
        "for-each-ref", "--format=%(refname)", CACHE_REF_PREFIX,
        cwd=path).split()
    for r in refs:
        git.run("update-ref", "-d", r, cwd=path)
    folder = Path(path) / CACHE_REF_PREFIX
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def sc_cached_fetch(n, times=1, ref_times=None):
    """The raw fetches of sc_raw_fetch (every ref, no index-pack), the
    module's through its pack cache location (/gitc/): n at once, `times`
    times in a row. The reference (git http-backend has no cache) serves
    them as in the raw-x rows; with ref_times it makes only that many
    rounds, and its additive figures (CPU, wall, bytes, requests) are
    scaled by times / ref_times ("scale"; what was measured is kept
    under "measured").

    Before the module's run, the cache is made cold for this request: a
    ref of the run's own (CACHE_REF_PREFIX...) is made on HEAD's commit, so
    the repository's state (the stamp of a cached answer) differs from any
    the cache has seen, while the request, its key, stays the same (the
    wants are ctx.wants, read when the run began; the new ref's commit is
    among them anyway). Exactly one request must then make the pack (MISS
    or EXPIRED) and the others follow it (UPDATING) or read its file (HIT):
    the metrics are read before and after, and a module run whose count of
    generations is not 1, or whose answers are not all the same bytes, fails.
    The ref is deleted after the run (the other rows' ref checks must not
    see it)."""
    def prepare(ctx, side, repo):
        state = {"pack": Path(str(ctx.dest("cached")) + ".pack")}
        if side.name == "module":
            path = ctx.repos[repo][0]
            state["ref"] = "%s%d-%d" % (CACHE_REF_PREFIX, os.getpid(),
                                        ctx.seq)
            head = ctx.git.run("rev-parse", "HEAD", cwd=path).strip()
            ctx.git.run("update-ref", state["ref"], head, cwd=path)
            state["repo_path"] = path
            state["before"] = cache_counts(side)
        return [state]

    def run(ctx, side, repo, dests):
        state = dests[0]
        if side.name == "module":
            path = "%s/%s.git" % (servers.CACHE_PREFIX, repo)
            rounds = times
        else:
            path = side.path(repo)
            rounds = ref_times or times
        results = []
        for i in range(rounds):
            got = loadgen.raw_fetch_many(side.port, path, ctx.wants[repo], n,
                                         save_first=state["pack"] if i == 0
                                         else None)
            results += got
            if any(not isinstance(r, dict) for r in got):
                break
        res = raw_fetch_result(results, n * rounds)
        res["fetches"] = n * rounds
        if rounds != times:
            res["scale"] = times / rounds
        return res

    def check(ctx, side, repo, dests, res):
        if not res["ok"]:
            return None
        state = dests[0]
        if side.name == "module":
            after = cache_counts(side)
            d = {k: after[k] - state["before"][k] for k in CACHE_STATUSES}
            res["cache"] = d
            res["cache_generations"] = d["miss"] + d["expired"]
            res["cache_updating"] = d["updating"]
            res["cache_hits"] = d["hit"]
            what = ", ".join("%s %d" % (k, v) for k, v in d.items())
            if res["cache_generations"] != 1:
                return "%d generations of the pack (miss + expired), not " \
                       "1: %s" % (res["cache_generations"], what)
            if sum(d.values()) != res["fetches"]:
                return "the cache counted %d requests for %d fetches: %s" % (
                    sum(d.values()), res["fetches"], what)
            if d["bypass"]:
                return "the cache was bypassed: %s" % what
            if res["trailers"] != 1:
                return "the cached answers differ: %d different packs" % (
                    res["trailers"])
        return raw_pack_check(ctx, state["pack"], res)

    def cleanup(ctx, dests):
        state = dests[0]
        state["pack"].unlink(missing_ok=True)
        if "ref" in state:
            drop_cache_refs(ctx.git, state["repo_path"], state["ref"])
    return prepare, run, check, cleanup


def sc_static_pack(index):
    """GET of the repository's largest .pack (on nginx-bitmap its only
    one) as a static file (sendfile): what stock nginx spends to send the
    bytes a whole-pack clone sends, the physical limit of that clone. Both
    sides are plain nginx here. index: the pack goes into `git index-pack
    --stdin` as it comes, as a clone takes it (the server then sends at the
    pace of a client that indexes); else it is read as fast as it comes, as
    the raw fetches read theirs."""
    def prepare(ctx, side, repo):
        packs = (ctx.repos[repo][0] / "objects" / "pack").glob("*.pack")
        dest = ctx.dest("static")
        if index:
            ctx.git.run("init", "-q", "--bare", dest)
        return [max(packs, key=lambda p: p.stat().st_size), dest]

    def run(ctx, side, repo, dests):
        pack, dest = dests
        path = "/static/%s.git/objects/pack/%s" % (repo, pack.name)
        sink = None
        if index:
            sink, out, err = ctx.client.spawn(
                ["index-pack", "--stdin", "--fix-thin"], cwd=dest,
                stdin=subprocess.PIPE)
        conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=600)
        n = 0
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                n += len(chunk)
                if sink:
                    sink.stdin.write(chunk)
        finally:
            conn.close()
            if sink:
                sink.stdin.close()
        res = {"ok": resp.status == 200 and n == pack.stat().st_size,
               "client_cpu": None, "pack_bytes": n}
        if sink:
            code, res["client_cpu"] = ctx.client.wait(sink)
            res["ok"] = res["ok"] and code == 0
            out.unlink()
            err.unlink()
        if not res["ok"]:
            res["error"] = "status %d, %d of %d bytes" % (
                resp.status, n, pack.stat().st_size)
        return res

    def cleanup(ctx, dests):
        rmtree(dests[1])
    return prepare, run, no_check, cleanup


# Hostile request shapes (issue 14): one request each whose cost must grow
# no faster than n log n in its size. Each body is made once per run.

HOSTILE_WANTS = 160000
HOSTILE_HAVES = 100000
HOSTILE_SHALLOWS = 2000
HOSTILE_DEEPEN_NOT = 10000
V0_HEADERS = {"Content-Type": "application/x-git-upload-pack-request",
              "Accept": "application/x-git-upload-pack-result"}


def hostile_body(ctx, repo, kind):
    """(headers, body, what the answer must hold) for one hostile shape."""
    key = (repo, kind)
    cache = ctx.__dict__.setdefault("hostile", {})
    if key in cache:
        return cache[key]
    path = ctx.repos[repo][0]
    pkt = loadgen.pkt
    head = ctx.git.run("rev-parse", "HEAD", cwd=path).strip()
    v2 = (pkt("command=fetch\n") + pkt("agent=%s\n" % loadgen.AGENT)
          + pkt("object-format=sha1\n") + b"0001")
    if kind == "wants":
        # made-up wants (not in any repository), in 0.4 MB of gzip
        lines = [pkt("want %040x multi_ack_detailed side-band-64k "
                     "ofs-delta\n" % 1)]
        lines += [pkt("want %040x\n" % i)
                  for i in range(2, HOSTILE_WANTS + 1)]
        body = b"".join(lines) + b"0000" + pkt("done\n")
        out = (dict(V0_HEADERS, **{"Content-Encoding": "gzip"}),
               gzip.compress(body), b"ERR upload-pack: not our ref")
    elif kind == "haves":
        # one have we have, then made-up ones: a negotiation round
        # (multi_ack_detailed asks ok_to_give_up after each)
        old = ctx.git.run("rev-parse", "HEAD~150", cwd=path).strip()
        lines = [pkt("want %s multi_ack_detailed side-band-64k ofs-delta\n"
                     % head), b"0000", pkt("have %s\n" % old)]
        lines += [pkt("have %040x\n" % i) for i in range(1, HOSTILE_HAVES)]
        body = b"".join(lines) + b"0000"
        out = (dict(V0_HEADERS, **{"Content-Encoding": "gzip"}),
               gzip.compress(body), b"ACK %s common" % old.encode())
    elif kind == "deepen-relative":
        shallows = ctx.git.run("rev-list", "--first-parent", "--skip=10",
                               "-n", str(HOSTILE_SHALLOWS), "HEAD",
                               cwd=path).split()
        body = v2 + pkt("want %s\n" % head) + b"".join(
            pkt("shallow %s\n" % c) for c in shallows) + pkt(
            "deepen-relative\n") + pkt("deepen 1\n") + pkt(
            "ofs-delta\n") + pkt("no-progress\n") + pkt("done\n") + b"0000"
        out = (loadgen.POST_HEADERS, body, b"shallow-info")
    elif kind == "deepen-not":
        tags = ctx.git.run("for-each-ref", "--format=%(refname)",
                           "refs/tags/", cwd=path).split()
        body = v2 + pkt("want %s\n" % head) + b"".join(
            pkt("deepen-not %s\n" % tags[i % len(tags)])
            for i in range(HOSTILE_DEEPEN_NOT)) + pkt("ofs-delta\n") + pkt(
            "no-progress\n") + pkt("done\n") + b"0000"
        out = (loadgen.POST_HEADERS, body, b"shallow-info")
    else:
        raise ValueError(kind)
    cache[key] = out
    return out


def sc_hostile(kind):
    """One hostile upload-pack request; the answer must be the one git
    gives such a request (an ERR line, an acknowledgment, a shallow-info
    section and its pack)."""
    def prepare(ctx, side, repo):
        hostile_body(ctx, repo, kind)  # made outside the measured time
        return []

    def run(ctx, side, repo, dests):
        headers, body, expect = hostile_body(ctx, repo, kind)
        conn = http.client.HTTPConnection("127.0.0.1", side.port,
                                          timeout=3600)
        try:
            conn.request("POST", side.path(repo) + "/git-upload-pack",
                         body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        res = {"ok": resp.status == 200 and expect in data,
               "client_cpu": None, "request_bytes": len(body),
               "response_bytes": len(data)}
        if not res["ok"]:
            res["error"] = "HTTP %d, %d bytes, %r does not hold %r" % (
                resp.status, len(data), data[:200], expect)
        return res
    return prepare, run, no_check, no_cleanup


PUSH_TARGET_PREFIX = "push-target-"


def push_target(ctx, name):
    """A repository to push into, under the root both servers serve."""
    ctx.seq += 1
    return ctx.root / ("%s%s-%d-%d.git" % (PUSH_TARGET_PREFIX, name,
                                           os.getpid(), ctx.seq))


def allow_push(ctx, target):
    """Push needs a user (REMOTE_USER) or http.receivepack=true, on both
    sides; no automatic gc after the push (git's receive-pack would run
    `gc --auto`, the module does not: both sides do the same work)."""
    for k, v in (("http.receivepack", "true"), ("gc.auto", "0"),
                 ("maintenance.auto", "false")):
        ctx.git.run("config", k, v, cwd=target)
    ok = Path(target) / "git-daemon-export-ok"
    if not ok.exists():  # (the seed's copy is a hard link: left as it is)
        ok.write_text("")


def client_push(ctx, args):
    """Runs the client's `git <args>` (a push): the result of a run."""
    # push has no protocol v2: v0 either way
    p, out, err = ctx.client.spawn(args, protocol=0)
    code, cpu = ctx.client.wait(p)
    res = {"ok": code == 0, "client_cpu": cpu}
    if code != 0:
        text = err.read_text(errors="replace")
        res["error"] = "git push exited %d: %s" % (code, text[-1500:])
    out.unlink()
    err.unlink()
    return res


def pushed_connected(ctx, target, res):
    """After a push into target: what is wrong with it (fsck
    --connectivity-only, then its object set against res), or None."""
    r = subprocess.run(["git", "fsck", "--connectivity-only",
                        "--no-progress"], cwd=target, env=ctx.git.env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return "fsck --connectivity-only: %s" % r.stdout.decode(
            errors="replace")[-500:]
    return same_object_sets(res, [object_set(ctx, target)])


def sc_push(full):
    """One `git push` from the benchmark's copy of the repository: the HEAD
    branch's last 150 commits onto a copy of the 150-behind client seed
    (full=False), or `push --mirror` of every ref into an empty repository
    (full=True). Server side: receive-pack, index-pack (or unpack-objects
    under receive.unpackLimit), the connectivity check, the ref updates."""
    def prepare(ctx, side, repo):
        target = push_target(ctx, "full" if full else "behind")
        if full:
            ctx.git.run("init", "-q", "--bare", target)
        else:
            # hard links: git replaces files by rename, never in place
            shutil.copytree(ctx.behind[repo], target, copy_function=os.link)
        allow_push(ctx, target)
        return [target]

    def run(ctx, side, repo, dests):
        source = ctx.repos[repo][0]
        url = side.url(dests[0].name[:-len(".git")])
        if full:
            args = ["-C", source, "push", "-q", "--mirror", url]
        else:
            head = bench_repos.head_branch(ctx.git, source)
            args = ["-C", source, "push", "-q", url, "%s:%s" % (head, head)]
        return client_push(ctx, args)

    def check(ctx, side, repo, dests, res):
        if not res["ok"]:
            return None
        target = dests[0]
        source = ctx.repos[repo][0]
        if full:
            err = check_refs(ctx, repo, target)
            if err:
                return err
        else:
            head = bench_repos.head_branch(ctx.git, source)
            want = ctx.git.run("rev-parse", head, cwd=source).strip()
            got = ctx.git.run("rev-parse", head, cwd=target).strip()
            if got != want:
                return "%s is %s after the push, not %s" % (head, got, want)
        return pushed_connected(ctx, target, res)
    return prepare, run, check, remove_dests


BIGFILE_MB = 200
BIGFILE_SEED = 17
BIGFILE_REPO = "tiny"   # the repository column of the row: its own


def bigfile_source(ctx):
    """Made once per run, on the client side: a small bare repository (3
    commits of text) to push onto, and a clone of it with one more commit
    adding big.bin, BIGFILE_MB MB of seeded random bytes (incompressible).
    Returns (base, work)."""
    if getattr(ctx, "bigfile", None):
        return ctx.bigfile
    import random
    work = ctx.tmp / "bigfile-work"
    base = ctx.tmp / "bigfile-base.git"
    git = ctx.git
    git.run("init", "-q", "-b", "main", work)
    for i in range(3):
        (work / "README").write_text("small repository, commit %d\n" % i)
        git.run("add", "README", cwd=work)
        git.run("commit", "-q", "-m", "commit %d" % i, cwd=work)
    git.run("clone", "-q", "--bare", work, base)
    rnd = random.Random(BIGFILE_SEED)
    with open(work / "big.bin", "wb") as f:
        for _ in range(BIGFILE_MB):
            f.write(rnd.randbytes(1 << 20))
    # stored, not deflated: random bytes do not compress, and the client's
    # zlib time is not what the row measures (the server inflates either
    # way)
    git.run("-c", "core.looseCompression=0", "add", "big.bin", cwd=work)
    git.run("commit", "-q", "-m", "a %d MB file" % BIGFILE_MB, cwd=work)
    ctx.bigfile = (base, work)
    return ctx.bigfile


def sc_push_bigfile():
    """`git push` of one commit adding a BIGFILE_MB MB file of random bytes
    onto a copy (hard links) of a small repository: what a push of one big
    object costs the server, above all in memory (the whole object must not
    be held)."""
    def prepare(ctx, side, repo):
        base, _work = bigfile_source(ctx)
        target = push_target(ctx, "bigfile")
        shutil.copytree(base, target, copy_function=os.link)
        allow_push(ctx, target)
        return [target]

    def run(ctx, side, repo, dests):
        _base, work = bigfile_source(ctx)
        url = side.url(dests[0].name[:-len(".git")])
        return client_push(ctx, ["-C", work, "-c", "pack.compression=0",
                                 "push", "-q", url, "main:main"])

    def check(ctx, side, repo, dests, res):
        if not res["ok"]:
            return None
        _base, work = bigfile_source(ctx)
        target = dests[0]
        want = ctx.git.run("rev-parse", "main", cwd=work).strip()
        got = ctx.git.run("rev-parse", "main", cwd=target).strip()
        if got != want:
            return "main is %s after the push, not %s" % (got, want)
        return pushed_connected(ctx, target, res)
    return prepare, run, check, remove_dests


# (name, label, factory, which repos: "all", "first", "refs", "fetchable",
# "push", "hostile", "big" (the big repository, in the full run only),
# "own": once, on a repository the scenario makes itself, in the full run
# only)
SCENARIOS = [
    ("clone-v2", "full clone v2", lambda: sc_clone(2), "all"),
    ("clone-v0", "full clone v0", lambda: sc_clone(0), "all"),
    ("clone-blobless", "blobless clone", lambda: sc_clone(2, 1, "blob:none"),
     "all"),
    ("clone-treeless", "treeless clone", lambda: sc_clone(2, 1, "tree:0"),
     "all"),
    ("shallow-1", "clone --depth 1", lambda: sc_clone_shallow(1), "all"),
    ("fetch-v2", "fetch, 150 behind", lambda: sc_fetch(2), "fetchable"),
    ("ls-remote", "ls-remote x%d" % LS_REMOTE_N,
     lambda: sc_ls_remote(LS_REMOTE_N), "all"),
    ("refs-rps", "info/refs+ls-refs %ds" % DURATION, sc_refs_throughput,
     "refs"),
    ("clone-x%d" % CONCURRENCY, "%d clones at once" % CONCURRENCY,
     lambda: sc_clone(2, CONCURRENCY), "first"),
    ("raw-x%d" % CONCURRENCY, "%d raw fetches at once" % CONCURRENCY,
     lambda: sc_raw_fetch(CONCURRENCY), "all"),
    # issue 19: a whole-pack clone's pack against the same .pack sent as a
    # static file
    ("raw-1", "one raw fetch", lambda: sc_raw_fetch(1), "static"),
    ("static-pack", "the .pack, static GET", lambda: sc_static_pack(False),
     "static"),
    ("static-index", "the .pack, static GET | index-pack",
     lambda: sc_static_pack(True), "static"),
    # issue 20: a clone whose base pack comes from an edge (packfile-uris),
    # the origin's part
    ("clone-uris", "clone, base from an edge (packfile-uris)", sc_uri_clone,
     "static"),
    # the full run only (not BENCH_QUICK, so not make bench-smoke)
    ("push-150", "push, 150 commits", lambda: sc_push(False), "push"),
    ("push-full", "push --mirror, empty", lambda: sc_push(True), "push"),
    ("push-bigfile", "push, one %d MB file" % BIGFILE_MB, sc_push_bigfile,
     "own"),
    ("hostile-wants", "%dk made-up wants, gzip" % (HOSTILE_WANTS // 1000),
     lambda: sc_hostile("wants"), "hostile"),
    ("hostile-haves", "%dk haves, multi_ack" % (HOSTILE_HAVES // 1000),
     lambda: sc_hostile("haves"), "hostile"),
    ("hostile-deepen-relative", "%d shallows, deepen-relative"
     % HOSTILE_SHALLOWS, lambda: sc_hostile("deepen-relative"), "hostile"),
    ("hostile-deepen-not", "%d deepen-not" % HOSTILE_DEEPEN_NOT,
     lambda: sc_hostile("deepen-not"), "hostile"),
    # issue 19: the pack cache (the module's /gitc/), identical full
    # fetches of the big repository; raw-x32 is the same without the cache
    # (the wall figure cache-x32 is held to)
    ("raw-x%d" % CACHE_CONCURRENCY, "%d raw fetches at once"
     % CACHE_CONCURRENCY, lambda: sc_raw_fetch(CACHE_CONCURRENCY), "big"),
    ("cache-x%d" % CACHE_CONCURRENCY, "%d raw fetches at once, pack cache"
     % CACHE_CONCURRENCY, lambda: sc_cached_fetch(CACHE_CONCURRENCY), "big"),
    ("cache-seq", "%d raw fetches in a row, pack cache (git: %d fetches "
     "x%g)" % (CACHE_SEQ, CACHE_SEQ_REF, CACHE_SEQ / CACHE_SEQ_REF),
     lambda: sc_cached_fetch(1, CACHE_SEQ, CACHE_SEQ_REF), "big"),
]


# The rows of the issue 18 layouts (bench_layouts.py): what a layout
# changes, not every request shape again
LAYOUT_ROWS = ("clone-v2", "fetch-v2", "shallow-1", "clone-blobless",
               "clone-treeless")
ROWS = {"layout": LAYOUT_ROWS,
        "refs": LAYOUT_ROWS + ("ls-remote", "refs-rps")}


def in_flight(sname):
    """The fetches at once of a "<kind>-x<N>" row."""
    return int(sname.rsplit("-x", 1)[1])


def row_allowed(rows, sname):
    """Whether a repository whose info["rows"] is `rows` has this row."""
    return rows is None or sname in ROWS[rows]


def selected(name, rows):
    """Whether BENCH_ONLY selects some row of this repository."""
    return not ONLY or any(
        o in "%s/%s" % (name, sname) for o in ONLY
        for sname, _, _, _ in SCENARIOS if row_allowed(rows, sname))


def plan(repos, ctx):
    """[(repo, scenario name, label, factory)] in run order."""
    names = [name for name, _, _ in repos]
    # the rows of one repository only ("clone-x16"): the first of those
    # that have every row
    first = next((name for name, _, info in repos
                  if info.get("rows") is None), None)
    out = []
    for repo in names:
        rows = ctx.repos[repo][1].get("rows")
        for sname, label, factory, where in SCENARIOS:
            if not row_allowed(rows, sname):
                continue
            ok = where == "all"
            if where == "first":
                ok = repo == first
            elif where == "refs":
                # the advertisement depends on the refs, not on the packs:
                # the corpus (617 refs) and the generated repository
                ok = repo != "nginx-nobitmap"
            elif where == "fetchable":
                ok = repo in ctx.behind
            elif where == "static":
                # a repository of one pack, which a clone sends whole
                ok = repo in ("nginx-bitmap", "small")
            elif where == "hostile":
                # the full run only: request shapes, not repository shapes
                ok = not QUICK and repo == "nginx-bitmap"
            elif where == "big":
                # the full run only: the pack cache rows
                ok = not QUICK and repo == "big"
            elif where == "push":
                ok = (not QUICK and repo == "nginx-bitmap"
                      and repo in ctx.behind)
            if ok and ONLY and not any(o in "%s/%s" % (repo, sname)
                                       for o in ONLY):
                ok = False
            if ok:
                out.append((repo, sname, label, factory))
    for sname, label, factory, where in SCENARIOS:
        if where == "own" and not QUICK and (
                not ONLY or any(o in "%s/%s" % (BIGFILE_REPO, sname)
                                for o in ONLY)):
            out.append((BIGFILE_REPO, sname, label, factory))
    return out


# --------------------------------------------------------------------------
# an independent check of the reference's CPU

def direct_backend_check(ctx, root, repos, results, order, runs=3):
    """Runs git http-backend directly (CGI environment, the same fetch
    request the raw clients send) and takes its CPU from wait4(), which
    includes upload-pack and pack-objects because http-backend waits for
    them: what `/usr/bin/time git http-backend` reports. The reference side
    of a raw fetch must cost that plus nginx and fcgiwrap."""
    names = [n for n, _, _ in repos]
    repo = "nginx-bitmap" if "nginx-bitmap" in names else names[0]
    raw = [k for k in order if k[0] == repo and k[1].startswith("raw-x")]
    body = loadgen.fetch_body(ctx.wants[repo])
    req = ctx.tmp / "direct-request"
    req.write_bytes(body)
    env = dict(ctx.git.env)
    env.update({"GIT_PROJECT_ROOT": str(root),
                "PATH_INFO": "/%s.git/git-upload-pack" % repo,
                "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": "application/x-git-upload-pack-request",
                "CONTENT_LENGTH": str(len(body)),
                "GIT_PROTOCOL": "version=2", "QUERY_STRING": "",
                "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1"})
    cpus = []
    for _ in range(runs):
        with open(req, "rb") as f:
            p = subprocess.Popen([servers.HTTP_BACKEND], stdin=f,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=env)
            code, cpu = Client.wait(p)
        if code != 0:
            return "direct git http-backend run failed (%d)" % code
        cpus.append(cpu)
    d = statistics.median(cpus)
    text = ("git http-backend run directly (wait4, as /usr/bin/time): "
            "%.3f s per full fetch of %s" % (d, repo))
    if raw:
        rounds = [r for r in results[raw[0]]["reference"] if r.get("ok")]
        if rounds:
            n = in_flight(raw[0][1])
            per = statistics.median([r["cpu"] / n for r in rounds])
            per_proc = statistics.median([r["cpu_proc"] / n for r in rounds])
            text += ("; reference side per fetch in %s: %.3f s by the "
                     "accounting used (git + fcgiwrap + nginx), %.3f s by "
                     "/proc cutime" % (raw[0][1], per, per_proc))
    return text


# --------------------------------------------------------------------------
# perf

WARM_UP_TRIES = 8


def warm_up(side, ctx, repo):
    """Raw fetches, `git clone --mirror`s whole, blobless and treeless, then
    the fetch-v2 row's fetch, of repo until every worker of the side's nginx
    has served one of each (the access log's $pid): a module worker keeps its
    own caches (the count and plan of a clone of every ref with each filter,
    the commits parsed and deltas made for a fetch), and a row's rounds land
    on any worker. git http-backend keeps none, and the reference is
    warmed the same way. Returns what went wrong, or None."""
    def fetches():
        got = loadgen.raw_fetch_many(side.port, side.path(repo),
                                     ctx.wants[repo], servers.WORKER_PROCESSES)
        bad = [r for r in got if not isinstance(r, dict)]
        return str(bad[0]) if bad else None

    def clones(*opts):
        dests = [ctx.dest("warm") for _ in range(servers.WORKER_PROCESSES)]
        try:
            res = ctx.client.run_many(
                [["clone", "-q", "--mirror", *opts, side.url(repo), d]
                 for d in dests])
        finally:
            for d in dests:
                rmtree(d)
        return None if res["ok"] else res["error"]

    def behind_fetches():
        # the fetch-v2 row's fetch: a worker keeps the commits it parsed and
        # the deltas it made for it (as for every fetch after a push)
        dests = [ctx.dest("warm") for _ in range(servers.WORKER_PROCESSES)]
        try:
            for d in dests:
                shutil.copytree(ctx.behind[repo], d, copy_function=os.link)
            res = ctx.client.run_many(
                [["-C", d, "fetch", "-q", "--prune", side.url(repo),
                  "+refs/*:refs/*"] for d in dests])
        finally:
            for d in dests:
                rmtree(d)
        return None if res["ok"] else res["error"]

    kinds = [("fetch", fetches), ("clone", clones),
             ("blobless clone", lambda: clones("--filter=blob:none")),
             ("treeless clone", lambda: clones("--filter=tree:0"))]
    if repo in ctx.behind:
        kinds.append(("fetch 150 behind", behind_fetches))
    for what, make in kinds:
        served = set()
        for _ in range(WARM_UP_TRIES):
            side.access.read_new()
            err = make()
            side.quiesce()
            if err:
                return "%s: %s" % (what, err)
            for line in side.access.read_new().splitlines():
                parts = line.split()
                if len(parts) >= 7 and parts[4] == "POST":
                    served.add(parts[6])
            if len(served) >= servers.WORKER_PROCESSES:
                break
        else:
            # only the module's workers keep anything to warm
            if side.name == "module":
                return "%d %s rounds reached %d of %d workers" % (
                    WARM_UP_TRIES, what, len(served),
                    servers.WORKER_PROCESSES)
    return None


def perf_works():
    if not shutil.which("perf"):
        return False
    r = subprocess.run(["perf", "stat", "-e", "cpu-clock", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def perf_profile(side, ctx, name, action, out_dir):
    """Flat profile (cpu-clock samples of every thread of the module's nginx
    workers) while action() runs. Returns (action's result, top lines,
    report path)."""
    work = Path(tempfile.mkdtemp(dir=ctx.tmp))
    data = out_dir / ("perf-%s.data" % name)
    for old in (data, Path(str(data) + ".old")):
        if old.exists():
            old.unlink()
    ctl, ack = work / "ctl", work / "ack"
    os.mkfifo(ctl)
    os.mkfifo(ack)
    pids = ",".join(str(p) for p in side.nginx.worker_pids())
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-D", "-1",
         "--control", "fifo:%s,%s" % (ctl, ack), "-p", pids,
         "-o", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    res = None
    try:
        # perf starts disabled (-D -1); enabling it through the control
        # fifo and reading its ack means it is recording
        with open(ctl, "w") as c, open(ack) as a:
            c.write("enable\n")
            c.flush()
            a.readline()
            res = action()
            side.quiesce()
            c.write("disable\n")
            c.flush()
            a.readline()
    finally:
        perf.send_signal(2)
        try:
            perf.wait(timeout=60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()
        rmtree(work)
    def perf_report(sort):
        rep = subprocess.run(
            ["perf", "report", "-i", str(data), "--stdio", "--no-children",
             "--sort", sort, "--percent-limit", "0.3"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = []
        for line in rep.stdout.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            # perf pads its columns to the widest symbol: squeeze them
            parts = line.split()
            while parts and parts[-1] == "-":
                parts.pop()
            lines.append("  ".join(parts))
        return lines
    by_dso = perf_report("dso")
    top = perf_report("dso,symbol")
    report = out_dir / ("perf-%s.txt" % name)
    report.write_text("# by shared object\n" + "\n".join(by_dso)
                      + "\n\n# by symbol\n" + "\n".join(top) + "\n")
    return res, by_dso, top, report


def profiles(side, ctx, repos):
    """The module during one full clone of the corpus and of the big
    repository, and during a refs throughput run."""
    out = {}
    names = [n for n, _, _ in repos]
    jobs = []
    for repo in [n for n in ("nginx-bitmap", "big") if n in names] \
            or names[:1]:
        def clone(repo=repo):
            dest = ctx.dest("perf-clone")
            try:
                return ctx.client.run_many([["clone", "-q", "--mirror",
                                             side.url(repo), dest]])
            finally:
                rmtree(dest)
        jobs.append(("clone-%s" % repo, "one full v2 clone of %s" % repo,
                     clone))
    repo = "nginx-bitmap" if "nginx-bitmap" in names else names[0]

    def refs(repo=repo):
        r = loadgen.refs_throughput(side.port, side.path(repo),
                                    THROUGHPUT_CONNECTIONS, 3, ctx.tmp)
        return {"ok": r["errors"] == 0, "throughput": r}
    jobs.append(("refs-%s" % repo, "3 s of info/refs + ls-refs on %s"
                 % repo, refs))
    for name, what, action in jobs:
        try:
            res, by_dso, top, path = perf_profile(side, ctx, name, action,
                                                  OUT)
            out[name] = {"what": what, "ok": bool(res and res.get("ok")),
                         "top": top[:40], "by_dso": by_dso[:10],
                         "report": str(path.relative_to(TOP))}
        except Exception as e:
            out[name] = {"what": what, "ok": False, "error": str(e)}
    return out


# --------------------------------------------------------------------------
# results

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


METRICS = ("cpu", "cpu_proc", "cpu_user", "cpu_sys", "wall", "rss_peak",
           "rss_growth", "anon_peak", "anon_growth", "bytes_sent",
           "bytes_received",
           "requests", "client_cpu", "other_cpu", "objects", "pack_bytes",
           "fetches", "cache_generations", "cache_updating", "cache_hits")


def medians(rounds):
    ok = [r for r in rounds if r.get("ok")]
    out = {"rounds": len(rounds), "ok_rounds": len(ok)}
    for m in METRICS:
        out[m] = median([r.get(m) for r in ok])
    tp = [r["throughput"] for r in ok if "throughput" in r]
    if tp:
        out["rps"] = median([t["rps"] for t in tp])
        # divided by the requests the server logged: the completed ones and
        # those cut (499) when the load generator stops, which cost CPU too
        out["cpu_per_request"] = median(
            [r["cpu"] / r["requests"] for r in ok if r["requests"]])
        out["bytes_per_request"] = median(
            [r["bytes_sent"] / r["requests"] for r in ok if r["requests"]])
    return out


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def fmt(v, kind):
    if v is None:
        return "-"
    if kind == "s":
        return "%.3f" % v if v < 10 else "%.2f" % v
    if kind == "mb":
        return "%.1f" % (v / 1048576.0)
    if kind == "x":
        return "%.2f" % v if v < 100 else "%.0f" % v
    if kind == "n":
        return "%.0f" % v
    if kind == "ms":
        return "%.3f" % (v * 1000.0)
    return str(v)


def table(headers, rows, align=None):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = []

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            out.append(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]))
        return "  ".join(out).rstrip()
    lines.append(line(headers))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(line(r))
    return "\n".join(lines)


def report(summary, order):
    rows = []
    for key in order:
        s = summary[key]
        m, r = s["module"], s["reference"]
        per_req = m.get("rps") is not None or r.get("rps") is not None
        cpu_ratio = fmt(ratio(m["cpu"], r["cpu"]), "x")
        sent_ratio = fmt(ratio(m["bytes_sent"], r["bytes_sent"]), "x")
        if per_req:
            # the sides served different numbers of requests in the same
            # time: the ratios are per request
            cpu_ratio = fmt(ratio(m.get("cpu_per_request"),
                                  r.get("cpu_per_request")), "x") + "*"
            sent_ratio = fmt(ratio(m.get("bytes_per_request"),
                                   r.get("bytes_per_request")), "x") + "*"
        rows.append([
            key[0], s["label"],
            fmt(m["cpu"], "s"), fmt(r["cpu"], "s"), cpu_ratio,
            fmt(m["wall"], "s"), fmt(r["wall"], "s"),
            fmt(ratio(m["wall"], r["wall"]), "x"),
            fmt(m["rss_peak"], "mb"), fmt(r["rss_peak"], "mb"),
            fmt(m["rss_growth"], "mb"), fmt(r["rss_growth"], "mb"),
            fmt(m["bytes_sent"], "mb"), fmt(r["bytes_sent"], "mb"),
            sent_ratio,
            "%d/%d %d/%d" % (m["ok_rounds"], m["rounds"], r["ok_rounds"],
                             r["rounds"]),
        ])
    headers = ["repo", "scenario", "CPU mod", "CPU ref", "mod/ref",
               "wall mod", "wall ref", "mod/ref", "RSSpk mod", "RSSpk ref",
               "RSS+ mod", "RSS+ ref", "MBsent mod", "MBsent ref",
               "mod/ref", "ok"]
    return table(headers, rows) + (
        "\n* per request (the sides serve different numbers of requests in "
        "the same time)" if any(summary[k]["module"].get("rps") is not None
                                for k in order) else "")


def throughput_report(summary, order):
    rows = []
    for key in order:
        s = summary[key]
        m, r = s["module"], s["reference"]
        if m.get("rps") is None and r.get("rps") is None:
            continue
        rows.append([key[0], s["label"], fmt(m.get("rps"), "n"),
                     fmt(r.get("rps"), "n"),
                     fmt(ratio(m.get("rps"), r.get("rps")), "x"),
                     fmt(m.get("cpu_per_request"), "ms"),
                     fmt(r.get("cpu_per_request"), "ms"),
                     fmt(ratio(m.get("cpu_per_request"),
                               r.get("cpu_per_request")), "x")])
    if not rows:
        return ""
    return table(["repo", "scenario", "req/s mod", "req/s ref", "mod/ref",
                  "CPU ms/req mod", "CPU ms/req ref", "mod/ref"], rows)


def pack_report(summary, order):
    """Objects and bytes of the pack itself, where the client saw it."""
    rows = []
    for key in order:
        s = summary[key]
        m, r = s["module"], s["reference"]
        if m.get("objects") is None and r.get("objects") is None:
            continue
        rows.append([key[0], s["label"], fmt(m.get("objects"), "n"),
                     fmt(r.get("objects"), "n"),
                     fmt(m.get("pack_bytes"), "mb"),
                     fmt(r.get("pack_bytes"), "mb"),
                     fmt(ratio(m.get("pack_bytes"), r.get("pack_bytes")),
                         "x")])
    if not rows:
        return ""
    return table(["repo", "scenario", "objects mod", "objects ref",
                  "pack MB mod", "pack MB ref", "mod/ref"], rows)


def push_report(summary, order):
    """What the push rows sent to each side (the pack, in the request
    bodies), the client's CPU (pack-objects), and the servers' peak RSS
    growth with its anonymous part (without the file-backed pages of what
    they map: the pack being indexed)."""
    rows = []
    for key in order:
        if not key[1].startswith("push"):
            continue
        s = summary[key]
        m, r = s["module"], s["reference"]
        rows.append([key[0], s["label"], fmt(m.get("bytes_received"), "mb"),
                     fmt(r.get("bytes_received"), "mb"),
                     fmt(m.get("client_cpu"), "s"),
                     fmt(r.get("client_cpu"), "s"),
                     fmt(m.get("rss_growth"), "mb"),
                     fmt(r.get("rss_growth"), "mb"),
                     fmt(m.get("anon_growth"), "mb"),
                     fmt(r.get("anon_growth"), "mb")])
    if not rows:
        return ""
    return table(["repo", "scenario", "MBrecv mod", "MBrecv ref",
                  "client CPU mod", "client CPU ref", "RSS+ mod", "RSS+ ref",
                  "anon+ mod", "anon+ ref"], rows)


def per_clone_report(summary, order):
    rows = []
    for key in order:
        s = summary[key]
        n = s.get("in_flight")
        if not n:
            continue
        m, r = s["module"], s["reference"]

        def per(side, metric):
            v = side.get(metric)
            return None if v is None else v / n
        rows.append([key[0], s["label"], str(n),
                     fmt(per(m, "rss_growth"), "mb"),
                     fmt(per(r, "rss_growth"), "mb"),
                     fmt(per(m, "anon_growth"), "mb"),
                     fmt(per(r, "anon_growth"), "mb")])
    return table(["repo", "scenario", "in flight", "RSS+/clone mod",
                  "RSS+/clone ref", "anon+/clone mod", "anon+/clone ref"],
                 rows)


def cache_report(summary, order):
    """The module's pack cache requests by status in the cache rows
    (medians), and what the reference ran of them."""
    rows = []
    for key in order:
        s = summary[key]
        m, r = s["module"], s["reference"]
        if not key[1].startswith("cache-"):
            continue
        ref = fmt(r.get("fetches"), "n")
        if r.get("fetches") and m.get("fetches") \
                and r["fetches"] != m["fetches"]:
            ref += " (x%g)" % (m["fetches"] / r["fetches"])
        rows.append([key[0], s["label"], fmt(m.get("fetches"), "n"),
                     fmt(m.get("cache_generations"), "n"),
                     fmt(m.get("cache_updating"), "n"),
                     fmt(m.get("cache_hits"), "n"), ref])
    if not rows:
        return ""
    return table(["repo", "scenario", "fetches mod", "generated (miss+"
                  "expired)", "updating", "hit", "fetches ref"], rows)


# (what it measures, repo, scenario, metric, kind, op, target). kind:
#   "ratio"   module/reference of the metric (medians of the same run)
#   "vs_ref"  the module's figure against the reference's, directly
#   "mb"      the module's figure alone, in MB
#   "n"       the module's figure alone, a count
#   "of_row:<row>"  the module's figure over the module's in <row> (same
#             repository, same run)
# op: "<=", ">=" or "==".
GOALS = [
    # issue 4
    ("full clone, server CPU (bitmap)", "nginx-bitmap", "clone-v2", "cpu",
     "ratio", "<=", 0.25),
    ("full clone, server CPU (no bitmap)", "nginx-nobitmap", "clone-v2",
     "cpu", "ratio", "<=", 0.5),
    ("incremental fetch, server CPU", "nginx-bitmap", "fetch-v2", "cpu",
     "ratio", "<=", 0.5),
    ("info/refs + ls-refs, req/s", "nginx-bitmap", "refs-rps", "rps",
     "ratio", ">=", 50.0),
    ("16 concurrent clones, wall", "nginx-bitmap", "clone-x16", "wall",
     "ratio", "<=", 0.5),
    ("16 concurrent raw fetches, wall", "nginx-bitmap", "raw-x16", "wall",
     "ratio", "<=", 0.5),
    # issue 17
    ("mirror push of the corpus, server CPU", "nginx-bitmap", "push-full",
     "cpu", "ratio", "<=", 0.8),
    ("mirror push of the corpus, wall", "nginx-bitmap", "push-full", "wall",
     "ratio", "<=", 0.7),
    ("mirror push of the corpus, peak RSS growth (MB)", "nginx-bitmap",
     "push-full", "rss_growth", "vs_ref", "<=", None),
    ("push of 150 commits, server CPU", "nginx-bitmap", "push-150", "cpu",
     "ratio", "<=", 0.5),
    ("push of one %d MB file, module peak RSS growth (MB)" % BIGFILE_MB,
     BIGFILE_REPO, "push-bigfile", "rss_growth", "mb", "<=", 64),
]
# issue 18: repositories as servers hold them (bench_layouts.py); the quick
# run's small-* layouts have no goals (too small to say anything)
BITMAPPED = ("nginx-bitmap", "nginx-partial", "nginx-midx", "refs50k")
NOT_BITMAPPED = ("nginx-nobitmap", "nginx-pushes", "big")
GOALS += [("full clone, server CPU (pack or MIDX bitmap) (server layout)", repo,
           "clone-v2", "cpu", "ratio", "<=", 0.1) for repo in BITMAPPED]
GOALS += [("full clone, server CPU (no bitmap) (server layout)", repo, "clone-v2",
           "cpu", "ratio", "<=", 0.5) for repo in NOT_BITMAPPED]
GOALS += [("incremental fetch, server CPU (server layout)", repo, "fetch-v2", "cpu",
           "ratio", "<=", 0.3) for repo in BITMAPPED + NOT_BITMAPPED]
GOALS += [(label + ", server CPU (server layout)", repo, sc, "cpu", "ratio", "<=", 0.5)
          for sc, label in (("shallow-1", "depth 1 clone"),
                            ("clone-blobless", "blobless clone"),
                            ("clone-treeless", "treeless clone"))
          for repo in BITMAPPED + NOT_BITMAPPED]
# issue 19: a whole-pack clone (nginx-bitmap's is its one .pack file) costs
# the module at most twice what stock nginx spends sending that .pack as a
# static file in the same run
GOALS += [("whole-pack %s, module server CPU over a static send of the .pack"
           % what, "nginx-bitmap", sc, "cpu", "of_row:" + static, "<=", 2.0)
          for sc, what, static in (("raw-1", "fetch", "static-pack"),
                                   ("clone-v2", "clone", "static-index"))]
# issue 19: the pack cache, identical full fetches of the big repository
# (sc_cached_fetch). The reference made CACHE_SEQ_REF of the CACHE_SEQ
# fetches in a row, its figures scaled (the row's label says so). The RSS
# growth per fetch in flight of cache-x32 and raw-x32 is checked with the
# other "-x" rows' (goals_report).
GOALS += [
    ("%d identical fetches in a row, pack cache, server CPU (git: %d "
     "fetches x%g)" % (CACHE_SEQ, CACHE_SEQ_REF, CACHE_SEQ / CACHE_SEQ_REF),
     "big", "cache-seq", "cpu", "ratio", "<=", 0.02),
    ("%d identical fetches at once, pack cache, server CPU"
     % CACHE_CONCURRENCY, "big", "cache-x%d" % CACHE_CONCURRENCY, "cpu",
     "ratio", "<=", 0.05),
    ("%d identical fetches at once, pack cache, generations of the pack"
     % CACHE_CONCURRENCY, "big", "cache-x%d" % CACHE_CONCURRENCY,
     "cache_generations", "n", "==", 1),
    ("%d identical fetches at once, pack cache, module wall over without "
     "the cache" % CACHE_CONCURRENCY, "big", "cache-x%d" % CACHE_CONCURRENCY,
     "wall", "of_row:raw-x%d" % CACHE_CONCURRENCY, "<=", 1.0),
    ("%d identical fetches in a row, pack cache, module RSS growth (MB; one "
     "in flight)" % CACHE_SEQ, "big", "cache-seq", "rss_growth", "mb", "<=",
     16),
]


def rounds_failed(s):
    """"" when every round of both sides succeeded, else what failed."""
    bad = ["%s %d/%d rounds ok" % (side, s[side]["ok_rounds"],
                                   s[side]["rounds"])
           for side in SIDES
           if not s[side]["rounds"] or s[side]["ok_rounds"] < s[side]["rounds"]]
    return ", ".join(bad)


def goal_figures(s, metric, kind, target, other=None):
    """(the value compared, the reference value or target compared with,
    the measured text, the target text) of one goal. other: the summary of
    the row an "of_row:" goal compares with."""
    m, r = s["module"].get(metric), s["reference"].get(metric)
    if kind.startswith("of_row:"):
        o = other["module"].get(metric) if other else None
        v = ratio(m, o)
        return v, target, "%s (%s vs %s)" % (fmt(v, "x") + "x", fmt(m, "s"),
                                             fmt(o, "s")), \
            "%gx %s" % (target, kind[len("of_row:"):])
    if kind == "ratio":
        v = ratio(m, r)
        return v, target, fmt(v, "x") + "x", "%gx" % target
    if kind == "vs_ref":
        return m, r, "%s vs %s" % (fmt(m, "mb"), fmt(r, "mb")), \
            "the reference's"
    if kind == "mb":
        return None if m is None else m / 1048576.0, target, fmt(m, "mb"), \
            "%g MB" % target
    if kind == "n":
        return m, target, fmt(m, "n"), "%g" % target
    raise ValueError(kind)


def goals_report(summary):
    rows = []
    for label, repo, sc, metric, kind, op, goal in GOALS:
        s = summary.get((repo, sc))
        if not s:
            continue
        other = None
        if kind.startswith("of_row:"):
            other = summary.get((repo, kind[len("of_row:"):]))
            if not other:
                continue
        v, against, shown, target = goal_figures(s, metric, kind, goal, other)
        failed = rounds_failed(s) or (other and rounds_failed(other))
        if failed:
            # a median of the rounds that worked says nothing of the others
            verdict = "NOT met (%s)" % failed
        elif v is None or against is None:
            verdict = "-"
        else:
            verdict = "met" if (v <= against if op == "<=" else
                                v == against if op == "==" else
                                v >= against) else "NOT met"
        rows.append([label, "%s/%s" % (repo, sc), shown,
                     "%s %s" % (op, target), verdict])
    for key, s in summary.items():
        n = s.get("in_flight")
        if n and n > 1:
            g = s["module"].get("rss_growth")
            v = None if g is None else g / n / 1048576.0
            failed = rounds_failed(s)
            rows.append(["module RSS growth per clone in flight (MB)",
                         "%s/%s" % key, "-" if v is None else "%.1f" % v,
                         "<= 16", "NOT met (%s)" % failed if failed else
                         "-" if v is None else
                         ("met" if v <= 16 else "NOT met")])
    if not rows:
        return ""
    return table(["goal", "row", "measured", "target", ""], rows)


METHOD = """\
Method:
  server CPU  = user+system CPU of everything each side ran during the
                scenario, until it is idle again (all connections closed, no
                git process left). module: its nginx (master, workers, thread
                pool). reference: its nginx (it proxies every byte over
                FastCGI), fcgiwrap and every git http-backend / upload-pack /
                pack-objects. Source: %(cpu_method)s.
  wall        = from starting the client(s) to the last one exiting; the
                clients (git clone, index-pack) share the machine's %(ncpu)d
                cores with the server, so wall times include client work.
  RSSpk/RSS+  = peak of the summed RSS of the side's processes (sampled
                every 10 ms), and that peak minus the idle RSS before the
                scenario (per-clone figures below divide by clones in flight).
  MBsent      = $bytes_sent of the side's nginx access log (headers + body).
  Before the rounds, each repository is fetched (a raw fetch, a clone
  --mirror whole, blobless and treeless, the 150-behind fetch) on each side
  until every nginx worker has served it (a
  module worker has its own caches, git_smart_http_cache_size %(cache)s
  here, enough for every bench repository; git http-backend keeps none):
  the rows are a warm server's figures, not a first clone's.
  Figures are medians over %(rounds)d round(s); the side that goes first
  alternates from scenario to scenario and from round to round. Every row
  that gives objects compares the module's object set with the
  reference's in the same round; a goal is met only when every round of
  both sides succeeded.
"""


def env_info(module, loaded):
    """What was measured: recorded when the run starts (the module file may
    be rebuilt while the benchmark runs; nginx loads the private copy)."""
    import hashlib
    h = hashlib.sha256(Path(loaded).read_bytes()).hexdigest()
    def out(cmd):
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               cwd=TOP)
            return r.stdout.strip()
        except OSError as e:
            return str(e)
    return {
        "git": out(["git", "--version"]),
        "nginx": out([servers.NGINX_BIN, "-v"]),
        "module": str(module.relative_to(TOP)) if module.is_relative_to(TOP)
        else str(module),
        "module_mtime": time.strftime("%Y-%m-%dT%H:%M:%S",
                                      time.localtime(Path(loaded).stat()
                                                     .st_mtime)),
        "module_sha256": h,
        "head": out(["git", "rev-parse", "HEAD"]),
        # the module may be built from a work tree with changes
        "dirty": [x.strip() for x in out(
            ["git", "status", "--porcelain", "--", "src", "ngx_module",
             "config"]).splitlines()],
        "cpus": os.cpu_count(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "wrk": loadgen.have_wrk(),
        "quick": QUICK, "rounds": ROUNDS,
    }


# --------------------------------------------------------------------------
# main

def main():
    t_start = time.monotonic()
    module = module_path()
    if not module.is_file():
        raise SystemExit("module not found: %s (run `make`, or set GSH_MODULE)"
                         % module)
    OUT.mkdir(parents=True, exist_ok=True)
    git = GitEnv(OUT / "home")
    extra = [p for p in os.environ.get("BENCH_REPO", "").split(os.pathsep)
             if p]
    log("bench: %s, %d round(s)%s" % ("QUICK" if QUICK else "full", ROUNDS,
                                      ", only %s" % ONLY if ONLY else ""))
    repos = bench_repos.prepare(git, OUT / "repos", QUICK, extra,
                                selected=selected, layouts=LAYOUTS)
    for name, path, info in repos:
        log("  %-16s %7d objects (%d loose), %d pack(s), %d bitmap(s)%s%s, "
            "%.1f MB of packs, %d refs" % (
                name, info["objects"], info["loose"], info["packs"],
                info["bitmaps"], " (MIDX)" if info["midx"] else "",
                ", commit-graph" if info["commit_graph"] else "",
                info["pack_bytes"] / 1048576.0, info["refs"]))
    # this run's servers (conf, logs) and client work; a private directory,
    # kept as build/bench/last-run[-quick] afterwards for inspection
    run_dir = OUT / ("run-%d" % os.getpid())
    rmtree(run_dir)
    run_dir.mkdir(parents=True)
    tmp = run_dir / "tmp"
    tmp.mkdir()
    # nginx loads a private copy: `make` replaces the module by a rename, and
    # perf could not name the functions of a deleted file
    module_copy = run_dir / module.name
    shutil.copy2(module, module_copy)
    run_env = env_info(module, module_copy)
    client = Client(git, tmp)
    # the refs of the pack cache rows that an interrupted run left behind
    # (before Ctx reads every repository's refs)
    for name, path, info in repos:
        drop_cache_refs(git, path)
    ctx = Ctx(git, client, tmp, repos)
    for name, path, info in repos:
        count = int(git.run("rev-list", "--count", "--first-parent", "HEAD",
                            cwd=path).strip())
        if count > bench_repos.BEHIND + 1:
            ctx.behind[name] = bench_repos.prepare_behind(
                git, OUT / "clients", name, path, info["key"])

    cg = measure.CgroupParent()
    groups = {s: measure.Group(s, cg.child(s) if cg.path else None,
                               cg.kind) for s in SIDES}
    if cg.kind == "v2":
        cpu_method = ("a cgroup v2 per side, cpu.stat usage_usec (exited "
                      "processes included)")
    elif cg.kind == "v1":
        cpu_method = ("a cgroup v1 cpuacct group per side, cpuacct.usage "
                      "(exited processes included)")
    else:
        cpu_method = ("/proc utime+stime+cutime+cstime over each side's "
                      "process tree, because no cgroup could be made (%s). "
                      "WARNING: this misses the reference's git processes "
                      "(fcgiwrap ignores SIGCHLD, so they reach no cutime): "
                      "the reference is undercounted" % cg.why_not)
    root = OUT / "repos"
    ctx.root = root
    # push targets an interrupted run left behind
    for stale in root.glob(PUSH_TARGET_PREFIX + "*"):
        rmtree(stale)
    fcgi = servers.Fcgiwrap(run_dir / "fcgiwrap", FCGI_CHILDREN,
                            group=groups["reference"])
    ngx_mod = servers.Nginx(run_dir / "nginx-module",
                            (servers.MODULE_LOCATION +
                             servers.CACHE_LOCATION +
                             servers.OFFLOAD_LOCATION +
                             servers.STATIC_LOCATION)
                            .replace("{root}", str(root))
                            .replace("{published}",
                                     str(run_dir / "published")),
                            module=module_copy, group=groups["module"],
                            http_lines=servers.MODULE_HTTP,
                            status_locations=servers.METRICS_LOCATION)
    ngx_ref = servers.Nginx(run_dir / "nginx-reference",
                            (servers.REFERENCE_LOCATION +
                             servers.STATIC_LOCATION)
                            .replace("{root}", str(root))
                            .replace("{sock}", str(fcgi.socket_path))
                            .replace("{backend}", servers.HTTP_BACKEND),
                            module=None, group=groups["reference"])
    results = {}
    summary = {}
    order = []
    problems = []
    perf_out = {}
    sanity = []
    edge = None
    try:
        fcgi.start()
        (run_dir / "published").mkdir()
        ngx_mod.start()
        ngx_ref.start()
        edge = servers.Edge(run_dir / "nginx-edge", ngx_mod.port)
        edge.start()
        ctx.edge_port = edge.port
        sides = {
            "module": Side("module", ngx_mod, groups["module"], "/git"),
            "reference": Side("reference", ngx_ref, groups["reference"],
                              "/ref", fcgiwrap=fcgi),
        }
        measure.wait_for(lambda: ngx_mod.status() and ngx_ref.status(), 30,
                         what="nginx to answer")
        groups["module"].roots = [ngx_mod.proc.pid]
        groups["reference"].roots = [ngx_ref.proc.pid, fcgi.proc.pid]
        for s in sides.values():
            s.settle_idle()
        log("servers: module nginx :%d, reference nginx :%d + fcgiwrap -c "
            "%d; CPU from %s" % (ngx_mod.port, ngx_ref.port, FCGI_CHILDREN,
                                 cpu_method))

        todo = plan(repos, ctx)
        # reachability and warm-up (page cache, the module's caches): raw
        # full fetches of every repository that a row uses, on each side,
        # not measured (BENCH_ONLY=push-bigfile needs none)
        used = {repo for repo, _, _, _ in todo}
        for name, _, _ in repos:
            if name not in used:
                continue
            for sname in SIDES:
                err = warm_up(sides[sname], ctx, name)
                if err:
                    problems.append("warm-up %s %s: %s" % (sname, name, err))
                    log("  warm-up %s %s FAILED: %s" % (sname, name, err))

        for repo, sname, label, factory in todo:
            key = (repo, sname)
            order.append(key)
            results[key] = {"module": [], "reference": []}
            summary[key] = {"label": label}
            if sname.startswith(("clone-x", "raw-x", "cache-x")):
                summary[key]["in_flight"] = in_flight(sname)
            elif sname in ("clone-v2", "clone-v0", "cache-seq"):
                summary[key]["in_flight"] = 1

        for rnd in range(ROUNDS):
            log("round %d/%d" % (rnd + 1, ROUNDS))
            for index, (repo, sname, label, factory) in enumerate(todo):
                key = (repo, sname)
                prepare, run, check, cleanup = factory()
                # which side goes first changes from one scenario to the
                # next and from one round to the next: over a run each side
                # is first about as often (a side that goes second finds
                # the page cache warmed by the first)
                side_order = SIDES if (rnd + index) % 2 == 0 \
                    else SIDES[::-1]
                line = []
                this_round = {}
                for sname_ in side_order:
                    side = sides[sname_]
                    dests = prepare(ctx, side, repo)
                    res = measured(side, lambda: run(ctx, side, repo, dests))
                    if res.get("ok"):
                        err = check(ctx, side, repo, dests, res)
                        if err:
                            res["ok"] = False
                            res["error"] = err
                    cleanup(ctx, dests)
                    res.pop("stdouts", None)
                    res["round"] = rnd + 1
                    res["first"] = sname_ == side_order[0]
                    results[key][sname_].append(res)
                    this_round[sname_] = res
                # the module's answer must be as complete as git's
                compare_sides(this_round)
                for sname_ in side_order:
                    res = this_round[sname_]
                    line.append("%s %s cpu %.3fs wall %.2fs%s" % (
                        sname_[:3], "ok" if res.get("ok") else "FAILED",
                        res["cpu"], res["wall"],
                        " (scaled x%g)" % res["scale"] if res.get("scale")
                        else ""))
                    if not res.get("ok"):
                        problems.append("round %d %s/%s %s: %s" % (
                            rnd + 1, repo, sname, sname_,
                            res.get("error", "?")))
                    for note in res.get("notes", []):
                        problems.append("round %d %s/%s %s: %s" % (
                            rnd + 1, repo, sname, sname_, note))
                    if res.get("error_log"):
                        problems.append("round %d %s/%s %s: error.log: %s" % (
                            rnd + 1, repo, sname, sname_,
                            res["error_log"][0]))
                log("  %-15s %-22s %s" % (repo, label, " | ".join(line)))

        # sanity checks of the instrument itself
        ign = [measure.ignores_sigchld(p) for p in
               servers.children_of(fcgi.proc.pid)]
        sanity.append("fcgiwrap's children ignore SIGCHLD: %s (so their git "
                      "children's CPU never reaches cutime/cstime, and /proc "
                      "accounting cannot see it)" % (
                          "yes" if ign and all(ign) else "no" if ign
                          else "unknown"))
        direct = direct_backend_check(ctx, root, repos, results, order)
        if direct:
            sanity.append(direct)
        bm = [results.get((r, "clone-v2"), {}).get("reference")
              for r in ("nginx-bitmap", "nginx-nobitmap")]
        if all(bm):
            a, b = (median([x["cpu"] for x in side if x.get("ok")])
                    for side in bm)
            if a is not None and b is not None:
                sanity.append(
                    "reference full clone CPU: %.3f s with a bitmap, %.3f s "
                    "without (DESIGN.md: about 0.2 s with one): the "
                    "reference %s the bitmap" % (
                        a, b, "uses" if a < 0.6 * b else "may NOT use"))
        for key in order:
            for sname_ in SIDES:
                for r in results[key][sname_]:
                    if r.get("ok") and r["cpu"] <= 0:
                        sanity.append("%s/%s %s: zero server CPU" % (
                            key[0], key[1], sname_))
        if cg.path:
            for sname_ in SIDES:
                a = sum(r["cpu"] for k in order for r in results[k][sname_])
                b = sum(r["cpu_proc"] for k in order
                        for r in results[k][sname_])
                sanity.append(
                    "%s: /proc accounting %.2f s vs cgroup %.2f s over all "
                    "scenarios (%+.1f%%)" % (sname_, b, a,
                                             100.0 * (b - a) / a if a else 0))

        if PERF and perf_works():
            perf_out = profiles(sides["module"], ctx, repos)
        elif PERF:
            perf_out["note"] = "perf is not usable here"
    finally:
        status = ngx_mod.stop()
        if status not in (0, None):
            problems.append("module nginx exited with status %s" % status)
        ngx_ref.stop()
        fcgi.stop()
        if edge is not None:
            edge.stop()
        cg.remove()

    for key in order:
        for sname_ in SIDES:
            summary[key][sname_] = medians(results[key][sname_])

    # ---------------------------------------------------------------- output
    run_env["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    run_env["cpu_method"] = cpu_method
    log()
    log(METHOD % {"cpu_method": cpu_method, "ncpu": os.cpu_count() or 0,
                  "rounds": ROUNDS, "cache": servers.REPO_CACHE_SIZE})
    log("Medians (CPU and wall in seconds, RSS and bytes in MB):")
    log(report(summary, order))
    t = throughput_report(summary, order)
    if t:
        log()
        log("Throughput (%s):" % (
            "wrk" if loadgen.have_wrk() else "python client"))
        log(t)
    t = pack_report(summary, order)
    if t:
        log()
        log("Packs received (one pack; fetch: the thin pack before "
            "index-pack completes it):")
        log(t)
    t = cache_report(summary, order)
    if t:
        log()
        log("Pack cache (the module's %s/ location; the reference's figures "
            "in the rows above are scaled to the module's fetches where "
            "it made fewer):" % servers.CACHE_PREFIX)
        log(t)
    t = push_report(summary, order)
    if t:
        log()
        log("Pushes (MBrecv: $request_length, i.e. the pack pushed):")
        log(t)
    log()
    log("RSS growth per in-flight clone (MB; anon = without file-backed "
        "pages of mapped packs):")
    log(per_clone_report(summary, order))
    g = goals_report(summary)
    if g:
        log()
        log("Targets the module is held to (a ratio is module/reference: "
            "below 1, the module used less than git http-backend; \"met\": "
            "the median is within the limit and every round succeeded):")
        log(g)
    other = [r["other_cpu"] for k in order for s in SIDES
             for r in results[k][s] if r.get("other_cpu") is not None]
    walls = [r["wall"] for k in order for s in SIDES for r in results[k][s]]
    if other and sum(walls):
        busy = sum(other) / sum(walls)
        log()
        log("Other load on the machine during the scenarios: %.2f cores on "
            "average (not this benchmark's servers or clients)%s" % (
                busy, "; wall times are disturbed" if busy > 0.2 else ""))
    if sanity:
        log()
        log("Instrument checks:")
        for s in sanity:
            log("  " + s)
    if perf_out:
        log()
        log("(perf in a VM: samples taken while interrupts were disabled "
            "land on the next irq-enable, e.g. [k] pvm_irq_enable; read "
            "those as kernel time of system calls.)")
        for name, p in perf_out.items():
            if name == "note":
                log("perf: %s" % p)
                continue
            if not p.get("top"):
                log("perf profile (%s): %s" % (name, p.get("error", "empty")))
                continue
            log("perf: module nginx workers (all threads) during %s (flat, "
                "cpu-clock samples; full report %s):" % (p["what"],
                                                         p["report"]))
            log("  by shared object: " + "; ".join(p["by_dso"][:6]))
            for line in p["top"][:15]:
                log("  " + line)
            log()
    if problems:
        log()
        log("Problems (%d):" % len(problems))
        for p in problems[:40]:
            log("  " + p.replace("\n", " ")[:400])
    doc = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "duration_s": time.monotonic() - t_start,
        "env": run_env,
        "method": METHOD % {"cpu_method": cpu_method,
                            "ncpu": os.cpu_count() or 0, "rounds": ROUNDS,
                            "cache": servers.REPO_CACHE_SIZE},
        "repos": {name: info_ for name, _, info_ in repos},
        "scenarios": [{"repo": k[0], "scenario": k[1],
                       "label": summary[k]["label"],
                       "in_flight": summary[k].get("in_flight"),
                       "median": {s: summary[k][s] for s in SIDES},
                       "rounds": results[k]} for k in order],
        "sanity": sanity, "perf": perf_out, "problems": problems,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = OUT / ("results-%s%s.json" % (stamp, "-quick" if QUICK else ""))
    text = json.dumps(doc, indent=1, default=str)
    path.write_text(text)
    (OUT / ("latest-quick.json" if QUICK else "latest.json")).write_text(text)
    log()
    log("results: %s (%.0f s)" % (path.relative_to(TOP),
                                  time.monotonic() - t_start))
    rmtree(run_dir / "tmp")
    # the pack cache's files (a whole pack each)
    rmtree(run_dir / "nginx-module" / "pack-cache")
    last = OUT / ("last-run-quick" if QUICK else "last-run")
    rmtree(last)
    try:
        run_dir.rename(last)
        log("server logs: %s" % last.relative_to(TOP))
    except OSError:
        pass
    # non-zero when a scenario failed on either side: the smoke run then
    # fails too
    return 1 if any(not r.get("ok")
                    for k in order for s in SIDES
                    for r in results[k][s]) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The pack cache (issue 19): `git_smart_http_pack_cache_path` and
`git_smart_http_pack_cache` keep the answer of a clone-like upload-pack
request (a pack, no `have` lines) in a file, and later identical requests
are answered from it; `$git_cache_status` and the pack cache metrics say
what happened.

Its own nginx (module scope): one zone per scenario, so that each test's
files and metrics are its own, a location per zone named after it, and
/nocache/ (the same module, the cache off) for the reference answers. The
server level names the zone `inh`, which /inherit/ inherits and every other
location overrides. Bodies are compared byte for byte: raw requests ask for
`no-progress` (the progress sent while counting is not cached); real clones
compare the packs they received (GIT_TRACE_PACKFILE).

The scenarios that need a pack larger than the socket buffers and the
module's buffers together (a writer held by its client, a follower of the
growing file, a worker killed mid-write) use big.git, about 48 MB of
incompressible blobs made once per module with `git fast-import`. The
worker killed mid-write has an nginx of its own with one worker (its
successor answers the next request); a fresh start and a reload, one the
test starts itself.

Module-specific: git http-backend has no such cache.
"""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
from collections import namedtuple
from pathlib import Path

import pytest

import helpers
from helpers import RPC_V2, Nginx, v2_request
from prometheus import fetch_metrics, wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="the pack cache is the module's own")

# zone name: its extra parameters. Each test has its own.
EVICT_MAX = 160 * 1024
ZONES = {
    "hm": "",          # miss then hit
    "key": "",         # what the key holds
    "clone": "",       # real clones
    "bypass": "",      # not cached
    "inh": "",         # the server level's, inherited by /inherit/
    "expire": "",      # invalidation
    "cfg": "",         # by the repository's configuration
    "cfgfilter": "",
    "min2": "min_uses=2",
    "evict": "max_size=%d" % EVICT_MAX,
    "idle": "inactive=1s",
    "big": "",         # a streamed follower
    "gone": "",        # the writer's client goes away
    "slow": "",        # the writer's client stops reading (send_timeout)
    "lonely": "",      # the writer's client goes away, nobody follows
}
# send_timeout of the "slow" zone's location: the follower must have come
# before it ends (a busy machine, a sanitizer build)
SLOW_SEND_TIMEOUT = "10s"

FINISHED = re.compile(r"^[0-9a-f]{40}\.[0-9]+$")
WRITING = re.compile(r"^[0-9a-f]{40}\.[0-9]+\.tmp$")

STATUSES = ("hit", "miss", "updating", "expired", "bypass")
REQUESTS = "git_smart_http_pack_cache_requests_total"
BYTES = "git_smart_http_pack_cache_bytes_total"
EVICTIONS = "git_smart_http_pack_cache_evictions_total"
SIZE = "git_smart_http_pack_cache_size_bytes"
ENTRIES = "git_smart_http_pack_cache_entries"

# Fields separated by "|", which none of the values holds here.
LOG_FORMAT = "|".join((
    "$request_method", "$request_uri", "$status", "$git_cache_status",
    "$body_bytes_sent", "$git_command", "$git_status"))
Entry = namedtuple("Entry", "method uri status cache bytes command git_status")

# A pack bigger than what a held client leaves room for by a wide margin:
# the kernel's socket buffers (a few MB on loopback) and the module's two
# buffers of file pieces (several MB each).
BIG_FILES = 48
BIG_FILE_SIZE = 1 << 20
# What a held client reads before it stops reading.
HELD_READ = 64 * 1024


# --------------------------------------------------------------------------
# configuration

def location(name, root, cache, extra=""):
    directive = "" if cache is None else \
        "\n            git_smart_http_pack_cache %s;" % cache
    return """
        location /%s/ {
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_filter on;%s%s
        }""" % (name, root, directive, extra)


def http_conf(root, cache_top, log, zones, locations, server_cache=None):
    """An http block: the zones' paths, the log format with
    $git_cache_status, one server with the given locations, /metrics (not
    logged) and 404 elsewhere."""
    paths = "".join(
        "\n    git_smart_http_pack_cache_path %s keys_zone=%s:1m%s;"
        % (Path(cache_top) / name, name, (" " + params) if params else "")
        for name, params in zones.items())
    server_level = "" if server_cache is None else \
        "\n        git_smart_http_pack_cache %s;" % server_cache
    return """%s
    log_format cache '%s';
    server {
        listen 127.0.0.1:{port};
        access_log %s cache;%s
        location / { return 404; }
        location = /metrics {
            access_log off;
            git_smart_http_metrics;
        }%s
    }
""" % (paths, LOG_FORMAT, log, server_level, "".join(locations))


# --------------------------------------------------------------------------
# repositories

def export(repo):
    (Path(repo) / "git-daemon-export-ok").touch()
    return repo


def fast_import_repo(git, dest, files, seed):
    """A bare repository of one commit of `files` (name: size) of
    incompressible bytes, written by fast-import (quick); uncompressed
    (pack.compression 0) so that even a big one is made in a moment."""
    rnd = random.Random(seed)
    msg = b"files\n"
    stream = [b"commit refs/heads/main\n",
              b"committer T <t@example.com> 1700000000 +0000\n",
              b"data %d\n%s" % (len(msg), msg)]
    for name, size in files.items():
        blob = rnd.randbytes(size)
        stream.append(b"M 100644 inline %s\n" % name.encode())
        stream.append(b"data %d\n%s\n" % (len(blob), blob))
    stream.append(b"\n")
    git("init", "-q", "--bare", "-b", "main", dest)
    git("-c", "core.compression=0", "-c", "pack.compression=0",
        "fast-import", "--quiet", cwd=dest, input=b"".join(stream),
        text=False)
    return export(dest)


def build_small(git, top):
    """small.git: a few commits of text and binary files, a side branch, an
    annotated and a lightweight tag; partial clones allowed."""
    work = top / "small-work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    rnd = random.Random(19)
    for n in range(4):
        (work / ("file%d.txt" % n)).write_text("line %d\n" % n * (50 + n))
        (work / ("blob%d.bin" % n)).write_bytes(rnd.randbytes(12000))
        git("add", "-A", cwd=work)
        git.tick()
        git("commit", "-q", "-m", "commit %d" % n, cwd=work)
        if n == 1:
            git("tag", "-a", "-m", "version 1", "v1", cwd=work)
            git("branch", "side", cwd=work)
    git("tag", "light", "HEAD~2", cwd=work)
    small = top / "small.git"
    git("clone", "-q", "--bare", "--no-local", work, small)
    git("config", "uploadpack.allowFilter", "true", cwd=small)
    git("repack", "-adq", cwd=small)
    return export(small)


@pytest.fixture(scope="module")
def root(git, tmp_path_factory):
    """The repositories of the module's nginx (big.git comes later, from
    its own fixture, into the same folder)."""
    top = tmp_path_factory.mktemp("pack-cache")
    root = top / "root"
    root.mkdir()
    small = build_small(git, top)
    # copies for the tests that change their repository, or whose requests
    # share a zone
    for name in ("small", "expire", "cfg", "cfgfilter", "clone-v2",
                 "clone-v0", "clone-shallow", "clone-partial"):
        shutil.copytree(small, root / ("%s.git" % name), symlinks=True)
    # answers of about 100 KB, and one larger than the eviction zone
    fast_import_repo(git, root / "ev1.git", {"a.bin": 100000}, 1)
    fast_import_repo(git, root / "ev2.git", {"a.bin": 100000}, 2)
    fast_import_repo(git, root / "evbig.git", {"a.bin": 400000}, 3)
    return root


@pytest.fixture(scope="module")
def big_repo(git, root):
    return fast_import_repo(
        git, root / "big.git",
        {"f%02d.bin" % i: BIG_FILE_SIZE for i in range(BIG_FILES)}, 48)


def all_wants(git, repo):
    """The object ids of every ref (tags as they are), without repeats."""
    seen = []
    for oid in git("for-each-ref", "--format=%(objectname)",
                   cwd=repo).split():
        if oid not in seen:
            seen.append(oid)
    return seen


def fetch_request(wants, haves=(), args=("ofs-delta", "no-progress"),
                  agent="git/2.39.5"):
    """A clone-like v2 fetch: by default no progress (nothing of the answer
    is made while counting) and ofs-delta; done."""
    return v2_request("fetch", ["want " + w for w in wants] +
                      ["have " + h for h in haves] + list(args) + ["done"],
                      caps=("agent=" + agent, "object-format=sha1"))


# --------------------------------------------------------------------------
# the cache's files, the log, the metrics

def cache_files(path):
    """(finished {name: size}, names being written) in the zone's folder."""
    finished, writing = {}, []
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return finished, writing
    for name in names:
        if FINISHED.match(name):
            try:
                finished[name] = os.stat(os.path.join(path, name)).st_size
            except FileNotFoundError:
                pass
        elif WRITING.match(name):
            writing.append(name)
    return finished, sorted(writing)


def counts(m, zone):
    """{status: count} of the zone's requests, statuses counted at least
    once."""
    out = {}
    for s in STATUSES:
        v = m.get(REQUESTS, zone=zone, status=s)
        if v:
            out[s] = int(v)
    return out


def wait_counts(port, zone, want):
    """The metrics once the zone's request counts are want."""
    return wait_for(port, lambda m: counts(m, zone) == want,
                    "zone %s counting %s" % (zone, want))


def assert_same_answer(got, want, what):
    """Byte equality, with where the bodies part when they do."""
    if got == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
              min(len(got), len(want)))
    raise AssertionError(
        "%s: %d bytes, expected %d; they differ from offset %d:\n"
        "got  %r\nwant %r" % (what, len(got), len(want), at,
                              got[max(0, at - 16):at + 48],
                              want[max(0, at - 16):at + 48]))


def v2_pack(body):
    """The pack of a v2 fetch answer (after `packfile`), checked."""
    items = helpers.parse_pkt_lines(body)
    at = items.index(b"packfile\n")
    pack, _progress, error = helpers.demux_sideband(items[at + 1:])
    assert error == b""
    helpers.check_pack(pack)
    return pack


Answer = namedtuple("Answer", "response entry")


class CacheNginx:
    """An nginx with pack cache zones under cache_top, the log of
    $git_cache_status at log."""

    def __init__(self, prefix, root, zones, locations, server_cache=None,
                 worker_processes=2):
        self.prefix = Path(prefix)
        self.root = Path(root)
        # nginx makes each zone's folder (as for proxy_cache_path, not its
        # parents)
        self.cache_top = self.prefix / "cache"
        self.cache_top.mkdir(parents=True, exist_ok=True)
        self.log = self.prefix / "logs" / "cache.log"
        body = http_conf(root, self.cache_top, self.log, zones, locations,
                         server_cache)
        self.nginx = Nginx(self.prefix, body, module=helpers.module_path(),
                           worker_processes=worker_processes)

    def start(self):
        self.nginx.start()
        # the socket is inherited and listening: this waits for a worker
        fetch_metrics(self.nginx.port)
        return self

    def stop(self):
        return self.nginx.stop()

    @property
    def port(self):
        return self.nginx.port

    def zone_path(self, zone):
        return self.cache_top / zone

    def files(self, zone):
        return cache_files(self.zone_path(zone))

    def mark(self):
        return helpers.serving.size_of(self.log)

    def entries(self, mark, count):
        """The first count log lines after mark, once written."""
        lines = helpers.wait_log_lines(self.log, mark, count)
        return [Entry(*line.split("|")) for line in lines[:count]]

    def settled(self, zone):
        """Waits (bounded) until no entry of zone is being written."""
        helpers.wait_until(lambda: not self.files(zone)[1], 30,
                           "no .tmp file left in zone %s: %s"
                           % (zone, self.files(zone)))

    def post(self, location, repo, body, headers=RPC_V2):
        return helpers.http_request(
            self.port, "POST", "/%s/%s/git-upload-pack" % (location, repo),
            headers, body)

    def fetch(self, location, repo, body, zone=None, headers=RPC_V2):
        """One complete upload-pack POST and its log line; with zone, once
        nothing is being written in it any more."""
        mark = self.mark()
        res = self.post(location, repo, body, headers)
        assert res.status == 200 and res.complete, (res.status,
                                                    res.body[-300:])
        entry, = self.entries(mark, 1)
        if zone is not None:
            self.settled(zone)
        return Answer(res, entry)

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.nginx.proc.pid)],
                             stdout=subprocess.PIPE, text=True).stdout
        return sorted(int(p) for p in out.split())


@pytest.fixture(scope="module")
def srv(root, tmp_path_factory):
    locations = [location("nocache", root, "off"),
                 location("inherit", root, None)]
    for zone in ZONES:
        extra = ""
        if zone == "expire":
            # pushes go through the cached location
            extra = """
            git_smart_http_receive_pack on;
            git_smart_http_user tester;"""
        elif zone == "slow":
            extra = """
            send_timeout %s;""" % SLOW_SEND_TIMEOUT
        locations.append(location(zone, root, zone, extra))
    ngx = CacheNginx(tmp_path_factory.mktemp("pack-cache-nginx"), root,
                     ZONES, locations, server_cache="inh").start()
    yield ngx
    assert ngx.stop() == 0, ngx.nginx.read_error_log()[-3000:]


# --------------------------------------------------------------------------
# raw HTTP/1.0 fetches that a test can hold

open_fetch = helpers.open_fetch


def read_some(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(min(65536, n - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def split_response(raw):
    """(status, body) of a raw HTTP/1.0 response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no end of headers in %r" % raw[:300]
    return int(head.split(b" ", 2)[1]), body


class Drain(threading.Thread):
    """Reads a socket to its end in a thread; body_received() says how
    much of the body has come so far."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.raw = bytearray()
        self.lock = threading.Lock()
        self.error = None

    def run(self):
        try:
            while True:
                try:
                    chunk = self.sock.recv(1 << 20)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                with self.lock:
                    self.raw += chunk
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.sock.close()

    def body_received(self):
        with self.lock:
            at = self.raw.find(b"\r\n\r\n")
            return -1 if at < 0 else len(self.raw) - at - 4

    def response(self):
        self.join(180)
        assert not self.is_alive(), "the follower never ended"
        assert self.error is None, self.error
        return split_response(bytes(self.raw))


def hold_writer(ngx, location, repo, body, zone):
    """A client that reads the first HELD_READ bytes of the answer and then
    stops reading; returns (socket, bytes read, names of the zone's .tmp
    files) once the entry is being written."""
    s = open_fetch(ngx.port, "/%s/%s/git-upload-pack" % (location, repo),
                   body, rcvbuf=65536)
    head = read_some(s, HELD_READ)
    assert len(head) == HELD_READ, head[:300]
    writing = helpers.wait_until(lambda: ngx.files(zone)[1], 60,
                                 "the held writer's .tmp file")
    return s, head, writing


# --------------------------------------------------------------------------
# 1. nginx -t


def nginx_t(prefix, http_body):
    """`nginx -t` of an http block: (exit code, stderr). The zones' folders
    are made under prefix/../cache (which exists)."""
    (Path(prefix).parent / "cache").mkdir(exist_ok=True)
    ngx = Nginx(prefix, http_body, module=helpers.module_path())
    for d in ("conf", "logs") + helpers.serving.TEMP_DIRS:
        (ngx.prefix / d).mkdir(parents=True, exist_ok=True)
    ngx.conf_path.write_text(ngx.config_text([8080]))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(helpers.sanitizer_env())
    proc = subprocess.run(
        [str(helpers.NGINX_BIN), "-t", "-p", str(ngx.prefix), "-c",
         str(ngx.conf_path), "-e", "stderr"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


def t_server(root, body):
    return """
    server {
        listen 127.0.0.1:{port};%s
        location /git/ {
            git_smart_http on;
            git_smart_http_root %s;%s
        }
    }
""" % (body[0], root, body[1])


def test_nginx_t_accepts_the_directives(tmp_path):
    root = tmp_path / "repos"
    root.mkdir()
    http = """
    git_smart_http_pack_cache_path %(c)s/a keys_zone=a:1m max_size=10m
                                   inactive=1h min_uses=3;
    git_smart_http_pack_cache_path %(c)s/b keys_zone=b:2m;
    git_smart_http_pack_cache_path %(c)s/c keys_zone=c:1m inactive=30s;
    git_smart_http_pack_cache a;
    log_format cache '$git_cache_status';
""" % {"c": tmp_path / "cache"}
    http += t_server(root, ("""
        git_smart_http_pack_cache b;
        access_log %s/t/logs/c.log cache;""" % tmp_path, """
            git_smart_http_pack_cache c;"""))
    http += """
    server {
        listen 127.0.0.1:{port};
        server_name other;
        location /off/ {
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_pack_cache off;
        }
        location /inherited/ {
            git_smart_http on;
            git_smart_http_root %s;
        }
    }
""" % (root, root)
    rc, err = nginx_t(tmp_path / "t", http)
    assert rc == 0 and "test is successful" in err, err


def test_nginx_t_accepts_off_without_any_zone(tmp_path):
    root = tmp_path / "repos"
    root.mkdir()
    rc, err = nginx_t(tmp_path / "t", "    git_smart_http_pack_cache off;\n"
                      + t_server(root, ("", """
            git_smart_http_pack_cache off;""")))
    assert rc == 0 and "test is successful" in err, err


BAD = {
    # name: (http level, server level, location level, what stderr names)
    "unknown parameter": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m colour=blue;",
        "", "", ["colour=blue"]),
    "missing keys_zone": (
        "git_smart_http_pack_cache_path {c}/a max_size=1m;", "", "",
        ["keys_zone"]),
    "keys_zone without a size": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a;", "", "",
        ["keys_zone"]),
    "bad max_size": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m max_size=lots;",
        "", "", ["max_size"]),
    "bad inactive": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m inactive=soon;",
        "", "", ["inactive"]),
    "bad min_uses": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m min_uses=many;",
        "", "", ["min_uses"]),
    "path in a server": (
        "", "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m;", "",
        ["git_smart_http_pack_cache_path", "not allowed here"]),
    "path in a location": (
        "", "", "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m;",
        ["git_smart_http_pack_cache_path", "not allowed here"]),
    "a zone never declared": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m;", "",
        "git_smart_http_pack_cache nosuchzone;", ["nosuchzone"]),
    "a zone never declared, no zone at all": (
        "", "", "git_smart_http_pack_cache nosuchzone;", ["nosuchzone"]),
    "two arguments": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m;", "",
        "git_smart_http_pack_cache a off;", ["git_smart_http_pack_cache"]),
    # the module's own zone of limits and counters is no pack cache
    "the module's own zone": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=a:1m;", "",
        "git_smart_http_pack_cache git_smart_http;",
        ["git_smart_http_pack_cache \"git_smart_http\"", "declares"]),
    # two indexes over one folder would remove each other's files
    "two zones in one folder": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=one:1m;\n"
        "    git_smart_http_pack_cache_path {c}/a keys_zone=two:1m;", "", "",
        ["folder", "one"]),
    # as proxy_cache_path: one zone name, one path
    "a zone declared twice": (
        "git_smart_http_pack_cache_path {c}/a keys_zone=dup:1m;\n"
        "    git_smart_http_pack_cache_path {c}/b keys_zone=dup:1m;", "", "",
        ["dup"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_nginx_t_rejects(tmp_path, case):
    root = tmp_path / "repos"
    root.mkdir()
    http_level, server_level, location_level, needles = BAD[case]
    c = str(tmp_path / "cache")
    http = "    " + http_level.replace("{c}", c) + "\n" + t_server(root, (
        "\n        " + server_level.replace("{c}", c),
        "\n            " + location_level.replace("{c}", c)))
    rc, err = nginx_t(tmp_path / "t", http)
    assert rc != 0, err
    assert "[emerg]" in err, err
    for needle in needles:
        assert needle in err, err


# --------------------------------------------------------------------------
# 2. miss, then hit


def test_miss_then_hit(git, root, srv):
    repo = "small.git"
    body = fetch_request(all_wants(git, root / repo))
    off = srv.fetch("nocache", repo, body)
    first = srv.fetch("hm", repo, body, zone="hm")
    second = srv.fetch("hm", repo, body, zone="hm")
    assert [off.entry.cache, first.entry.cache, second.entry.cache] == \
        ["-", "MISS", "HIT"], (off.entry, first.entry, second.entry)
    # a HIT ends as a pack made here would
    assert second.entry.git_status == "ok", second.entry
    reference = off.response.body
    v2_pack(reference)
    assert_same_answer(first.response.body, reference, "the MISS")
    assert_same_answer(second.response.body, reference, "the HIT")
    # nginx made the zone's folder; the entry is a finished file there
    assert srv.zone_path("hm").is_dir()
    finished, writing = srv.files("hm")
    assert len(finished) == 1 and not writing, (finished, writing)
    m = wait_counts(srv.port, "hm", {"miss": 1, "hit": 1})
    assert m.get(BYTES, zone="hm") == len(reference), m.text
    assert m.get(EVICTIONS, zone="hm") == 0
    assert m.get(ENTRIES, zone="hm") == 1, m.text
    assert len(reference) <= m.get(SIZE, zone="hm"), m.text


def test_key_ignores_the_agent_not_the_capabilities(git, root, srv):
    """Another agent asking the same is a HIT; a capability that changes
    the answer's bytes makes another entry."""
    zone = "key"
    repo = "small.git"
    # main alone: include-tag adds v1, a tag of its history
    wants = [git("rev-parse", "main", cwd=root / repo)]
    base = fetch_request(wants)
    first = srv.fetch(zone, repo, base, zone=zone)
    assert first.entry.cache == "MISS"
    other_agent = srv.fetch(zone, repo, fetch_request(wants, agent="jgit/6"),
                            zone=zone)
    assert other_agent.entry.cache == "HIT"
    assert_same_answer(other_agent.response.body, first.response.body,
                       "another agent's HIT")
    variants = {
        "no ofs-delta": ("no-progress",),
        "progress": ("ofs-delta",),
        "include-tag": ("ofs-delta", "no-progress", "include-tag"),
    }
    for name, args in variants.items():
        got = srv.fetch(zone, repo, fetch_request(wants, args=args),
                        zone=zone)
        assert got.entry.cache == "MISS", (name, got.entry)
    # more wants: another request
    more = srv.fetch(zone, repo, fetch_request(all_wants(git, root / repo)),
                     zone=zone)
    assert more.entry.cache == "MISS"
    assert len(srv.files(zone)[0]) == 2 + len(variants)
    wait_counts(srv.port, zone, {"miss": 2 + len(variants), "hit": 1})


# --------------------------------------------------------------------------
# 3. real clones


CLONES = {
    # variant: (repository, clone options, protocol)
    "v2": ("clone-v2.git", [], 2),
    "v0": ("clone-v0.git", [], 0),
    "shallow": ("clone-shallow.git", ["--depth", "1", "--no-single-branch"],
                2),
    "partial": ("clone-partial.git", ["--filter=blob:none"], 2),
}


def heads(git, repo):
    return git("for-each-ref", "--format=%(objectname) %(refname)",
               "refs/heads", cwd=repo)


@pytest.mark.parametrize("variant", list(CLONES))
def test_clone_twice_hits(git, root, srv, tmp_path, variant):
    repo, opts, protocol = CLONES[variant]
    url = "http://127.0.0.1:%d/clone/%s" % (srv.port, repo)
    # the lines of a clone: its advertisement, (v2) its ls-refs, its fetch
    lines = 3 if protocol == 2 else 2
    results = []
    for n in range(2):
        mark = srv.mark()
        outcome, r, pack = helpers.clone(
            git, url, tmp_path / ("c%d.git" % n), "--bare", *opts,
            protocol=protocol)
        assert outcome["code"] == 0, r.err
        entries = srv.entries(mark, lines)
        srv.settled("clone")
        results.append((outcome["state"], pack, entries))
    (state1, pack1, log1), (state2, pack2, log2) = results
    for log, status in ((log1, "MISS"), (log2, "HIT")):
        fetches = [e for e in log if e.command == "fetch"]
        others = [e for e in log if e.command != "fetch"]
        assert [e.cache for e in fetches] == [status], log
        assert all(e.cache == "-" for e in others), log
    assert pack1 and pack1 == pack2
    assert state1 == state2
    assert state1["fsck"][0] == 0, state1["fsck"]
    source = root / repo
    assert heads(git, tmp_path / "c0.git") == heads(git, source)
    if variant in ("v2", "v0"):
        assert state1 == helpers.repo_state(git, source)
    if variant == "partial":
        assert state1["refs"] == helpers.repo_state(git, source)["refs"]
        assert git("config", "remote.origin.promisor",
                   cwd=tmp_path / "c1.git") == "true"
    if variant == "shallow":
        assert (tmp_path / "c0.git" / "shallow").read_text() == \
            (tmp_path / "c1.git" / "shallow").read_text()


# --------------------------------------------------------------------------
# 4. what is not cached


def test_haves_bypass_the_cache(git, root, srv):
    repo = "small.git"
    old = git("rev-parse", "main~2", cwd=root / repo)
    body = fetch_request(all_wants(git, root / repo), haves=[old])
    off = srv.fetch("nocache", repo, body)
    first = srv.fetch("bypass", repo, body, zone="bypass")
    second = srv.fetch("bypass", repo, body, zone="bypass")
    assert [first.entry.cache, second.entry.cache] == ["BYPASS", "BYPASS"]
    assert off.entry.cache == "-"
    v2_pack(off.response.body)
    assert_same_answer(first.response.body, off.response.body, "BYPASS")
    assert_same_answer(second.response.body, off.response.body, "BYPASS")
    assert srv.files("bypass") == ({}, [])
    m = wait_counts(srv.port, "bypass", {"bypass": 2})
    assert m.get(ENTRIES, zone="bypass") == 0
    assert m.get(BYTES, zone="bypass") == 0


def test_adverts_and_ls_refs_have_no_cache_status(srv):
    repo = "small.git"
    mark = srv.mark()
    for proto in ("version=2", None):
        headers = {"Git-Protocol": proto} if proto else {}
        r = helpers.http_request(
            srv.port, "GET",
            "/bypass/%s/info/refs?service=git-upload-pack" % repo, headers)
        assert r.status == 200
    r = srv.post("bypass", repo, v2_request("ls-refs", ["peel", "symrefs"]))
    assert r.status == 200 and b"refs/heads/main" in r.body
    entries = srv.entries(mark, 3)
    assert [(e.command, e.cache) for e in entries] == [
        ("advertise", "-"), ("advertise", "-"), ("ls-refs", "-")], entries
    assert srv.files("bypass") == ({}, [])


def test_server_level_zone_is_inherited_and_off_overrides(git, root, srv):
    """/inherit/ names no zone: it has the server's (`inh`); /nocache/ says
    off."""
    repo = "small.git"
    body = fetch_request(all_wants(git, root / repo)[:1])
    off = srv.fetch("nocache", repo, body)
    first = srv.fetch("inherit", repo, body, zone="inh")
    second = srv.fetch("inherit", repo, body, zone="inh")
    assert [off.entry.cache, first.entry.cache, second.entry.cache] == \
        ["-", "MISS", "HIT"]
    assert_same_answer(second.response.body, off.response.body, "the HIT")
    assert len(srv.files("inh")[0]) == 1
    wait_counts(srv.port, "inh", {"miss": 1, "hit": 1})


# --------------------------------------------------------------------------
# 5. invalidation


def test_push_update_ref_and_repack_expire_the_entry(git, root, srv,
                                                     tmp_path):
    """The request wants a fixed old commit, so that its answer's content
    stays the same; each change of the repository's state makes the next
    identical request EXPIRED, then HIT again."""
    repo = "expire.git"
    bare = root / repo
    old = git("rev-parse", "main~1", cwd=bare)
    body = fetch_request([old])

    def expect(status):
        got = srv.fetch("expire", repo, body, zone="expire")
        assert got.entry.cache == status, got.entry
        ref = srv.fetch("nocache", repo, body)
        assert_same_answer(got.response.body, ref.response.body, status)
        return got

    expect("MISS")
    expect("HIT")

    # a push through the module (its requests have no cache status)
    work = tmp_path / "work"
    git("clone", "-q", bare, work)
    (work / "new.txt").write_text("pushed\n")
    git("add", "-A", cwd=work)
    git.tick()
    git("commit", "-q", "-m", "pushed", cwd=work)
    mark = srv.mark()
    git("push", "-q", "http://127.0.0.1:%d/expire/%s" % (srv.port, repo),
        "main", cwd=work)
    assert git("rev-parse", "main", cwd=bare) == \
        git("rev-parse", "HEAD", cwd=work)
    pushes = srv.entries(mark, 2)
    assert [(e.command, e.cache) for e in pushes] == [
        ("advertise", "-"), ("receive-pack", "-")], pushes
    expect("EXPIRED")
    expect("HIT")

    # a ref made on disk
    git("update-ref", "refs/heads/other", old, cwd=bare)
    expect("EXPIRED")
    expect("HIT")

    # a repack: the pack folders change
    git("repack", "-adfq", cwd=bare)
    expect("EXPIRED")
    expect("HIT")

    finished, writing = srv.files("expire")
    assert len(finished) == 1 and not writing, (finished, writing)
    m = wait_counts(srv.port, "expire",
                    {"miss": 1, "hit": 4, "expired": 3})
    assert m.get(ENTRIES, zone="expire") == 1


def test_config_change_expires_the_entry(git, root, srv):
    """The repository's configuration is part of its state: a change of it
    makes the next identical request EXPIRED."""
    repo = "cfg.git"
    body = fetch_request([git("rev-parse", "main~1", cwd=root / repo)])
    statuses = []
    for change in (None, None, ("uploadpack.allowTipSHA1InWant", "true"),
                   None):
        if change:
            git("config", *change, cwd=root / repo)
        got = srv.fetch("cfg", repo, body, zone="cfg")
        ref = srv.fetch("nocache", repo, body)
        assert_same_answer(got.response.body, ref.response.body,
                           got.entry.cache)
        statuses.append(got.entry.cache)
    assert statuses == ["MISS", "HIT", "EXPIRED", "HIT"]
    wait_counts(srv.port, "cfg", {"miss": 1, "hit": 2, "expired": 1})


def test_config_refusing_a_filter_is_not_answered_from_the_cache(git, root,
                                                                 srv):
    """A partial clone's answer is cached; once the repository refuses the
    filter, the same request gets the refusal (git's ERR line), as where
    the cache is off, not the kept pack."""
    repo = "cfgfilter.git"
    body = fetch_request([git("rev-parse", "main~1", cwd=root / repo)],
                         args=("ofs-delta", "no-progress",
                               "filter blob:none"))
    first = srv.fetch("cfgfilter", repo, body, zone="cfgfilter")
    second = srv.fetch("cfgfilter", repo, body, zone="cfgfilter")
    assert [first.entry.cache, second.entry.cache] == ["MISS", "HIT"]
    assert_same_answer(second.response.body, first.response.body, "HIT")
    v2_pack(first.response.body)
    git("config", "uploadpackfilter.blob:none.allow", "false",
        cwd=root / repo)
    ref = srv.fetch("nocache", repo, body)
    assert b"ERR " in ref.response.body, ref.response.body[:300]
    refused = srv.fetch("cfgfilter", repo, body, zone="cfgfilter")
    assert refused.entry.cache != "HIT"
    assert_same_answer(refused.response.body, ref.response.body,
                       "the refusal")


# --------------------------------------------------------------------------
# 6. min_uses


def test_min_uses_2(git, root, srv):
    repo = "small.git"
    body = fetch_request(all_wants(git, root / repo))
    ref = srv.fetch("nocache", repo, body).response.body
    first = srv.fetch("min2", repo, body, zone="min2")
    assert first.entry.cache == "MISS"
    assert srv.files("min2") == ({}, []), "stored after one use"
    second = srv.fetch("min2", repo, body, zone="min2")
    assert second.entry.cache == "MISS"
    assert len(srv.files("min2")[0]) == 1, srv.files("min2")
    third = srv.fetch("min2", repo, body, zone="min2")
    assert third.entry.cache == "HIT"
    for n, a in enumerate((first, second, third)):
        assert_same_answer(a.response.body, ref, "answer %d" % (n + 1))
    m = wait_counts(srv.port, "min2", {"miss": 2, "hit": 1})
    assert m.get(BYTES, zone="min2") == len(ref)


# --------------------------------------------------------------------------
# 7. max_size


def test_max_size_evicts_the_least_recently_used(git, root, srv):
    zone = "evict"
    bodies = {r: fetch_request(all_wants(git, root / r))
              for r in ("ev1.git", "ev2.git", "evbig.git")}
    refs = {r: srv.fetch("nocache", r, b).response.body
            for r, b in bodies.items()}
    # one answer fits, two do not, the big one alone does not
    assert len(refs["ev1.git"]) < EVICT_MAX < \
        len(refs["ev1.git"]) + len(refs["ev2.git"]) < len(refs["evbig.git"])

    a = srv.fetch(zone, "ev1.git", bodies["ev1.git"], zone=zone)
    assert a.entry.cache == "MISS"
    files_a, _ = srv.files(zone)
    assert len(files_a) == 1, files_a
    b = srv.fetch(zone, "ev2.git", bodies["ev2.git"], zone=zone)
    assert b.entry.cache == "MISS"
    # ev1's file is unlinked, ev2's kept

    def replaced():
        finished = srv.files(zone)[0]
        return len(finished) == 1 and not set(finished) & set(files_a)
    helpers.wait_until(replaced, 30)
    files_b, _ = srv.files(zone)
    assert len(files_b) == 1 and not set(files_b) & set(files_a), \
        (files_a, files_b)
    m = wait_for(srv.port, lambda m: m.get(EVICTIONS, zone=zone) == 1,
                 "one eviction")
    assert m.get(ENTRIES, zone=zone) == 1, m.text
    assert 0 < m.get(SIZE, zone=zone) <= EVICT_MAX, m.text

    # ev1 again: gone from the cache, so generated again (and ev2 goes)
    again = srv.fetch(zone, "ev1.git", bodies["ev1.git"], zone=zone)
    assert again.entry.cache == "MISS"
    assert_same_answer(again.response.body, refs["ev1.git"], "ev1")
    assert_same_answer(b.response.body, refs["ev2.git"], "ev2")
    wait_for(srv.port, lambda m: m.get(EVICTIONS, zone=zone) == 2,
             "the second eviction")
    kept, _ = srv.files(zone)
    assert len(kept) == 1, kept

    # an answer larger than max_size is not kept
    for _ in range(2):
        big = srv.fetch(zone, "evbig.git", bodies["evbig.git"], zone=zone)
        assert big.entry.cache == "MISS"
        assert_same_answer(big.response.body, refs["evbig.git"], "evbig")
        # and evicts nothing for it
        now, writing = srv.files(zone)
        assert set(now) == set(kept) and not writing, (kept, now)
    m = wait_counts(srv.port, zone, {"miss": 5})
    assert m.get(SIZE, zone=zone) <= EVICT_MAX, m.text


def test_inactive_entries_are_removed(git, root, srv):
    """inactive=1s: an entry left unused goes, found so by a later request
    of the zone (here: another request, asked again until it has); asked
    again, it is a MISS."""
    zone = "idle"
    repo = "small.git"
    wants = all_wants(git, root / repo)
    body = fetch_request(wants)
    other = fetch_request(wants[:1])
    first = srv.fetch(zone, repo, body, zone=zone)
    assert first.entry.cache == "MISS"
    files_a, _ = srv.files(zone)
    assert len(files_a) == 1

    def gone():
        srv.fetch(zone, repo, other, zone=zone)
        return not set(srv.files(zone)[0]) & set(files_a)
    helpers.wait_until(gone, 30, "the unused entry removed", interval=0.2)
    again = srv.fetch(zone, repo, body, zone=zone)
    assert again.entry.cache == "MISS"
    assert_same_answer(again.response.body, first.response.body, "again")


# --------------------------------------------------------------------------
# 8. a follower of the growing file


def test_follower_streams_the_growing_file(git, big_repo, srv):
    zone = "big"
    repo = big_repo.name
    body = fetch_request(all_wants(git, big_repo))
    ref = srv.fetch("nocache", repo, body).response.body
    mark = srv.mark()
    leader, head, writing = hold_writer(srv, zone, repo, body, zone)
    follower = None
    try:
        tmp_size = os.stat(srv.zone_path(zone) / writing[0]).st_size
        # the held client holds the writing back
        assert tmp_size < len(ref), (tmp_size, len(ref))
        follower = Drain(open_fetch(
            srv.port, "/%s/%s/git-upload-pack" % (zone, repo), body))
        follower.start()
        # the follower gets what was written while the writer is held
        helpers.wait_until(lambda: follower.body_received() > 0, 60,
                           "the follower's first bytes")
        assert follower.is_alive(), "the follower ended with the writer held"
        raw = head + helpers.read_rest(leader)
    finally:
        leader.close()
    status, leader_body = split_response(raw)
    f_status, follower_body = follower.response()
    assert (status, f_status) == (200, 200)
    assert_same_answer(leader_body, ref, "the writer's answer")
    assert_same_answer(follower_body, ref, "the follower's answer")
    entries = srv.entries(mark, 2)
    assert sorted(e.cache for e in entries) == ["MISS", "UPDATING"], entries
    srv.settled(zone)
    m = wait_counts(srv.port, zone, {"miss": 1, "updating": 1})
    assert m.get(BYTES, zone=zone) == len(ref), m.text

    # the generation the held client paced is a whole entry
    hit = srv.fetch(zone, repo, body, zone=zone)
    assert hit.entry.cache == "HIT"
    assert_same_answer(hit.response.body, ref, "the HIT")
    finished, _ = srv.files(zone)
    assert len(finished) == 1, finished
    m = wait_counts(srv.port, zone, {"miss": 1, "updating": 1, "hit": 1})
    assert m.get(BYTES, zone=zone) == 2 * len(ref), m.text


def held(git, big_repo, srv, zone):
    """The uncached answer of a fetch of every ref of big_repo, a log mark,
    and a held writer of its entry in zone: (repo, body, answer, mark,
    the writer's socket, the bytes it read)."""
    repo = big_repo.name
    body = fetch_request(all_wants(git, big_repo))
    ref = srv.fetch("nocache", repo, body).response.body
    mark = srv.mark()
    leader, head, _writing = hold_writer(srv, zone, repo, body, zone)
    return repo, body, ref, mark, leader, head


def follow(srv, zone, repo, body):
    """A follower of the entry, read to its end in a thread."""
    follower = Drain(open_fetch(
        srv.port, "/%s/%s/git-upload-pack" % (zone, repo), body))
    follower.start()
    return follower


def test_writer_client_gone_the_pack_goes_on(git, big_repo, srv):
    """The writer's client resets its connection mid-answer: the pack goes
    on into the file alone, so the follower still gets the whole answer,
    the entry is kept (the next identical request is a HIT), and the
    writer's request is logged as client_closed."""
    zone = "gone"
    repo, body, ref, mark, leader, _head = held(git, big_repo, srv, zone)
    try:
        follower = follow(srv, zone, repo, body)
        helpers.wait_until(lambda: follower.body_received() > 0, 60,
                           "the follower's first bytes")
        leader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
    finally:
        leader.close()
    status, follower_body = follower.response()
    assert status == 200
    assert_same_answer(follower_body, ref, "the follower's answer")
    assert_writer_went_on(srv, zone, repo, body, ref, mark,
                          "client_closed")


def test_writer_client_gone_unfollowed_drops_the_entry(git, big_repo, srv):
    """The writer's client resets its connection and nobody follows the
    entry: the pack ends there (a client that leaves at once costs no
    whole pack), the entry and its .tmp go, and the next identical request
    makes the answer itself."""
    zone = "lonely"
    repo, body, ref, mark, leader, _head = held(git, big_repo, srv, zone)
    leader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    leader.close()
    writer, = srv.entries(mark, 1)
    assert (writer.cache, writer.git_status) == ("MISS", "client_closed"), \
        writer
    helpers.wait_until(lambda: srv.files(zone) == ({}, []), 30,
                       "the dropped entry's .tmp unlinked: %s"
                       % (srv.files(zone),))
    after = srv.fetch(zone, repo, body, zone=zone)
    assert after.entry.cache == "MISS"
    assert_same_answer(after.response.body, ref, "the next answer")
    assert len(srv.files(zone)[0]) == 1


def test_writer_client_too_slow_the_pack_goes_on(git, big_repo, srv):
    """The writer's client stops reading: after send_timeout its request
    ends as a timeout, but the pack goes on into the file alone, and the
    follower, which reads, gets the whole answer while the writer's client
    has neither closed its socket nor read more."""
    zone = "slow"
    repo, body, ref, mark, leader, head = held(git, big_repo, srv, zone)
    try:
        follower = follow(srv, zone, repo, body)
        status, follower_body = follower.response()
        assert status == 200
        assert_same_answer(follower_body, ref, "the follower's answer")
        # the writer's connection is closed with its answer cut short
        raw = head + helpers.read_rest(leader)
    finally:
        leader.close()
    _status, leader_body = split_response(raw)
    assert len(leader_body) < len(ref), "the held writer got a whole answer"
    assert ref.startswith(leader_body), "the writer's bytes differ"
    assert_writer_went_on(srv, zone, repo, body, ref, mark, "timeout")


def assert_writer_went_on(srv, zone, repo, body, ref, mark, writer_status):
    """After a writer whose client left and one follower: the log lines
    say so, the file is one whole entry, and the next request is a HIT
    with the same answer."""
    entries = srv.entries(mark, 2)
    by_cache = {e.cache: e for e in entries}
    assert sorted(by_cache) == ["MISS", "UPDATING"], entries
    assert by_cache["MISS"].git_status == writer_status, entries
    assert by_cache["UPDATING"].git_status == "ok", entries
    srv.settled(zone)
    finished, writing = srv.files(zone)
    assert len(finished) == 1 and not writing, (finished, writing)
    hit = srv.fetch(zone, repo, body, zone=zone)
    assert hit.entry.cache == "HIT"
    assert_same_answer(hit.response.body, ref, "the HIT")


# --------------------------------------------------------------------------
# 9. the writer's worker killed


@pytest.fixture(scope="module")
def one_worker(root, big_repo, tmp_path_factory):
    """An nginx of one worker: the request after a kill is the
    successor's."""
    zones = {"kill": ""}
    locations = [location("nocache", root, "off"),
                 location("kill", root, "kill")]
    ngx = CacheNginx(tmp_path_factory.mktemp("pack-cache-kill"), root, zones,
                     locations, worker_processes=1).start()
    yield ngx
    assert ngx.stop() == 0, ngx.nginx.read_error_log()[-3000:]


@pytest.mark.kills_workers
def test_writer_killed_mid_write(git, big_repo, one_worker):
    ngx = one_worker
    zone = "kill"
    repo = big_repo.name
    body = fetch_request(all_wants(git, big_repo))
    ref = ngx.fetch("nocache", repo, body).response.body
    leader, head, writing = hold_writer(ngx, zone, repo, body, zone)
    try:
        worker, = ngx.workers()
        os.kill(worker, signal.SIGKILL)
        raw = head + helpers.read_rest(leader)
    finally:
        leader.close()
    _status, truncated = split_response(raw)
    assert len(truncated) < len(ref)
    helpers.wait_until(lambda: ngx.workers() and
                       worker not in ngx.workers(), 30,
                       "the master's new worker")
    after = ngx.fetch(zone, repo, body)
    assert after.entry.cache == "MISS", after.entry
    assert_same_answer(after.response.body, ref, "the successor's answer")
    # what is left is the new finished entry only
    helpers.wait_until(lambda: (lambda f: len(f[0]) == 1 and not f[1])(
        ngx.files(zone)), 30, "only the new finished entry in the zone: %s"
        % (ngx.files(zone),))
    finished, _ = ngx.files(zone)
    assert not set(writing) & set(os.listdir(ngx.zone_path(zone)))
    hit = ngx.fetch(zone, repo, body, zone=zone)
    assert hit.entry.cache == "HIT"
    assert_same_answer(hit.response.body, ref, "the HIT")
    assert ngx.files(zone)[0] == finished


# --------------------------------------------------------------------------
# 10. a fresh start empties the folder; a reload does not


def test_fresh_start_wipes_and_reload_keeps(git, root, tmp_path):
    zones = {"w": ""}
    ngx = CacheNginx(tmp_path / "nginx", root, zones,
                     [location("w", root, "w")])
    path = ngx.zone_path("w")
    path.mkdir(parents=True)
    junk = ["%040x.1" % 0xabc, "%040x.2.tmp" % 0xdef]
    for name in junk:
        (path / name).write_bytes(b"not an entry\n" * 100)
    repo = "small.git"
    body = fetch_request(all_wants(git, root / repo))
    try:
        ngx.start()
        helpers.wait_until(lambda: not any((path / n).exists() for n in junk),
                           30, "the junk files removed: %s"
                           % sorted(os.listdir(path)))
        first = ngx.fetch("w", repo, body, zone="w")
        assert first.entry.cache == "MISS"
        v2_pack(first.response.body)
        second = ngx.fetch("w", repo, body, zone="w")
        assert second.entry.cache == "HIT"
        finished, _ = ngx.files("w")
        assert len(finished) == 1

        # `nginx -t` makes the zones too, and leaves the running cache be
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update(helpers.sanitizer_env())
        t = subprocess.run(
            [str(helpers.NGINX_BIN), "-t", "-p", str(ngx.nginx.prefix), "-c",
             str(ngx.nginx.conf_path), "-e", "stderr"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            timeout=60)
        assert t.returncode == 0, t.stderr
        assert ngx.files("w")[0] == finished

        # a finished file is sent whole whatever its mode says
        for name in finished:
            os.chmod(path / name, 0o644)
        hit = ngx.fetch("w", repo, body, zone="w")
        assert hit.entry.cache == "HIT" and hit.entry.git_status == "ok"
        assert_same_answer(hit.response.body, first.response.body,
                           "after nginx -t and a chmod")

        # a reload: new workers, the same entries
        old = ngx.workers()
        os.kill(ngx.nginx.proc.pid, signal.SIGHUP)
        helpers.wait_until(lambda: len(ngx.workers()) == len(old) and
                           not set(ngx.workers()) & set(old), 30,
                           "the reload's workers alone")
        assert ngx.files("w")[0] == finished
        third = ngx.fetch("w", repo, body, zone="w")
        assert third.entry.cache == "HIT"
        assert_same_answer(third.response.body, first.response.body,
                           "after the reload")
        assert ngx.stop() == 0

        # a fresh start
        ngx.start()
        helpers.wait_until(lambda: ngx.files("w") == ({}, []), 30,
                           "the entries of the last run removed: %s"
                           % (ngx.files("w"),))
        fourth = ngx.fetch("w", repo, body, zone="w")
        assert fourth.entry.cache == "MISS"
        assert_same_answer(fourth.response.body, first.response.body,
                           "after the restart")
    finally:
        ngx.stop()

"""Helpers shared by the nginx-level tests: running git with a clean
environment, raw HTTP, pkt-lines, fixture repositories, and starting nginx /
fcgiwrap as child processes that are always stopped again.

Nothing here hard-codes a path of the machine: everything is derived from this
file's location (the repository top) or from pytest's temporary directories.
"""

import gzip
import hashlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

# tests/nginx/helpers.py -> parents[0] = tests/nginx, [1] = tests, [2] = top.
REPO_TOP = Path(__file__).resolve().parents[2]
# The shared corpus sits next to the repository: <top>/../shared/corpus.
CORPUS_BUNDLE = Path(os.environ.get(
    "GSH_CORPUS", REPO_TOP.parent / "shared" / "corpus" / "nginx.bundle"))

sys.path.insert(0, str(REPO_TOP / "tests" / "lib"))
import serving  # noqa: E402
from serving import (FCGIWRAP_BIN, HTTP_BACKEND, NGINX_BIN,  # noqa: E402,F401
                     free_listening_socket, module_path, stop_process_group)
from git_env import clean_git_env  # noqa: E402

import pack_check  # noqa: E402

# Every git command that does not pass an explicit timeout is killed after
# this many seconds, so that a hanging server fails a test instead of hanging
# the whole run. It is a safety net, not a timing assertion.
GIT_TIMEOUT = 600


def run_in_group(cmd, env, cwd=None, input=None, timeout=GIT_TIMEOUT,
                 who=None):
    """Runs cmd (a client: git, JGit, Dulwich) in its own process group, so
    that on a timeout (a hanging server) it and its helpers are all killed
    and the test fails with a message naming who was killed.
    Returns (code, out, err) with bytes out/err."""
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env,
                            stdin=subprocess.PIPE if input is not None
                            else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        code = -signal.SIGKILL
        err += b"\n[test harness: %skilled after %d s]\n" % (
            (who + " ").encode() if who else b"", timeout)
    return code, out, err


# --------------------------------------------------------------------------
# git with a clean environment

GitResult = namedtuple("GitResult", "code out err")


class Git:
    """Runs git with an environment that does not depend on the caller:
    no system or user config (HOME is a private directory), fixed author and
    committer, no prompts, no proxies, protocol v2 unless asked otherwise."""

    def __init__(self, home):
        self.home = Path(home)
        self.env = clean_git_env(self.home)
        self.env.update({
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Committer",
            "GIT_COMMITTER_EMAIL": "committer@example.com",
            "GIT_AUTHOR_DATE": "1700000000 +0000",
            "GIT_COMMITTER_DATE": "1700000000 +0000",
        })
        self._tick = 1700000000

    def tick(self):
        """Advances the author/committer date: deterministic, distinct
        timestamps for successive commits."""
        self._tick += 60
        stamp = "%d +0000" % self._tick
        self.env["GIT_AUTHOR_DATE"] = stamp
        self.env["GIT_COMMITTER_DATE"] = stamp

    def run(self, *args, cwd=None, env=None, input=None, protocol=2,
            timeout=GIT_TIMEOUT, text=True):
        """Returns GitResult(code, out, err); never raises on a git error."""
        cmd = ["git"]
        if protocol is not None:
            cmd += ["-c", "protocol.version=%d" % protocol]
        cmd += [str(a) for a in args]
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        if isinstance(input, str):
            input = input.encode()
        code, out, err = run_in_group(cmd, full_env, cwd=cwd, input=input,
                                      timeout=timeout, who="git")
        if text:
            out = out.decode("utf-8", "replace")
            err = err.decode("utf-8", "replace")
        return GitResult(code, out, err)

    def __call__(self, *args, **kw):
        """Like run() but fails on a non-zero exit; returns stdout stripped."""
        r = self.run(*args, **kw)
        if r.code != 0:
            raise AssertionError("git %s failed (%d):\n%s%s" % (
                " ".join(str(a) for a in args), r.code, r.out, r.err))
        return r.out.strip() if isinstance(r.out, str) else r.out


# --------------------------------------------------------------------------
# raw HTTP

class Response(namedtuple("Response", "status reason headers body complete")):
    """headers is a list of (name, value) as received; complete is False
    when the connection ended before the end of the body (the body is then
    what arrived)."""

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


def wait_until(predicate, timeout, what=None, interval=0.05):
    """Polls predicate() until it returns a true value, for at most timeout
    seconds; returns that value. On a timeout: with what, fails the test
    saying what never happened; without, returns the last (false) value, for
    the caller's own assertion to report its figures."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            break
        time.sleep(interval)
    assert value or what is None, "timed out after %g s waiting for %s" % (
        timeout, what)
    return value


def fd_count(pid):
    """How many file descriptors process pid holds open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_status_kb(pid, field):
    """A kB figure of /proc/pid/status, such as VmRSS or RssAnon."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def wait_log_lines(path, mark, count, timeout=30):
    """The non-empty lines of the log at path written after offset mark,
    once there are at least count of them. nginx writes a request's line
    once its response is out, which may be a moment after the client has
    read it: this waits for them (bounded) and fails if they never come."""
    deadline = time.monotonic() + timeout
    while True:
        text = serving.read_text_from(path, mark)
        lines = [l for l in text.splitlines() if l]
        if len(lines) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert len(lines) >= count, "expected %d log lines, got:\n%s" % (
        count, text)
    return lines


def http_request(port, method, path, headers=None, body=None, timeout=120,
                 host="127.0.0.1"):
    """One request on a fresh connection; the path is sent exactly as given
    (no quoting). Returns Response(status, reason, headers, body bytes,
    complete)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        headers = dict(headers or {})
        if body is not None and not any(k.lower() == "content-length"
                                        for k in headers):
            headers["Content-Length"] = str(len(body))
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        complete = True
        try:
            data = resp.read()
        except http.client.IncompleteRead as e:
            data, complete = e.partial, False
        return Response(resp.status, resp.reason, resp.getheaders(), data,
                        complete)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# pkt-lines (man gitprotocol-common)

FLUSH = "flush"
DELIM = "delim"
RESPONSE_END = "response-end"


def open_fetch(port, path, body, rcvbuf=None):
    """A socket that has sent a v2 upload-pack POST over HTTP/1.0 (the
    answer ends with the connection). With rcvbuf, a small receive window
    (set before connecting), so that little of a held answer is in flight
    in the kernel."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(120)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
              b"Git-Protocol: version=2\r\n"
              b"Content-Type: application/x-git-upload-pack-request\r\n"
              b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))
              + body)
    return s


def read_rest(s):
    """Everything until the connection ends (a reset counts as an end)."""
    parts = []
    while True:
        try:
            chunk = s.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        parts.append(chunk)
    return b"".join(parts)


def pkt(data):
    if isinstance(data, str):
        data = data.encode()
    return b"%04x" % (len(data) + 4) + data


def pkt_flush():
    return b"0000"


def pkt_delim():
    return b"0001"


def split_pkt(data):
    """The first pkt-line of data as (payload or marker, the bytes after it),
    or None while data does not yet hold the whole of it."""
    if len(data) >= 4:
        n = int(data[:4], 16)
        size = 4 if n < 4 else n
        if len(data) >= size:
            return parse_pkt_lines(data[:size])[0], data[size:]
    return None


def server_conf(locations):
    """An nginx http block's server on {port}: 404 outside the given
    locations (nginx config text, {root}-style placeholders left as they are)."""
    return """
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
%s    }
""" % locations


def parse_pkt_lines(data, stop_at_pack=False):
    """Splits bytes into pkt-line payloads (bytes) and the special markers
    FLUSH / DELIM / RESPONSE_END. Raises ValueError on malformed framing.
    With stop_at_pack, stops after a 'packfile' section header and returns
    (items, rest)."""
    items = []
    i = 0
    while i < len(data):
        head = data[i:i + 4]
        if len(head) < 4:
            raise ValueError("truncated pkt-line length at %d: %r" % (i, head))
        try:
            n = int(head, 16)
        except ValueError:
            raise ValueError("bad pkt-line length at %d: %r" % (i, head))
        if n == 0:
            items.append(FLUSH)
            i += 4
        elif n == 1:
            items.append(DELIM)
            i += 4
        elif n == 2:
            items.append(RESPONSE_END)
            i += 4
        elif n < 4:
            raise ValueError("bad pkt-line length %d at %d" % (n, i))
        else:
            if i + n > len(data):
                raise ValueError("truncated pkt-line at %d" % i)
            items.append(data[i + 4:i + n])
            i += n
            if stop_at_pack and items[-1] == b"packfile\n":
                return items, data[i:]
    if stop_at_pack:
        return items, b""
    return items


AGENT_RE = re.compile(rb"agent=[^\s\x00]*")


def normalise_agent(data):
    """agent=<anything> -> agent=X, in bytes or str."""
    if isinstance(data, str):
        return AGENT_RE.sub(b"agent=X", data.encode()).decode()
    return AGENT_RE.sub(b"agent=X", data)


def v2_request(command, args=(), caps=("agent=git/2.39.5",
                                        "object-format=sha1")):
    """A protocol v2 command request body. Built with one join: requests
    with tens of thousands of arguments stay cheap to make."""
    parts = [pkt("command=%s\n" % command)]
    parts += [pkt(c + "\n") for c in caps]
    parts.append(pkt_delim())
    parts += [pkt(a + "\n" if isinstance(a, str) else a) for a in args]
    parts.append(pkt_flush())
    return b"".join(parts)


def demux_sideband(items):
    """items after 'packfile\\n': returns (pack bytes, progress bytes,
    error bytes), stopping at the first flush."""
    pack, progress, error = b"", b"", b""
    for it in items:
        if it == FLUSH:
            break
        if not isinstance(it, bytes) or not it:
            raise ValueError("unexpected item in side-band: %r" % (it,))
        band, payload = it[0], it[1:]
        if band == 1:
            pack += payload
        elif band == 2:
            progress += payload
        elif band == 3:
            error += payload
        else:
            raise ValueError("bad side-band %d" % band)
    return pack, progress, error


def check_pack(data, thin=False, repo=None, env=None):
    """Validates a pack as a one-pass reader needs it (pack_check.py):
    header, every entry, the SHA-1 trailer, and every delta's base before
    the delta; a REF_DELTA to an object not in the pack only when thin.
    repo: a repository with the thin bases (the client after its fetch),
    so that every entry of a thin pack is resolved and checked. Returns its
    object count."""
    if not (thin and repo):
        return pack_check.check_pack(data, thin=thin)
    with pack_check.GitObjectSource(repo, env) as source:
        return pack_check.check_pack(data, thin=True, base_source=source)


def self_signed_cert(key, crt):
    """A throwaway certificate for 127.0.0.1 (2 days), written to the paths
    key and crt."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def gzip_bytes(data):
    # mtime=0: deterministic output.
    return gzip.compress(data, mtime=0)


# --------------------------------------------------------------------------
# processes

def _die_with_parent():
    """preexec_fn: SIGTERM this child when the test process dies without
    running its teardown (killed), so no server outlives the run."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def sanitizer_env():
    """With GSH_SANITIZE=1 the module is built with ASan/UBSan; the stock
    nginx binary is not, so the runtime must be preloaded."""
    if os.environ.get("GSH_SANITIZE") != "1":
        return {}
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        r = subprocess.run(["gcc", "-print-file-name=" + name],
                           stdout=subprocess.PIPE, text=True)
        p = r.stdout.strip()
        if p and os.path.isabs(p) and os.path.exists(p):
            libs.append(os.path.realpath(p))
    return {
        "LD_PRELOAD": " ".join(libs),
        # nginx frees its pools at exit only partly: leaks are not errors here.
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:log_path=stderr",
        "UBSAN_OPTIONS": "print_stacktrace=1",
    }


class Fcgiwrap(serving.Fcgiwrap):
    """fcgiwrap serving a unix socket in a temporary directory; it dies
    with the test process."""

    def __init__(self, directory, children=4):
        super().__init__(directory, children, preexec_fn=_die_with_parent,
                         backlog=128)


class Nginx(serving.NginxProcess):
    """`http_body` is the content of the http {} block minus logs/temp paths
    (added here); it may use {port}. The listening socket is inherited."""

    def __init__(self, prefix, http_body, module=None, worker_processes=2,
                 main_extra="", worker_connections=512):
        super().__init__(prefix, module, preexec_fn=_die_with_parent,
                         env=sanitizer_env())
        self.http_body = http_body
        self.worker_processes = worker_processes
        self.worker_connections = worker_connections
        self.main_extra = main_extra

    def config_text(self, ports):
        lines = self.main_lines(self.worker_processes, "info",
                                self.worker_connections)
        lines.insert(-1, self.main_extra)
        lines += [
            "http {",
            "    log_format gsh '$request_method $request_uri $status "
            "$bytes_sent $request_length \"$http_git_protocol\" "
            "\"$http_content_encoding\"';",
            "    access_log %s gsh;" % self.access_log,
        ] + self.temp_path_lines() + [
            self.http_body.replace("{port}", str(ports[0])),
            "}",
        ]
        return "\n".join(lines) + "\n"

    def http(self, method, path, headers=None, body=None, timeout=120):
        # fcgiwrap answers 502 with this body when git http-backend exits
        # (a 404, say) before fcgiwrap has written the whole request body to
        # it: a race of the reference's plumbing, not an answer of git's.
        for _ in range(5):
            res = http_request(self.port, method, path, headers, body, timeout)
            if not (res.status == 502 and res.body.startswith(
                    b"An error occurred while reading the request")):
                break
        return res


# --------------------------------------------------------------------------
# repository state, for comparing what two clients ended up with

def repo_state(git, path, worktree=False):
    """Everything a user can observe in a clone, as comparable strings."""
    state = {
        "refs": git("for-each-ref", "--format=%(objectname) %(objecttype) "
                    "%(refname) %(*objectname)", cwd=path),
        "head": git.run("symbolic-ref", "HEAD", cwd=path).out.strip(),
        "objects": "\n".join(sorted(git(
            "rev-list", "--objects", "--all", cwd=path).splitlines())),
    }
    fsck = git.run("fsck", "--strict", "--no-progress", cwd=path)
    state["fsck"] = (fsck.code, fsck.out, fsck.err)
    if worktree:
        state["head_commit"] = git.run("rev-parse", "HEAD", cwd=path).out
        state["index"] = git.run("ls-files", "-s", cwd=path).out
        state["status"] = git.run("status", "--porcelain", cwd=path).out
    return state


def assert_same(module, reference, what=""):
    """Equality with a readable message. Both sides are given, and a dict is
    compared key by key so that the first different key is named."""
    if isinstance(module, dict) and isinstance(reference, dict):
        assert sorted(module) == sorted(reference), what
        for k in module:
            assert module[k] == reference[k], \
                "%s: %r differs between module and reference" % (what, k)
    else:
        assert module == reference, "%s: module != reference" % what



def pack_object_ids(git, pack, workdir):
    """The object ids in a pack (bytes), via git index-pack + show-index.
    The pack must be self-contained (not thin)."""
    check_pack(pack)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(pack).hexdigest()
    pack_path = workdir / ("p-%s.pack" % digest)
    idx_path = workdir / ("p-%s.idx" % digest)
    pack_path.write_bytes(pack)
    r = git.run("index-pack", "-o", idx_path, pack_path, cwd=workdir)
    assert r.code == 0, "index-pack failed: %s" % r.err
    with open(idx_path, "rb") as f:
        out = subprocess.run(["git", "show-index"], stdin=f,
                             stdout=subprocess.PIPE, check=True,
                             env=git.env).stdout.decode()
    return sorted(line.split()[1] for line in out.splitlines())


def fetch_outcome(git, response, workdir):
    """What a v2 fetch response says, comparably: ("ERR", line) for an
    error, else ("pack", section lines before the packfile, object ids)."""
    body = response.body
    if not response.complete:
        return ("truncated response", response.status, body[:200])
    items, rest = parse_pkt_lines(body, stop_at_pack=True)
    for it in items:
        if isinstance(it, bytes) and it.startswith(b"ERR "):
            return ("ERR", it)
    if not items or items[-1] != b"packfile\n":
        return ("no packfile", response.status, items)
    pack, _progress, error = demux_sideband(parse_pkt_lines(rest))
    if error:
        return ("sideband error", error)
    return ("pack", items[:-1], pack_object_ids(git, pack, workdir))


def traced(env_dir, name):
    """A GIT_TRACE_PACKFILE path: git writes there the exact packfile bytes
    it receives (without pkt-line or side-band framing and without the
    progress messages), which is what "pack size" means in these tests."""
    return Path(env_dir) / ("%s.pack-trace" % name)


# --------------------------------------------------------------------------
# running one scenario against the module and the reference

def on_both(server, scenario):
    """Runs scenario(url_prefix, side_name) for the module (/git) and the
    reference (/ref); returns {"module": ..., "reference": ...}."""
    return {name: scenario(url, name) for name, url, _ in server.sides}


# The headers of a protocol v2 upload-pack request.
RPC_V2 = {"Git-Protocol": "version=2",
          "Content-Type": "application/x-git-upload-pack-request"}


def rpc_both(server, repo, body, headers=RPC_V2):
    """POSTs body to repo's git-upload-pack on the module and the reference;
    returns {"module": Response, "reference": Response}."""
    return {name: server.http("POST", "%s/%s/git-upload-pack"
                              % (prefix, repo), headers, body)
            for name, _, prefix in server.sides}


def clone(git, url, dest, *opts, worktree=None, env=None, protocol=2):
    """git clone [opts] url dest, tracing the received pack. Returns
    (comparable dict, GitResult, pack bytes). The comparable dict holds the
    exit code and, on success, everything repo_state() sees."""
    dest = Path(dest)
    if worktree is None:
        worktree = "--bare" not in opts and "--mirror" not in opts
    trace = traced(dest.parent, dest.name)
    full_env = {"GIT_TRACE_PACKFILE": str(trace)}
    full_env.update(env or {})
    r = git.run("clone", *opts, url, dest, env=full_env, protocol=protocol)
    state = None
    if r.code == 0:
        state = repo_state(git, dest, worktree)
        if worktree:
            state["origin_head"] = git.run(
                "symbolic-ref", "refs/remotes/origin/HEAD", cwd=dest).out
    pack = trace.read_bytes() if trace.exists() else b""
    if pack:
        check_pack(pack)
    return {"code": r.code, "state": state}, r, pack


def fetch(git, repo, url, *refspecs, opts=(), env=None, protocol=2):
    """git fetch [opts] url refspecs in repo, tracing the received pack.
    Returns (comparable dict, GitResult, pack bytes)."""
    repo = Path(repo)
    trace = traced(repo.parent, repo.name + "-fetch")
    if trace.exists():
        trace.unlink()
    full_env = {"GIT_TRACE_PACKFILE": str(trace)}
    full_env.update(env or {})
    r = git.run("fetch", *opts, url, *refspecs, cwd=repo, env=full_env,
                protocol=protocol)
    state = repo_state(git, repo) if r.code == 0 else None
    pack = trace.read_bytes() if trace.exists() else b""
    if pack:
        check_pack(pack, thin="--no-thin" not in opts,
                   repo=repo if r.code == 0 else None, env=git.env)
    return {"code": r.code, "state": state}, r, pack


def remote_lines(stderr):
    """The "remote: ..." progress lines of a git client's stderr, split on
    both \\r and \\n."""
    return [s for s in re.split(r"[\r\n]", stderr) if s.startswith("remote:")]

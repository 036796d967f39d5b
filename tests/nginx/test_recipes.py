"""The recipes in examples/: each file is loaded as it is, with only its
placeholders replaced, by the stock nginx, and driven by real git clients.

Placeholders (what a reader edits): the module path
/path/to/ngx_http_git_smart_http_module.so, the roots /srv/git and /srv/big,
the ports 8080, 8081 and 8443 (listened on 127.0.0.1), and the folders
/etc/nginx/, /var/log/nginx/ and /var/cache/nginx/ (files under the test's
prefix). The harness adds only what it adds to every test nginx: the
process lines (user, daemon off, pid, error_log) before the file, and the
temp paths and a default access_log at the top of its http block.
"""

import http.client
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import serving

EXAMPLES = helpers.REPO_TOP / "examples"
MODULE_PLACEHOLDER = "/path/to/ngx_http_git_smart_http_module.so"
PORTS = ("8080", "8081", "8443")
FATAL = ("exited on signal", "AddressSanitizer", "runtime error:", "[alert]",
         "[emerg]")

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="the recipes load the module")

UPLOAD_PACK_REQUEST = {"Content-Type": "application/x-git-upload-pack-request"}


class RecipeNginx(serving.NginxProcess):
    """nginx running examples/<name> with its placeholders replaced.
    `ports` of the file are listened on in order (8080 first); `paths`
    maps further placeholders (roots) to real paths."""

    def __init__(self, prefix, name, paths, ports=("8080",), extra_ports=None):
        super().__init__(prefix, helpers.module_path(),
                         preexec_fn=helpers._die_with_parent,
                         env=helpers.sanitizer_env())
        self.name = name
        self.paths = paths
        self.file_ports = ports
        self.listen_count = len(ports)
        # ports of other servers the file names (an origin)
        self.extra_ports = extra_ports or {}

    def config_text(self, ports):
        text = (EXAMPLES / self.name).read_text()
        port_of = dict(zip(self.file_ports, (str(p) for p in ports)))
        port_of.update({k: str(v) for k, v in self.extra_ports.items()})
        subst = {
            MODULE_PLACEHOLDER: str(self.module),
            "/etc/nginx/": str(self.prefix / "conf") + "/",
            "/var/log/nginx/": str(self.prefix / "logs") + "/",
            "/var/cache/nginx/": str(self.prefix / "cache") + "/",
        }
        subst.update(self.paths)
        for old, new in subst.items():
            text = text.replace(old, new)
        # listen on the inherited sockets: 127.0.0.1:<port>
        text = re.sub(r"\blisten\s+(?:127\.0\.0\.1:)?(\d+)\b",
                      r"listen 127.0.0.1:\1", text)

        def port(m):
            assert m.group(0) in port_of, \
                "%s names port %s, which the test does not give" % (
                    self.name, m.group(0))
            return port_of[m.group(0)]
        text = re.sub(r"\b(%s)\b" % "|".join(PORTS), port, text)
        head = ["user root;"] if os.geteuid() == 0 else []
        head += ["daemon off;", "pid %s;" % (self.prefix / "nginx.pid"),
                 "error_log %s info;" % self.error_log]
        inject = self.temp_path_lines() + [
            "    access_log %s;" % self.access_log]
        text, n = re.subn(r"^http \{\n", lambda m: m.group(0) + "\n".join(
            inject) + "\n", text, count=1, flags=re.M)
        assert n == 1, "%s has no http block" % self.name
        return "\n".join(head) + "\n" + text

    def check_log(self):
        bad = [l for l in self.read_error_log().splitlines()
               if any(m in l for m in FATAL)]
        assert not bad, "\n".join(bad)


@pytest.fixture
def recipe(tmp_path, repos_root):
    """recipe(name, paths={}, ports=("8080",), extra_ports={}) starts
    examples/<name>; every nginx started is stopped (cleanly) at the end."""
    started = []

    def start(name, paths=None, ports=("8080",), extra_ports=None):
        all_paths = {"/srv/git": str(repos_root)}
        all_paths.update(paths or {})
        ngx = RecipeNginx(tmp_path / ("nginx-%d" % len(started)), name,
                          all_paths, ports, extra_ports)
        for d in ("conf", "cache"):
            (ngx.prefix / d).mkdir(parents=True, exist_ok=True)
        started.append(ngx)
        return ngx

    yield start
    for ngx in started:
        if ngx.proc is not None:
            assert ngx.stop() == 0, ngx.read_error_log()[-3000:]
        ngx.check_log()


def request(port, method, path, headers=None, body=None, source="127.0.0.1"):
    """One HTTP request from a chosen loopback address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def advert(port, path="/git/small.git", protocol=2, source="127.0.0.1"):
    headers = {"Git-Protocol": "version=%d" % protocol} if protocol else {}
    return request(port, "GET", path + "/info/refs?service=git-upload-pack",
                   headers, source=source)


def ls_refs_body():
    return helpers.v2_request("ls-refs", ["peel", "ref-prefix refs/heads/"])


def clone_ok(git, url, dest, *opts, env=None):
    r = git.run("clone", "-q", "--bare", *opts, url, dest, env=env)
    assert r.code == 0, r.err
    heads = git("for-each-ref", "--format=%(refname)", "refs/heads",
                cwd=dest).split()
    assert "refs/heads/main" in heads
    return r


def log_lines(ngx, name="access.log"):
    return serving.read_text_from(ngx.prefix / "logs" / name).splitlines()


def log_lines_once(ngx, settled, name="access.log"):
    """The log's lines once settled(lines) holds: nginx writes a request's
    line after the client has the whole response. Bounded; the lines as they
    are then either way, for the test's own assertions to judge."""
    helpers.wait_until(lambda: settled(log_lines(ngx, name)), 30, interval=0.01)
    return log_lines(ngx, name)


# --------------------------------------------------------------------------


def test_minimal_nginx_conf(git, recipe, tmp_path):
    ngx = recipe("nginx.conf").start()
    clone_ok(git, "http://127.0.0.1:%d/git/small.git" % ngx.port,
             tmp_path / "c")
    # exported repositories only
    assert advert(ngx.port, "/git/noexport.git")[0] == 404


def test_auth_basic(git, recipe, tmp_path):
    ngx = recipe("auth-basic.conf")
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret"],
                            stdout=subprocess.PIPE, text=True,
                            check=True).stdout.strip()
    (ngx.prefix / "conf").mkdir(parents=True, exist_ok=True)
    (ngx.prefix / "conf" / "git.htpasswd").write_text("alice:%s\n" % hashed)
    ngx.start()
    base = "127.0.0.1:%d/git" % ngx.port

    # without credentials: 401, and git cannot prompt here
    assert advert(ngx.port)[0] == 401
    r = git.run("ls-remote", "http://%s/small.git" % base)
    assert r.code != 0
    r = git.run("ls-remote", "http://alice:wrong@%s/small.git" % base)
    assert r.code != 0 and "Authentication failed" in r.err

    # private: export_all, so noexport.git is served to alice
    clone_ok(git, "http://alice:s3cret@%s/noexport.git" % base,
             tmp_path / "c")
    lines = log_lines_once(
        ngx, lambda ls: any(" noexport.git fetch " in l for l in ls),
        "git-access.log")
    mine = [l for l in lines if " alice " in l]
    assert mine, "\n".join(lines)
    # $remote_user beside what the module did
    fetch = [l for l in mine if " noexport.git fetch " in l]
    assert len(fetch) == 1 and fetch[0].endswith(" ok"), "\n".join(mine)
    assert int(fetch[0].split()[-2]) > 0  # $git_pack_bytes
    # refused before the module: it has nothing to say about them
    refused = [l for l in lines if '" 401 ' in l]
    assert len(refused) >= 3
    assert all(l.endswith(" 401 - - - -") for l in refused), "\n".join(lines)


def test_push_auth_basic(git, recipe, tmp_path):
    # a root of its own: the push changes the repository
    root = tmp_path / "push-root"
    work = tmp_path / "work"
    git("init", "-q", "-b", "main", work)
    (work / "README").write_text("push recipe\n")
    git("add", "README", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    bare = root / "project.git"
    git("init", "-q", "--bare", "-b", "main", bare)
    git("push", "-q", bare, "main", cwd=work)
    hook = bare / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\necho \"post-receive ran for $REMOTE_USER\"\n")
    hook.chmod(0o755)

    ngx = recipe("push-auth-basic.conf", paths={"/srv/git": str(root)})
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret"],
                            stdout=subprocess.PIPE, text=True,
                            check=True).stdout.strip()
    (ngx.prefix / "conf" / "git.htpasswd").write_text("alice:%s\n" % hashed)
    ngx.start()
    base = "127.0.0.1:%d/git/project.git" % ngx.port

    # more than nginx's default client_max_body_size of 1m, sent chunked
    (work / "random.bin").write_bytes(os.urandom(3 << 20))
    git("add", "random.bin", cwd=work)
    git("commit", "-q", "-m", "random", cwd=work)
    tip = git("rev-parse", "HEAD", cwd=work)

    r = git.run("push", "http://%s" % base, "main", cwd=work)
    assert r.code != 0  # 401, and git cannot prompt here
    assert git("rev-parse", "main", cwd=bare) != tip

    r = git.run("push", "http://alice:s3cret@%s" % base, "main", cwd=work)
    assert r.code == 0, r.err
    assert git("rev-parse", "main", cwd=bare) == tip
    pushes = [l for l in log_lines_once(
        ngx, lambda ls: sum('"POST /git/project.git/git-receive-pack ' in l
                            for l in ls) >= 2, "git-access.log")
              if '"POST /git/project.git/git-receive-pack ' in l]
    # git probes with a flush first (its body is larger than postBuffer)
    assert len(pushes) == 2, log_lines(ngx, "git-access.log")
    assert all(" alice " in l and " git-receive-pack receive-pack " in l
               and l.endswith(" ok") for l in pushes), pushes
    assert max(int(l.split()[-2]) for l in pushes) > 3 << 20  # the pack

    # and a clone sees it
    clone_ok(git, "http://alice:s3cret@%s" % base, tmp_path / "c")
    # git_smart_http_hooks on: the hook ran, with the user's name
    assert "remote: post-receive ran for alice" in r.err


def test_auth_request(git, recipe, tmp_path):
    ngx = recipe("auth-request.conf", ports=("8080", "8081")).start()
    url = "http://127.0.0.1:%d/git/small.git" % ngx.port
    r = git.run("ls-remote", url)
    assert r.code != 0
    r = git.run("-c", "http.extraHeader=Authorization: Bearer wrong",
                "ls-remote", url)
    assert r.code != 0
    clone_ok(git, url, tmp_path / "c",
             env={"GIT_CONFIG_COUNT": "1",
                  "GIT_CONFIG_KEY_0": "http.extraHeader",
                  "GIT_CONFIG_VALUE_0": "Authorization: Bearer change-me"})
    lines = log_lines_once(
        ngx, lambda ls: any(" token-user " in l and " fetch " in l
                            for l in ls), "git-access.log")
    allowed = [l for l in lines if " token-user " in l]
    assert [l.split()[-2] for l in allowed] == ["advertise", "ls-refs",
                                                "fetch"], "\n".join(lines)
    assert all(l.endswith(" ok") for l in allowed)
    denied = [l for l in lines if '" 401 ' in l]
    assert len(denied) >= 2
    # refused before the module: it has nothing to say about them
    assert all(l.endswith(" - - -") for l in denied), "\n".join(denied)


def test_tls(git, recipe, tmp_path):
    ngx = recipe("tls.conf", ports=("8443",))
    tls = ngx.prefix / "conf" / "tls"
    tls.mkdir(parents=True)
    helpers.self_signed_cert(tls / "git.key", tls / "git.crt")
    ngx.start()
    url = "https://127.0.0.1:%d/git/small.git" % ngx.port
    # an unknown certificate is refused...
    r = git.run("ls-remote", url)
    assert r.code != 0 and "certificate" in r.err.lower()
    # ...and the one the test made is trusted when named
    clone_ok(git, url, tmp_path / "c", "-c",
             "http.sslCAInfo=%s" % (tls / "git.crt"))
    lines = log_lines_once(
        ngx, lambda ls: any(" small.git fetch " in l for l in ls),
        "git-access.log")
    fetches = [l for l in lines if " small.git fetch " in l]
    assert len(fetches) == 1 and fetches[0].endswith(" ok")
    assert all(" TLSv1." in l for l in lines)
    # git's curl speaks HTTP/2 when the server offers it
    assert any("HTTP/2.0" in l for l in fetches), "\n".join(lines)


def test_limit_req(git, recipe, tmp_path):
    ngx = recipe("limits.conf").start()
    clone_ok(git, "http://127.0.0.1:%d/git/small.git" % ngx.port,
             tmp_path / "c")
    # a burst far beyond 20: the excess is refused with 429 whatever the
    # speed of the machine (the rate adds one request per two seconds)
    statuses = [advert(ngx.port)[0] for _ in range(40)]
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) >= 10, statuses
    assert statuses[0] == 200
    # per client: another address is not limited
    assert advert(ngx.port, source="127.0.0.2")[0] == 200
    r = git.run("ls-remote", "http://127.0.0.1:%d/git/small.git" % ngx.port)
    assert r.code != 0 and "429" in r.err


def held_post(port, source="127.0.0.1"):
    """A POST whose body never comes: the request is in progress (counted
    by limit_conn) from the moment nginx answers 100 Continue."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60,
                                 source_address=(source, 0))
    s.sendall(b"POST /git/small.git/git-upload-pack HTTP/1.1\r\n"
              b"Host: 127.0.0.1\r\n"
              b"Content-Type: application/x-git-upload-pack-request\r\n"
              b"Git-Protocol: version=2\r\n"
              b"Content-Length: 100\r\n"
              b"Expect: 100-continue\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "connection closed before 100 Continue"
        head += chunk
    assert head.startswith(b"HTTP/1.1 100 "), head
    return s


def test_limit_conn(git, recipe, tmp_path):
    ngx = recipe("limits.conf").start()
    held = [held_post(ngx.port) for _ in range(4)]
    try:
        assert advert(ngx.port)[0] == 429
        status, _, _ = request(ngx.port, "POST", "/git/small.git/"
                               "git-upload-pack", UPLOAD_PACK_REQUEST,
                               ls_refs_body())
        assert status == 429
        # per client
        assert advert(ngx.port, source="127.0.0.2")[0] == 200
    finally:
        for s in held:
            s.close()
    # nginx logs each abandoned POST (400) when it frees the request, and
    # its limit_conn slot with it
    wait_for(lambda: sum(
        '"POST /git/small.git/git-upload-pack HTTP/1.1" 400 ' in l
        for l in log_lines(ngx)) >= 4)
    clone_ok(git, "http://127.0.0.1:%d/git/small.git" % ngx.port,
             tmp_path / "c")


def wait_for(condition, what="condition"):
    """Waits (bounded) for something nginx does after the client has seen
    the end of its side, such as writing an access-log line."""
    helpers.wait_until(condition, 30, what, interval=0.01)


def test_per_repository_location(git, recipe, tmp_path, repos_root):
    big = tmp_path / "big"
    mono = big / "git" / "monorepo.git"
    git("clone", "-q", "--bare", repos_root / "small.git", mono)
    work = tmp_path / "work"
    git("clone", "-q", mono, work)
    other_commit = repos_commit(git, work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    ngx = recipe("per-repository.conf", paths={"/srv/big": str(big)}).start()
    base = "http://127.0.0.1:%d/git" % ngx.port
    # not exported, but this location serves every repository of its root
    clone_ok(git, base + "/monorepo.git", tmp_path / "m")
    assert git("rev-parse", "main", cwd=tmp_path / "m") == other_commit
    clone_ok(git, base + "/monorepo", tmp_path / "m2")
    # partial clone is off there: git warns and clones everything
    r = git.run("clone", "-q", "--bare", "--filter=blob:none",
                base + "/monorepo.git", tmp_path / "m3")
    assert r.code == 0 and "filtering not recognized" in r.err
    # the other repositories still come from the main root
    clone_ok(git, base + "/small.git", tmp_path / "s")
    assert advert(ngx.port, "/git/monorepo-not.git")[0] == 404


def repos_commit(git, work):
    (Path(work) / "only-in-monorepo").write_text("x\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "only in the other root", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def test_health(recipe):
    ngx = recipe("health.conf").start()
    status, _, body = request(ngx.port, "GET", "/healthz")
    assert (status, body) == (204, b"")
    assert advert(ngx.port)[0] == 200
    lines = log_lines_once(ngx, lambda ls: any("/info/refs" in l for l in ls))
    assert any("/info/refs" in l for l in lines)
    assert not any("/healthz" in l for l in lines)


def test_cdn_edge(git, recipe, tmp_path):
    origin = recipe("nginx.conf").start()
    edge = recipe("cdn-edge.conf", extra_ports={"8081": origin.port})
    edge.module = None  # the edge needs no module
    edge.start()

    def origin_count(what):
        """Lines of the origin's access log for what, once there are two."""
        def count(lines):
            return sum(l.startswith("127.0.0.1") and what in l for l in lines)
        return count(log_lines_once(origin, lambda ls: count(ls) >= 2))

    s1, h1, b1 = advert(edge.port)
    s2, h2, b2 = advert(edge.port)
    assert (s1, s2) == (200, 200)
    assert h1["X-Cache-Status"] == "MISS"
    assert h2["X-Cache-Status"] == "HIT"
    assert b1 == b2 and b1.startswith(b"000eversion 2\n")
    # clients are still told not to cache
    assert "no-cache" in h2["Cache-Control"]
    # protocol v0 has an advertisement of its own
    s0, h0, b0 = advert(edge.port, protocol=0)
    assert h0["X-Cache-Status"] == "MISS"
    assert b0.startswith(b"001e# service=git-upload-pack\n")
    assert origin_count("/info/refs") == 2

    # POSTs are passed through every time
    for _ in range(2):
        status, headers, body = request(
            edge.port, "POST", "/git/small.git/git-upload-pack",
            dict(UPLOAD_PACK_REQUEST, **{"Git-Protocol": "version=2"}),
            ls_refs_body())
        assert status == 200 and b"refs/heads/main" in body
        assert "X-Cache-Status" not in headers
    assert origin_count("POST /git/small.git/git-upload-pack") == 2

    clone_ok(git, "http://127.0.0.1:%d/git/small.git" % edge.port,
             tmp_path / "c")
    r = git.run("fsck", "--no-progress", cwd=tmp_path / "c")
    assert r.code == 0, r.err


def test_cdn_edge_with_a_pack_cache_origin(git, recipe, tmp_path):
    """The edge in front of pack-cache-origin.conf: the second clone's pack
    is the origin's cache file (HIT), the same objects as the first."""
    origin = recipe("pack-cache-origin.conf", ports=("8081",)).start()
    edge = recipe("cdn-edge.conf", extra_ports={"8081": origin.port})
    edge.module = None
    edge.start()
    url = "http://127.0.0.1:%d/git/small.git" % edge.port
    for name in ("c1", "c2"):
        clone_ok(git, url, tmp_path / name)
        r = git.run("fsck", "--strict", "--no-progress", cwd=tmp_path / name)
        assert r.code == 0, r.err

    def fetches(lines):
        return [l for l in lines if " fetch cache=" in l]
    lines = fetches(log_lines_once(origin, lambda ls: len(fetches(ls)) >= 2,
                                   name="git-access.log"))
    assert [l.split("cache=")[1].split()[0] for l in lines] == ["MISS", "HIT"]
    # ls-refs is not a pack: no cache status
    assert any(" ls-refs cache=- " in l for l in log_lines(
        origin, "git-access.log"))
    objects = [git("cat-file", "--batch-all-objects", "--batch-check",
                   cwd=tmp_path / n) for n in ("c1", "c2")]
    assert objects[0] == objects[1]
    files = sorted(p.name for p in (origin.prefix / "cache" / "git-packs")
                   .iterdir())
    assert len(files) == 1 and not files[0].endswith(".tmp"), files
    status, _, body = request(origin.port, "GET", "/metrics")
    assert status == 200
    assert ('git_smart_http_pack_cache_requests_total{zone="git_packs",'
            'status="hit"} 1') in body.decode()


COMBINED = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d+) (\d+)')


def requests_logged(ngx, settled):
    """(method, path, status, bytes) of the access log's lines, once
    settled(those) holds."""
    def parse(lines):
        return [m.groups() for m in map(COMBINED.search, lines) if m]
    return parse(log_lines_once(ngx, lambda ls: settled(parse(ls))))


def test_cdn_offload(git, recipe, tmp_path, repos_root):
    """examples/cdn-offload: clones through the edge download the base
    pack (packfile-uris) or bundle (bundle-uri) from the edge. Once the
    first clone has warmed the edge, the origin answers a clone with the
    refs and an inline pack of what the base lacks, as it would an
    incremental fetch, and serves no published file again."""
    origin = recipe("cdn-offload/origin.conf", ports=("8081",)).start()
    edge = recipe("cdn-offload/edge.conf", extra_ports={"8081": origin.port})
    edge.module = None  # the edge needs no module
    edge.start()
    url = "http://127.0.0.1:%d/git/small.git" % edge.port
    plain = tmp_path / "plain"
    clone_ok(git, "http://127.0.0.1:%d/git/small.git" % origin.port, plain)

    def objects(path):
        return git("cat-file", "--batch-all-objects", "--batch-check",
                   cwd=path)

    def published(reqs):
        return [r for r in reqs if "/published/" in r[1]]

    for n, extra in enumerate((["-c", "fetch.uriprotocols=http"],
                               ["-c", "fetch.uriprotocols=http"],
                               ["--bundle-uri=" + url +
                                "/published/bundle-list"])):
        dest = tmp_path / ("c%d" % n)
        opts = extra if extra[0].startswith("--") else []
        config = extra if not opts else []
        r = git.run(*config, "clone", "-q", "--bare", *opts, url, dest)
        assert r.code == 0, r.err
        r = git.run("fsck", "--strict", "--no-progress", cwd=dest)
        assert r.code == 0, r.err
        assert objects(dest) == objects(plain) or n == 2
    # the bundle-uri clone holds what the plain clone holds, and the
    # bundle's branches as refs/bundles/*
    assert set(objects(plain).splitlines()) <= set(
        objects(tmp_path / "c2").splitlines())

    # the edge: each clone's base download; the origin: the first only
    at_edge = published(requests_logged(
        edge, lambda rs: len(published(rs)) >= 4))
    packs = [r for r in at_edge if r[1].endswith(".pack")]
    assert len(packs) == 2 and all(r[2] == "200" for r in packs), at_edge
    at_origin = requests_logged(
        origin, lambda rs: sum(r[0] == "POST" for r in rs) >= 6)
    from_origin = [r for r in published(at_origin) if r[1].endswith((
        ".pack", ".bundle"))]
    assert [r[1] for r in from_origin] == [
        packs[0][1], [r for r in at_edge if r[1].endswith(".bundle")][0][1]]
    # the second clone's pack from the origin: the inline pack only, a
    # small part of the base
    size = int(packs[0][3])
    fetches = [r for r in at_origin if r[0] == "POST"]
    assert all(int(r[3]) < size / 4 for r in fetches[2:6]), (fetches, size)

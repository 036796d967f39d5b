"""Dumb HTTP (git_smart_http_dumb): git's older protocol, where the client
reads info/refs, objects/info/packs and the object and pack files itself.

An nginx of this file's own serves one repositories root four ways:
  /dumb/    the module, git_smart_http_dumb on (inherited from http {})
  /nodumb/  the module, git_smart_http_dumb off in the location
  /ref/     git http-backend through fcgiwrap
Every scenario runs on /dumb/ and /ref/ and the answers are compared; the
repository has http.uploadpack false, so that git http-backend serves it
as a dumb-only server would, and GIT_SMART_HTTP=0 makes the client speak
the dumb protocol to both.
"""

import os
import re
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

import helpers
from helpers import Fcgiwrap, Nginx

FASTCGI = helpers.serving.FASTCGI

HTTP_BODY = """
    git_smart_http_dumb on;
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
        location /dumb/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        location /nodumb/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_dumb off;
        }
        location /ref/ {%s
        }
    }
""" % FASTCGI

DUMB = {"GIT_SMART_HTTP": "0"}
SIDES = (("module", "/dumb"), ("reference", "/ref"))
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def commit_file(git, work, name, text):
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git.tick()
    git("commit", "-q", "-m", "change " + name, cwd=work)


@pytest.fixture(scope="module")
def dumb_env(git, tmp_path_factory):
    """(root, server, work): ROOT/repo.git is a bare repository with two
    packs of distinct ages, loose objects, an annotated tag, a tag of a tag
    and a lightweight tag; work is the clone it is pushed from."""
    base = tmp_path_factory.mktemp("dumb")
    root = base / "root"
    root.mkdir()
    work = base / "work"
    git("init", "-q", "-b", "main", work)
    commit_file(git, work, "a.txt", "one\n")
    commit_file(git, work, "b.txt", "two\n" * 50)
    git("tag", "-a", "-m", "release one", "v1", cwd=work)
    git("tag", "-a", "-m", "tag of a tag", "v1-signed", "v1", cwd=work)
    repo = root / "repo.git"
    git("init", "-q", "--bare", "-b", "main", repo)
    git("push", "-q", str(repo), "main", "v1", "v1-signed", cwd=work)
    git("repack", "-q", "-d", cwd=repo)
    commit_file(git, work, "c.txt", "three\n")
    git("tag", "light", cwd=work)
    git("push", "-q", str(repo), "main", "light", cwd=work)
    git("repack", "-q", "-d", cwd=repo)
    # git lists packs newest first: give them distinct ages
    packs = sorted((repo / "objects" / "pack").glob("pack-*.pack"))
    assert len(packs) == 2
    for i, p in enumerate(packs):
        os.utime(p, (1700000000 + i * 1000, 1700000000 + i * 1000))
    commit_file(git, work, "d.txt", "four\n")
    git("push", "-q", str(repo), "main", cwd=work)   # loose objects
    git("config", "http.uploadpack", "false", cwd=repo)
    (repo / "git-daemon-export-ok").write_text("")

    fcgi = Fcgiwrap(base / "fcgiwrap", children=2).start()
    body = HTTP_BODY.replace("{root}", str(root)) \
        .replace("{sock}", str(fcgi.socket_path)) \
        .replace("{backend}", helpers.HTTP_BACKEND)
    nginx = Nginx(base / "nginx", body, module=helpers.module_path(),
                  worker_processes=1)
    try:
        nginx.start()
        yield root, nginx, work
    finally:
        nginx.stop()
        fcgi.stop()


def get_both(nginx, path, method="GET", headers=None):
    return {name: nginx.http(method, prefix + path, headers)
            for name, prefix in SIDES}


def loose_object(repo):
    for d in sorted((repo / "objects").iterdir()):
        if len(d.name) == 2:
            for f in sorted(d.iterdir()):
                return "objects/%s/%s" % (d.name, f.name)
    raise AssertionError("no loose object")


def update_server_info(git, repo, tmp_path):
    """What `git update-server-info` writes for info/refs, from a copy (the
    served repository keeps no info/refs, so nothing can be read from it)."""
    copy = tmp_path / "copy.git"
    git("clone", "-q", "--mirror", str(repo), copy)
    git("update-server-info", cwd=copy)
    return (copy / "info" / "refs").read_bytes()


# --------------------------------------------------------------------------
# the generated files

def test_info_refs_is_update_server_info_and_http_backend(dumb_env, git,
                                                          tmp_path):
    root, nginx, _ = dumb_env
    both = get_both(nginx, "/repo.git/info/refs")
    mod, ref = both["module"], both["reference"]
    assert mod.status == ref.status == 200
    assert mod.body == ref.body
    assert mod.body == update_server_info(git, root / "repo.git", tmp_path)
    assert b"refs/tags/v1^{}" in mod.body
    assert b"refs/tags/v1-signed^{}" in mod.body
    assert b"refs/tags/light^{}" not in mod.body
    for h in ("Content-Type", "Cache-Control", "Pragma", "Expires"):
        assert mod.header(h) == ref.header(h), h
    assert mod.header("Content-Length") == str(len(mod.body))


def test_info_refs_follows_the_refs_with_no_hook(dumb_env, git, tmp_path):
    root, nginx, work = dumb_env
    repo = root / "repo.git"
    git("push", "-q", str(repo), "main:refs/heads/extra", cwd=work)
    try:
        body = nginx.http("GET", "/dumb/repo.git/info/refs").body
        assert b"\trefs/heads/extra\n" in body
        assert body == update_server_info(git, repo, tmp_path)
    finally:
        git("push", "-q", str(repo), ":refs/heads/extra", cwd=work)
    assert b"extra" not in nginx.http("GET", "/dumb/repo.git/info/refs").body


def test_info_refs_lists_hidden_refs_as_http_backend(dumb_env, git):
    """Dumb HTTP hides no object, and git http-backend lists hidden refs
    in the dumb info/refs: so does the module."""
    root, nginx, _ = dumb_env
    repo = root / "repo.git"
    git("config", "transfer.hideRefs", "refs/tags/light", cwd=repo)
    try:
        both = get_both(nginx, "/repo.git/info/refs")
        assert both["module"].body == both["reference"].body
        assert b"refs/tags/light" in both["module"].body
    finally:
        git("config", "--unset", "transfer.hideRefs", cwd=repo)


def test_smart_info_refs_is_still_smart(dumb_env):
    _, nginx, _ = dumb_env
    # http.uploadpack false: both refuse the smart service
    both = get_both(nginx, "/repo.git/info/refs?service=git-upload-pack")
    assert both["module"].status == both["reference"].status == 403


@pytest.mark.parametrize("path", ["HEAD", "objects/info/packs"])
def test_generated_files_match_http_backend(dumb_env, path):
    _, nginx, _ = dumb_env
    both = get_both(nginx, "/repo.git/" + path)
    mod, ref = both["module"], both["reference"]
    assert mod.status == ref.status == 200
    assert mod.body == ref.body
    for h in ("Content-Type", "Cache-Control", "Pragma", "Expires"):
        assert mod.header(h) == ref.header(h), h
    if path == "HEAD":
        assert mod.body == b"ref: refs/heads/main\n"
    else:
        assert mod.body.count(b"\nP ") + mod.body.startswith(b"P ") == 2


def test_detached_head(dumb_env, git):
    root, nginx, _ = dumb_env
    repo = root / "repo.git"
    oid = git("rev-parse", "main", cwd=repo)
    git("update-ref", "--no-deref", "HEAD", oid, cwd=repo)
    try:
        both = get_both(nginx, "/repo.git/HEAD")
        assert both["module"].body == both["reference"].body \
            == (oid + "\n").encode()
    finally:
        git("symbolic-ref", "HEAD", "refs/heads/main", cwd=repo)


# --------------------------------------------------------------------------
# the files sent as they are

def file_paths(repo):
    pack = sorted((repo / "objects" / "pack").glob("pack-*.pack"))[0]
    return [loose_object(repo),
            "objects/pack/" + pack.name,
            "objects/pack/" + pack.name[:-5] + ".idx",
            "objects/info/alternates",
            "objects/info/http-alternates",
            "objects/" + "ab/" + "c" * 38]


def test_files_match_http_backend(dumb_env):
    root, nginx, _ = dumb_env
    repo = root / "repo.git"
    alternates = repo / "objects" / "info" / "http-alternates"
    alternates.write_text("")   # present and empty; alternates is missing
    try:
        for path in file_paths(repo):
            both = get_both(nginx, "/repo.git/" + path)
            mod, ref = both["module"], both["reference"]
            assert mod.status == ref.status, path
            if ref.status != 200:
                continue
            assert mod.body == ref.body, path
            assert mod.body == (repo / path).read_bytes(), path
            for h in ("Content-Type", "Cache-Control", "Pragma"):
                assert mod.header(h) == ref.header(h), (path, h)
            assert (mod.header("Expires") is None) \
                == (ref.header("Expires") is None), path
            # git writes RFC 2822 dates ("+0000"), nginx HTTP dates ("GMT")
            assert parsedate_to_datetime(mod.header("Last-Modified")) \
                == parsedate_to_datetime(ref.header("Last-Modified")), path
            assert mod.header("ETag")
    finally:
        alternates.unlink()


def test_range_and_head_on_a_pack(dumb_env):
    root, nginx, _ = dumb_env
    repo = root / "repo.git"
    path = "/dumb/repo.git/" + file_paths(repo)[1]
    data = (repo / path[len("/dumb/repo.git/"):]).read_bytes()
    r = nginx.http("GET", path, {"Range": "bytes=0-11"})
    assert r.status == 206
    assert r.body == data[:12] and r.body.startswith(b"PACK")
    assert r.header("Content-Range") == "bytes 0-11/%d" % len(data)
    h = nginx.http("HEAD", path)
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Length") == str(len(data))
    etag = h.header("ETag")
    assert nginx.http("GET", path, {"If-None-Match": etag}).status == 304
    # generated answers have no validator: never 304
    assert nginx.http("GET", "/dumb/repo.git/info/refs",
                      {"If-None-Match": "*"}).status == 200


def test_head_method_on_generated(dumb_env):
    _, nginx, _ = dumb_env
    for path in ("info/refs", "HEAD", "objects/info/packs"):
        both = get_both(nginx, "/repo.git/" + path, method="HEAD")
        assert both["module"].status == both["reference"].status == 200
        assert both["module"].body == b""
        assert both["module"].header("Content-Type") \
            == both["reference"].header("Content-Type")


def test_post_is_405(dumb_env):
    _, nginx, _ = dumb_env
    for path in ("info/refs", "HEAD", "objects/info/packs",
                 file_paths(dumb_env[0] / "repo.git")[1]):
        both = {name: nginx.http("POST", prefix + "/repo.git/" + path,
                                 {"Content-Type": "text/plain"}, b"x")
                for name, prefix in SIDES}
        assert both["module"].status == both["reference"].status == 405
        assert both["module"].header("Allow") == "GET, HEAD"


# --------------------------------------------------------------------------
# refusals

def test_getanyfile_false_is_403(dumb_env, git):
    root, nginx, _ = dumb_env
    repo = root / "repo.git"
    git("config", "http.getanyfile", "false", cwd=repo)
    try:
        for path in ["info/refs", "HEAD", "objects/info/packs"] \
                + file_paths(repo):
            both = get_both(nginx, "/repo.git/" + path)
            assert both["module"].status == both["reference"].status \
                == 403, path
    finally:
        git("config", "--unset", "http.getanyfile", cwd=repo)
    assert nginx.http("GET", "/dumb/repo.git/info/refs").status == 200


def test_directive_off_is_404(dumb_env):
    root, nginx, _ = dumb_env
    for path in ["info/refs", "HEAD", "objects/info/packs"] \
            + file_paths(root / "repo.git"):
        assert nginx.http("GET", "/nodumb/repo.git/" + path).status == 404


def test_not_exported_is_404(dumb_env, git):
    root, nginx, _ = dumb_env
    export = root / "repo.git" / "git-daemon-export-ok"
    export.unlink()
    try:
        for path in ["info/refs", "HEAD", file_paths(root / "repo.git")[1]]:
            both = get_both(nginx, "/repo.git/" + path)
            assert both["module"].status == both["reference"].status \
                == 404, path
    finally:
        export.write_text("")


@pytest.mark.parametrize("path", [
    "/dumb/repo.git/objects/../config",
    "/dumb/repo.git/objects/%2e%2e/config",
    "/dumb/repo.git/objects/pack/..%2f..%2fconfig",
    "/dumb/repo.git%2fobjects/info/packs",
    "/dumb/../dumb/repo.git/HEAD/../config",
])
def test_traversal_is_refused(dumb_env, path):
    _, nginx, _ = dumb_env
    r = nginx.http("GET", path)
    assert r.status in (400, 404), (path, r.status)
    assert b"uploadpack" not in r.body


def test_symlinked_object_outside_is_refused(dumb_env, tmp_path):
    root, nginx, _ = dumb_env
    repo = root / "repo.git"
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for you\n")
    link_dir = repo / "objects" / "fe"
    link_dir.mkdir(exist_ok=True)
    link = link_dir / ("e" * 38)
    link.symlink_to(secret)
    link_pack = repo / "objects" / "pack" / ("pack-" + "f" * 40 + ".pack")
    link_pack.symlink_to(secret)
    # a folder of loose objects that is a link out of the repository
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ("d" * 38)).write_bytes(b"not for you\n")
    link_folder = repo / "objects" / "fd"
    link_folder.symlink_to(outside)
    try:
        for p in ("objects/fe/" + "e" * 38,
                  "objects/fd/" + "d" * 38,
                  "objects/pack/pack-" + "f" * 40 + ".pack"):
            r = nginx.http("GET", "/dumb/repo.git/" + p)
            assert r.status == 404, p
            assert b"not for you" not in r.body
            # git http-backend follows the links
            assert nginx.http("GET", "/ref/repo.git/" + p).body \
                == b"not for you\n", p
    finally:
        link.unlink()
        link_dir.rmdir()
        link_pack.unlink()
        link_folder.unlink()


# --------------------------------------------------------------------------
# a git client served only dumb HTTP

def test_clone_and_fetch_in_dumb_mode(dumb_env, git, tmp_path):
    root, nginx, work = dumb_env
    repo = root / "repo.git"
    base = "http://127.0.0.1:%d" % nginx.port
    clones = {}
    for name, prefix in SIDES:
        dest = tmp_path / name
        r = git.run("clone", "-q", "--bare", base + prefix + "/repo.git",
                    dest, env=dict(DUMB, GIT_TRACE_CURL="1"))
        assert r.code == 0, (name, r.err)
        # the dumb protocol indeed: no smart service was asked for
        assert "service=git-upload-pack" not in r.err, name
        assert "info/refs" in r.err, name
        clones[name] = dest
    states = {n: helpers.repo_state(git, d) for n, d in clones.items()}
    helpers.assert_same(states["module"], states["reference"], "dumb clone")
    assert states["module"]["fsck"][0] == 0

    commit_file(git, work, "e.txt", "five\n")
    git("tag", "-a", "-m", "two", "v2", cwd=work)
    git("push", "-q", str(repo), "main", "v2", cwd=work)
    codes = {}
    for name, prefix in SIDES:
        r = git.run("fetch", "-q", base + prefix + "/repo.git",
                    "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                    cwd=clones[name], env=DUMB)
        codes[name] = r.code
        assert r.code == 0, (name, r.err)
    states = {n: helpers.repo_state(git, d) for n, d in clones.items()}
    helpers.assert_same(states["module"], states["reference"], "dumb fetch")
    assert git("rev-parse", "main", cwd=clones["module"]) \
        == git("rev-parse", "main", cwd=repo)
    assert "refs/tags/v2" in states["module"]["refs"]


def test_smart_client_without_fallback(dumb_env, git, tmp_path):
    """Without GIT_SMART_HTTP=0 the client asks for the smart service, and
    http.uploadpack false refuses it on both sides alike."""
    _, nginx, _ = dumb_env
    base = "http://127.0.0.1:%d" % nginx.port
    codes = {}
    for name, prefix in SIDES:
        r = git.run("clone", "-q", "--bare", base + prefix + "/repo.git",
                    tmp_path / name)
        codes[name] = r.code
    assert codes["module"] == codes["reference"] == 128


def test_dumb_clone_needs_the_directive(dumb_env, git, tmp_path):
    _, nginx, _ = dumb_env
    r = git.run("clone", "-q", "--bare",
                "http://127.0.0.1:%d/nodumb/repo.git" % nginx.port,
                tmp_path / "c", env=DUMB)
    assert r.code != 0
    assert "404" in r.err or "not found" in r.err, r.err

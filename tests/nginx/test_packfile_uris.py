"""Published base packs (issue 20): `git_smart_http_publish` keeps, per
repository, a pack of everything its refs reached at one moment and the same
pack as a bundle, named by the pack's checksum; `git_smart_http_packfile_uris`
gives a v2 clone that asks for them (`-c fetch.uriprotocols=http`) the base's
URI and an inline pack of the rest; `git_smart_http_bundle_uri` answers the
v2 bundle-uri command, and <repo>/published/bundle-list is what
`git clone --bundle-uri=` reads.

Its own nginx: /pub/ (interval=1h: after a push, clones get the old base and
a larger inline pack), /now/ (interval=0 grace=0: every change is published
at the next clone, and the replaced files go at once), /cdn/ (URIs at
another host, git_smart_http_publish_url), /plain/ (no publishing: the
reference answers), /nopull/ (/pub/'s folder, upload-pack off). Each
test has repositories of its own (copies of
small.git), so that what one publishes is its own.

Every clone is compared with the same clone from /plain/ (refs, objects,
fsck --strict), and every published pack is checked the strict way: every
base before its delta, and exactly the objects its refs reach.

Module-specific: git http-backend offers packfile-uris only for single
blobs, and no bundle-uri.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import RPC_V2, Nginx, v2_request

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="publishing is the module's own")

LOG_FORMAT = "$request_method|$uri|$status|$body_bytes_sent|$git_command"
STALL_FIFO = "publish-stall"
PACK_NAME = re.compile(r"^pack-([0-9a-f]{40})\.pack$")


def location(name, root, publish=None, extra=""):
    lines = ["git_smart_http on;", "git_smart_http_root %s;" % root,
             "git_smart_http_filter on;"]
    if publish:
        lines += ["git_smart_http_publish %s;" % publish,
                  "git_smart_http_packfile_uris on;",
                  "git_smart_http_bundle_uri on;"]
    body = "\n            ".join(lines + ([extra] if extra else []))
    return """
        location /%s/ {
            %s
        }""" % (name, body)


def http_conf(root, top, log):
    return """
    log_format pub '%s';
    server {
        listen 127.0.0.1:{port};
        access_log %s pub;
        location / { return 404; }%s%s%s%s%s
    }
""" % (LOG_FORMAT, log,
       location("pub", root, "%s/pub interval=1h grace=1h" % top),
       location("nopull", root, "%s/pub interval=1h grace=1h" % top,
                "git_smart_http_upload_pack off;"),
       location("now", root, "%s/now interval=0 grace=0" % top),
       location("cdn", root, "%s/cdn" % top,
                "git_smart_http_publish_url http://cdn.example:8443;"),
       location("plain", root))


class PubNginx:
    def __init__(self, prefix, root, worker_processes=2, env=None):
        self.prefix = Path(prefix)
        self.root = Path(root)
        # nginx makes each location's folder, as proxy_cache_path's (not
        # its parents)
        self.top = self.prefix / "published"
        self.top.mkdir(parents=True, exist_ok=True)
        self.log = self.prefix / "logs" / "pub.log"
        main = "env GSH_TEST_PUBLISH_STALL;" if env else ""
        self.nginx = Nginx(self.prefix, http_conf(root, self.top, self.log),
                           module=helpers.module_path(),
                           worker_processes=worker_processes, main_extra=main)
        self.nginx.extra_env.update(env or {})

    def start(self):
        self.nginx.start()
        return self

    @property
    def port(self):
        return self.nginx.port

    def url(self, loc, repo):
        return "http://127.0.0.1:%d/%s/%s" % (self.port, loc, repo)

    def mark(self):
        return helpers.serving.size_of(self.log)

    def lines(self, mark, count):
        """The first count log lines after mark, once written, split."""
        got = helpers.wait_log_lines(self.log, mark, count)
        return [line.split("|") for line in got]

    def folder(self, loc, repo):
        """The repository's published folder (the core names it after its
        git directory's path), or None before it is made."""
        path = str((self.root / repo).resolve()).encode()
        folder = self.top / loc / hashlib.sha1(path).hexdigest()[:16]
        return folder if folder.exists() else None

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.nginx.proc.pid)],
                             stdout=subprocess.PIPE, text=True).stdout
        return sorted(int(p) for p in out.split())


@pytest.fixture(scope="module")
def pub(tmp_path_factory):
    top = tmp_path_factory.mktemp("publish")
    root = top / "root"
    root.mkdir()
    ngx = PubNginx(top / "nginx", root).start()
    yield ngx
    assert ngx.nginx.stop() == 0, ngx.nginx.read_error_log()[-3000:]


def new_repo(git, repos_root, pub, name):
    """A copy of small.git of the test's own, partial clones allowed."""
    dest = pub.root / name
    shutil.copytree(repos_root / "small.git", dest, symlinks=True)
    git("config", "uploadpack.allowFilter", "true", cwd=dest)
    return dest


def push_commit(git, repo, tmp_path, name, branch="main"):
    """A new commit on branch of the bare repo (as a push would leave it)."""
    work = tmp_path / ("work-" + name)
    if not work.exists():
        git("clone", "-q", repo, work)
    git("checkout", "-q", branch, cwd=work)
    (work / ("%s.txt" % name)).write_text("%s\n" % name * 200)
    git("add", "-A", cwd=work)
    git.tick()
    git("commit", "-q", "-m", name, cwd=work)
    git("push", "-q", "origin", branch, cwd=work)


def state(git, path):
    """What a clone holds, refs/bundles/* aside (bundle-uri's own)."""
    s = helpers.repo_state(git, path)
    s["refs"] = "\n".join(l for l in s["refs"].splitlines()
                          if " refs/bundles/" not in l)
    return s


def clone(git, url, dest, *opts, config=()):
    args = []
    for c in config:
        args += ["-c", c]
    r = git.run(*args, "clone", "-q", "--bare", *opts, url, dest)
    assert r.code == 0, r.err
    return state(git, dest)


def uri_clone(git, url, dest, *opts):
    return clone(git, url, dest, *opts, config=("fetch.uriprotocols=http",))


def published_gets(lines):
    """The published files a clone downloaded, by name."""
    return [Path(l[1]).name for l in lines
            if l[0] == "GET" and "/published/" in l[1] and l[2] == "200"]


def fetch_posts(lines):
    return [l for l in lines if l[0] == "POST" and l[4] == "fetch"]


def check_published(git, folder, source):
    """The folder's base: its pack named by its checksum, every base before
    its delta, exactly the objects of the refs it lists (which source, the
    repository, has); the bundle is the same pack after its header. Returns
    the hash."""
    manifest = (folder / "manifest").read_text().splitlines()
    assert manifest[0] == "gsh-published 1"
    fields = dict(l.split(" ", 1) for l in manifest[1:]
                  if not l.startswith(("ref ", "retired ")))
    refs = [l.split(" ", 2)[1:] for l in manifest if l.startswith("ref ")]
    digest = fields["pack"]
    pack = (folder / ("pack-%s.pack" % digest)).read_bytes()
    assert pack[-20:].hex() == digest
    count = helpers.check_pack(pack)
    assert count == int(fields["objects"])
    ids = set(helpers.pack_check.pack_ids(pack))
    want = set(git("rev-list", "--objects", "--no-object-names",
                   *sorted({oid for oid, _ in refs}), cwd=source).split())
    assert ids == want
    bundle = (folder / ("bundle-%s.bundle" % digest)).read_bytes()
    header = "# v2 git bundle\n" + "".join(
        "%s %s\n" % (oid, name) for oid, name in refs) + "\n"
    assert bundle == header.encode() + pack
    assert not [p for p in folder.iterdir() if p.name.startswith("tmp-")]
    return digest


# --------------------------------------------------------------------------
# clones


def test_clone_downloads_the_base_by_its_uri(git, repos_root, pub, tmp_path):
    repo = new_repo(git, repos_root, pub, "uri.git")
    want = clone(git, pub.url("plain", "uri.git"), tmp_path / "plain")
    mark = pub.mark()
    got = uri_clone(git, pub.url("pub", "uri.git"), tmp_path / "c")
    assert got == want
    lines = pub.lines(mark, 4)
    digest = check_published(git, pub.folder("pub", "uri.git"), repo)
    assert published_gets(lines) == ["pack-%s.pack" % digest]
    # the inline pack: what the base lacks, nothing here
    post, = fetch_posts(lines)
    assert int(post[3]) < 1000, post
    # the client keeps the base pack as it was published
    assert (tmp_path / "c" / "objects" / "pack" /
            ("pack-%s.pack" % digest)).exists()


def test_client_without_uri_protocols_gets_a_whole_pack(
        git, repos_root, pub, tmp_path):
    repo = new_repo(git, repos_root, pub, "nouri.git")
    want = clone(git, pub.url("plain", "nouri.git"), tmp_path / "plain")
    uri_clone(git, pub.url("pub", "nouri.git"), tmp_path / "first")
    digest = check_published(git, pub.folder("pub", "nouri.git"), repo)
    size = (pub.folder("pub", "nouri.git") / ("pack-%s.pack" % digest)) \
        .stat().st_size
    mark = pub.mark()
    got = clone(git, pub.url("pub", "nouri.git"), tmp_path / "c")
    assert got == want
    lines = pub.lines(mark, 3)
    assert published_gets(lines) == []
    # the whole pack inline
    post, = fetch_posts(lines)
    assert int(post[3]) > size, (post, size)
    # and raw: no packfile-uris argument, no section
    res = fetch_raw(git, pub, "pub", "nouri.git", uri=None)
    assert b"packfile-uris\n" not in res


def test_bundle_uri_clone(git, repos_root, pub, tmp_path):
    new_repo(git, repos_root, pub, "bundle.git")
    want = clone(git, pub.url("plain", "bundle.git"), tmp_path / "plain")
    mark = pub.mark()
    lst = pub.url("pub", "bundle.git") + "/published/bundle-list"
    got = clone(git, pub.url("pub", "bundle.git"), tmp_path / "c",
                "--bundle-uri=" + lst)
    assert got == want
    lines = pub.lines(mark, 4)
    digest = check_published(git, pub.folder("pub", "bundle.git"),
                             pub.root / "bundle.git")
    assert published_gets(lines) == ["bundle-list",
                                     "bundle-%s.bundle" % digest]
    # the bundle's branches became refs/bundles/*, and its pack is the
    # clone's (git 2.39 then asks for the tags again: a small fetch)
    bundles = git("for-each-ref", "--format=%(refname)", "refs/bundles/",
                  cwd=tmp_path / "c").split()
    assert "refs/bundles/main" in bundles
    assert (tmp_path / "c" / "objects" / "pack" /
            ("pack-%s.pack" % digest)).exists()


def test_push_then_old_base_and_a_larger_inline_pack(
        git, repos_root, pub, tmp_path):
    repo = new_repo(git, repos_root, pub, "push.git")
    mark = pub.mark()
    uri_clone(git, pub.url("pub", "push.git"), tmp_path / "c1")
    before, = fetch_posts(pub.lines(mark, 4))
    first = check_published(git, pub.folder("pub", "push.git"), repo)
    push_commit(git, repo, tmp_path, "one")
    push_commit(git, repo, tmp_path, "two", branch="topic")
    want = clone(git, pub.url("plain", "push.git"), tmp_path / "plain")
    mark = pub.mark()
    got = uri_clone(git, pub.url("pub", "push.git"), tmp_path / "c2")
    assert got == want
    lines = pub.lines(mark, 4)
    # the same base, within interval; the new commits inline
    assert published_gets(lines) == ["pack-%s.pack" % first]
    assert check_published(git, pub.folder("pub", "push.git"),
                           repo) == first
    post, = fetch_posts(lines)
    assert int(post[3]) > int(before[3]) + 200, (post, before)


def test_push_then_next_publish_replaces_the_base(
        git, repos_root, pub, tmp_path):
    """/now/ publishes at the next clone after a change (interval=0), and
    with grace=0 the replaced base's files go at once."""
    repo = new_repo(git, repos_root, pub, "next.git")
    uri_clone(git, pub.url("now", "next.git"), tmp_path / "c1")
    folder = pub.folder("now", "next.git")
    first = check_published(git, folder, repo)
    push_commit(git, repo, tmp_path, "one")
    want = clone(git, pub.url("plain", "next.git"), tmp_path / "plain")
    mark = pub.mark()
    got = uri_clone(git, pub.url("now", "next.git"), tmp_path / "c2")
    assert got == want
    second = check_published(git, folder, repo)
    assert second != first
    assert published_gets(pub.lines(mark, 4)) == ["pack-%s.pack" % second]
    left = sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((".pack", ".bundle")))
    assert left == ["bundle-%s.bundle" % second, "pack-%s.pack" % second]


def test_grace_keeps_the_replaced_base(git, repos_root, pub, tmp_path):
    """/pub/ (grace=1h): a branch deleted (or rewound) makes a new base at
    once, and the old one's files stay for the clones already given its
    URI."""
    repo = new_repo(git, repos_root, pub, "rewind.git")
    git.tick()
    gone = git("commit-tree", "main^{tree}", "-p", "main", "-m", "gone",
               cwd=repo)
    git("update-ref", "refs/heads/gone", gone, cwd=repo)
    uri_clone(git, pub.url("pub", "rewind.git"), tmp_path / "c1")
    folder = pub.folder("pub", "rewind.git")
    first = check_published(git, folder, repo)
    # the base's "gone" is no longer within what a clone wants
    git("update-ref", "-d", "refs/heads/gone", cwd=repo)
    want = clone(git, pub.url("plain", "rewind.git"), tmp_path / "plain")
    got = uri_clone(git, pub.url("pub", "rewind.git"), tmp_path / "c2")
    assert got == want
    second = check_published(git, folder, repo)
    assert second != first
    assert (folder / ("pack-%s.pack" % first)).exists()
    assert ("retired %s " % first) in (folder / "manifest").read_text()
    status = helpers.http_request(pub.port, "GET", "/pub/rewind.git/"
                                  "published/pack-%s.pack" % first).status
    assert status == 200


@pytest.mark.parametrize("opts", [
    ("--single-branch", "--branch", "topic"),
    ("--depth", "1"),
    ("--filter=tree:0",),
    ("--filter=blob:limit=2000",),
], ids=["single-branch", "depth", "tree-filter", "limit-filter"])
def test_clone_the_base_does_not_fit_gets_a_whole_pack(
        git, repos_root, pub, tmp_path, opts):
    """A base fits a clone of everything its wants reach, whole or
    blob:none (a base per blob:limit=N would let clients fill the disk)."""
    name = "fit-%s.git" % opts[-1].strip("-").replace("=", "-").replace(
        ":", "-")
    new_repo(git, repos_root, pub, name)
    uri_clone(git, pub.url("pub", name), tmp_path / "first")
    want = clone(git, pub.url("plain", name), tmp_path / "plain", *opts)
    mark = pub.mark()
    got = uri_clone(git, pub.url("pub", name), tmp_path / "c", *opts)
    if opts[0].startswith("--filter"):
        # a partial clone's objects are what it was sent
        got.pop("fsck"), want.pop("fsck")
    assert got == want
    lines = pub.lines(mark, 3)
    assert published_gets(lines) == []


def all_objects(git, path):
    return sorted(git("cat-file", "--batch-all-objects", "--batch-check",
                      cwd=path).splitlines())


def test_partial_clone_gets_a_base_of_its_filter(
        git, repos_root, pub, tmp_path):
    """A partial clone by URI: the filter's own base (no bundle), the same
    objects as the partial clone from /plain/, and the whole clone's base
    left as it was."""
    spec = "blob:none"
    name = "partial.git"
    repo = new_repo(git, repos_root, pub, name)
    uri_clone(git, pub.url("pub", name), tmp_path / "whole")
    whole = check_published(git, pub.folder("pub", name), repo)
    want = clone(git, pub.url("plain", name), tmp_path / "plain",
                 "--filter=" + spec)
    mark = pub.mark()
    got = uri_clone(git, pub.url("pub", name), tmp_path / "c",
                    "--filter=" + spec)
    got.pop("fsck"), want.pop("fsck")
    assert got == want
    assert all_objects(git, tmp_path / "c") == all_objects(
        git, tmp_path / "plain")
    gets = published_gets(pub.lines(mark, 4))
    assert len(gets) == 1 and gets[0].startswith("pack-"), gets
    folder, = [p for p in pub.folder("pub", name).iterdir()
               if p.name.startswith("filter-")]
    manifest = (folder / "manifest").read_text()
    assert ("filter %s\n" % spec) in manifest
    digest = re.search(r"^pack ([0-9a-f]{40})$", manifest, re.M).group(1)
    assert gets == ["pack-%s.pack" % digest]
    pack = (folder / ("pack-%s.pack" % digest)).read_bytes()
    helpers.check_pack(pack)
    assert set(helpers.pack_check.pack_ids(pack)) == set(git(
        "rev-list", "--objects", "--no-object-names", "--filter=" + spec,
        "HEAD", "--branches", "--tags", cwd=repo).split())
    assert not list(folder.glob("bundle-*"))
    assert check_published(git, pub.folder("pub", name), repo) == whole


# --------------------------------------------------------------------------
# raw protocol


def fetch_raw(git, pub, loc, repo, uri="http", extra=()):
    wants = sorted(set(git("for-each-ref", "--format=%(objectname)",
                           cwd=pub.root / repo).split()))
    args = ["want " + w for w in wants] + ["ofs-delta", "no-progress"]
    if uri:
        args.append("packfile-uris " + uri)
    body = v2_request("fetch", args + list(extra) + ["done"])
    res = helpers.http_request(pub.port, "POST", "/%s/%s/git-upload-pack"
                               % (loc, repo), RPC_V2, body)
    assert res.status == 200, res.body[:300]
    return res.body


def section_lines(body, name):
    items, _ = helpers.parse_pkt_lines(body, stop_at_pack=True)
    at = items.index(name.encode() + b"\n")
    out = []
    for item in items[at + 1:]:
        if not isinstance(item, bytes):
            break
        out.append(item.decode().rstrip("\n"))
    return out


def test_uris_name_the_publish_url_and_the_protocols_taken(
        git, repos_root, pub):
    new_repo(git, repos_root, pub, "cdn.git")
    body = fetch_raw(git, pub, "cdn", "cdn.git")
    line, = section_lines(body, "packfile-uris")
    digest, uri = line.split(" ")
    assert uri == ("http://cdn.example:8443/cdn/cdn.git/published/"
                   "pack-%s.pack" % digest)
    # the section comes before the pack
    assert body.index(b"packfile-uris\n") < body.index(b"packfile\n")
    # a client that takes https only is not given an http URI
    assert b"packfile-uris\n" not in fetch_raw(git, pub, "cdn", "cdn.git",
                                               uri="https")
    # nor one that has something already
    tip = git("rev-parse", "main~1", cwd=pub.root / "cdn.git")
    assert b"packfile-uris\n" not in fetch_raw(
        git, pub, "cdn", "cdn.git", extra=("have " + tip,))


def test_bundle_uri_command(git, repos_root, pub):
    new_repo(git, repos_root, pub, "cmd.git")
    adv = helpers.http_request(
        pub.port, "GET", "/pub/cmd.git/info/refs?service=git-upload-pack",
        {"Git-Protocol": "version=2"}).body
    caps = helpers.parse_pkt_lines(adv)
    assert b"bundle-uri\n" in caps
    assert b"fetch=shallow wait-for-done filter packfile-uris\n" in caps
    res = helpers.http_request(pub.port, "POST", "/pub/cmd.git/git-upload-pack",
                               RPC_V2, v2_request("bundle-uri"))
    assert res.status == 200
    lines = [l.decode().rstrip("\n") for l in helpers.parse_pkt_lines(res.body)
             if isinstance(l, bytes)]
    assert lines[:2] == ["bundle.version=1", "bundle.mode=all"]
    key, uri = lines[2].split("=", 1)
    digest = key.split(".")[1]
    assert key == "bundle.%s.uri" % digest
    assert uri == pub.url("pub", "cmd.git") + \
        "/published/bundle-%s.bundle" % digest
    got = helpers.http_request(pub.port, "GET", uri.split(str(pub.port))[1])
    assert got.status == 200 and got.body.startswith(b"# v2 git bundle\n")
    # /plain/ has no publishing: neither advertised nor answered
    adv = helpers.http_request(
        pub.port, "GET", "/plain/cmd.git/info/refs?service=git-upload-pack",
        {"Git-Protocol": "version=2"}).body
    assert b"bundle-uri" not in adv and b"packfile-uris" not in adv
    res = helpers.http_request(pub.port, "POST",
                               "/plain/cmd.git/git-upload-pack",
                               RPC_V2, v2_request("bundle-uri"))
    assert res.status == 400


def test_published_files_are_static_files(git, repos_root, pub, tmp_path):
    new_repo(git, repos_root, pub, "static.git")
    uri_clone(git, pub.url("pub", "static.git"), tmp_path / "c")
    folder = pub.folder("pub", "static.git")
    digest = check_published(git, folder, pub.root / "static.git")
    path = "/pub/static.git/published/pack-%s.pack" % digest
    data = (folder / ("pack-%s.pack" % digest)).read_bytes()
    res = helpers.http_request(pub.port, "GET", path)
    assert res.status == 200 and res.body == data
    assert res.header("ETag") == '"pack-%s.pack"' % digest
    assert "max-age=31536000" in res.header("Cache-Control")
    part = helpers.http_request(pub.port, "GET", path,
                                {"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == data[100:200]
    # only published names are served; a tmp- file, the manifest, another
    # repository's name, or a location without publishing are 404
    (folder / ("tmp-pack-%s" % digest)).write_bytes(data)
    for p in ("/pub/static.git/published/tmp-pack-%s" % digest,
              "/pub/static.git/published/manifest",
              "/pub/small-none.git/published/pack-%s.pack" % digest,
              "/plain/static.git/published/pack-%s.pack" % digest,
              "/pub/static.git/published/pack-%s.pack" % ("0" * 40)):
        assert helpers.http_request(pub.port, "GET", p).status == 404, p
    (folder / ("tmp-pack-%s" % digest)).unlink()
    # refused where upload-pack is: by the location, by the repository
    assert helpers.http_request(pub.port, "GET", path.replace(
        "/pub/", "/nopull/")).status == 403
    git("config", "http.uploadpack", "false", cwd=pub.root / "static.git")
    try:
        for p in (path, "/pub/static.git/published/bundle-list"):
            assert helpers.http_request(pub.port, "GET", p).status == 403, p
    finally:
        git("config", "--unset", "http.uploadpack",
            cwd=pub.root / "static.git")
    # the list is made per request: never cached
    lst = helpers.http_request(pub.port, "GET",
                               "/pub/static.git/published/bundle-list")
    assert lst.status == 200
    assert "no-cache" in lst.header("Cache-Control")
    assert ("bundle-%s.bundle" % digest).encode() in lst.body


# --------------------------------------------------------------------------
# a publish killed


@pytest.fixture
def stalled(tmp_path):
    """An nginx of one worker whose publish waits, before its files get
    their names, for a writer of the FIFO in the repository."""
    root = tmp_path / "root"
    root.mkdir()
    ngx = PubNginx(tmp_path / "nginx", root, worker_processes=1,
                   env={"GSH_TEST_PUBLISH_STALL": STALL_FIFO}).start()
    yield ngx
    assert ngx.nginx.stop() == 0, ngx.nginx.read_error_log()[-3000:]


@pytest.mark.kills_workers
def test_publish_killed_leaves_nothing_served(git, repos_root, stalled,
                                              tmp_path):
    ngx = stalled
    repo = new_repo(git, repos_root, ngx, "killed.git")
    os.mkfifo(repo / STALL_FIFO)
    # a raw request, not git's: curl sends a request again on a fresh
    # connection when its connection dies before an answer
    wants = sorted(set(git("for-each-ref", "--format=%(objectname)",
                           cwd=repo).split()))
    body = v2_request("fetch", ["want " + w for w in wants] +
                      ["ofs-delta", "packfile-uris http", "done"])
    sock = helpers.open_fetch(ngx.port, "/pub/killed.git/git-upload-pack",
                              body)
    try:
        # the pack is written whole under its tmp- name, and waits
        def tmp_pack():
            folder = ngx.folder("pub", "killed.git")
            return folder and [p for p in folder.iterdir()
                               if p.name.startswith("tmp-pack-")]
        helpers.wait_until(tmp_pack, 60, "the publish's tmp- pack")
        folder = ngx.folder("pub", "killed.git")
        held, = tmp_pack()
        worker, = ngx.workers()
        os.kill(worker, signal.SIGKILL)
        answer = helpers.read_rest(sock)
    finally:
        sock.close()
    # no answer: the worker died before it
    assert answer == b""
    # nothing named, and what was written is not served
    assert not (folder / "manifest").exists()
    assert not [p for p in folder.iterdir() if PACK_NAME.match(p.name)]
    digest = held.read_bytes()[-20:].hex()
    helpers.wait_until(lambda: ngx.workers() and worker not in ngx.workers(),
                       30, "the master's new worker")
    res = helpers.http_request(ngx.port, "GET", "/pub/killed.git/published/"
                               "pack-%s.pack" % digest)
    assert res.status == 404
    # the next clone publishes from the start and removes the leftovers
    os.unlink(repo / STALL_FIFO)
    want = clone(git, ngx.url("plain", "killed.git"), tmp_path / "plain")
    got = uri_clone(git, ngx.url("pub", "killed.git"), tmp_path / "c2")
    assert got == want
    check_published(git, folder, repo)
    assert not held.exists()


def test_single_branch_clone_with_a_tag_made_since_the_base(
        git, pub, tmp_path):
    """include-tag: an annotated tag made after the base, on a commit the
    base has, and not wanted itself (--single-branch), would be in neither
    pack: such a clone gets a whole pack, with the tag. (A base with an
    annotated tag fits no single-branch clone: the tag is not wanted.)"""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    for n in range(3):
        (work / "f.txt").write_text("%d\n" % n)
        git("add", "-A", cwd=work)
        git.tick()
        git("commit", "-q", "-m", "c%d" % n, cwd=work)
    repo = pub.root / "tags.git"
    git("clone", "-q", "--bare", work, repo)
    (repo / "git-daemon-export-ok").touch()
    opts = ("--single-branch", "--branch", "main")
    mark = pub.mark()
    uri_clone(git, pub.url("pub", "tags.git"), tmp_path / "c1", *opts)
    assert len(published_gets(pub.lines(mark, 4))) == 1
    git.tick()
    git("tag", "-a", "-m", "two", "v2", "main~1", cwd=repo)
    want = clone(git, pub.url("plain", "tags.git"), tmp_path / "plain", *opts)
    mark = pub.mark()
    got = uri_clone(git, pub.url("pub", "tags.git"), tmp_path / "c2", *opts)
    assert got == want
    assert "refs/tags/v2" in got["refs"]
    assert published_gets(pub.lines(mark, 3)) == []

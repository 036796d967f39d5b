"""Push (git receive-pack) through the module, compared with git
http-backend behind fcgiwrap on the same nginx.

Each scenario pushes from one client to two server repositories made alike
(NAME-module.git served by the module, NAME-reference.git by
http-backend) and compares: git push's exit code, its --porcelain per-ref
lines and its error lines (the URL normalised), the server's refs after the
push, and `git fsck --strict` of the server repository; it also checks that
the push left nothing behind in the repository (no incoming-* quarantine,
tmp_* file or *.lock).

The nginx here is the test's own (module scope): push needs locations that
the shared one has not (receive-pack on, auth_basic, hooks).

  /git/       the module, git_smart_http_receive_pack on, behind auth_basic
  /githooks/  the same with git_smart_http_hooks on, and
              git_smart_http_timeout 1ms (which a push ignores)
  /gitoff/    the module behind auth_basic, receive-pack left off
  /anon/      the module, receive-pack on, no auth
  /ref/       git http-backend behind auth_basic (hooks always run)
  /refanon/   git http-backend, no auth
"""

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers import Fcgiwrap, Nginx, parse_pkt_lines, pkt, pkt_flush

USER, PASSWORD = "pusher", "s3cret"
AUTH = """
            auth_basic "git";
            auth_basic_user_file {htpasswd};"""
MODULE = """
            git_smart_http on;
            git_smart_http_root {root};"""

PUSH_HTTP = """
    client_max_body_size 300m;
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
        location /git/ {%(auth)s%(module)s
            git_smart_http_receive_pack on;
        }
        location /githooks/ {%(auth)s%(module)s
            git_smart_http_receive_pack on;
            git_smart_http_hooks on;
            # does not apply to pushes: each of these takes far longer
            # (index-pack, hooks), and every one must go through
            git_smart_http_timeout 1ms;
        }
        location /gitoff/ {%(auth)s%(module)s
        }
        location /anon/ {%(module)s
            git_smart_http_receive_pack on;
        }
        location /gitlim/ {%(auth)s%(module)s
            git_smart_http_receive_pack on;
            git_smart_http_max_concurrent 1;
            git_smart_http_queue 1 timeout=60s;
        }
        location = /metrics { git_smart_http_metrics; }
        location /ref/ {%(auth)s%(fcgi)s
        }
        location /refanon/ {%(fcgi)s
        }
    }
""" % {"auth": AUTH, "module": MODULE, "fcgi": helpers.serving.FASTCGI}

# GSH_SELF_CHECK=1 (see conftest.py): every location is http-backend, so
# the comparisons must hold; the tests of the module's own directives
# (hooks off, receive-pack off, worker memory) fail then.
SELF_CHECK = os.environ.get("GSH_SELF_CHECK") == "1"
if SELF_CHECK:
    PUSH_HTTP = PUSH_HTTP.replace(MODULE, helpers.serving.FASTCGI) \
        .replace("\n            git_smart_http_receive_pack on;", "") \
        .replace("\n            git_smart_http_hooks on;", "") \
        .replace("\n            git_smart_http_timeout 1ms;", "")

# (side, location): the same scenario on both, module first
SIDES = (("module", "git"), ("reference", "ref"))
HOOK_SIDES = (("module", "githooks"), ("reference", "ref"))
ANON_SIDES = (("module", "anon"), ("reference", "refanon"))

ZERO = "0" * 40
STALL_FIFO = "gsh-test-stall"
RECEIVE_PACK_REQUEST = "application/x-git-receive-pack-request"

# What a successful push or a fault may never leave in the repository.
STRAY = re.compile(r"^(incoming-|tmp_|tmp-)|\.lock$")


class PushEnv:
    def __init__(self, git, tmp, nginx, fcgi, root):
        self.git = git
        self.tmp = tmp
        self.nginx = nginx
        self.fcgi = fcgi
        self.root = root
        self.port = nginx.port
        self.count = 0

    def url(self, location, repo, auth=True):
        cred = "%s:%s@" % (USER, PASSWORD) if auth else ""
        return "http://%s127.0.0.1:%d/%s/%s" % (cred, self.port, location,
                                                Path(repo).name)

    def path(self, location, repo):
        return "/%s/%s" % (location, Path(repo).name)

    def new_repo(self, name, seed=None, config=(), parent=None):
        """A bare repository in the root (or under parent, which must be in
        the root), exported, with seed's branches and tags if given."""
        dest = (parent or self.root) / ("%s.git" % name)
        git = self.git
        git("init", "-q", "--bare", "-b", "main", dest)
        if seed is not None:
            git("push", "-q", dest, "refs/heads/*:refs/heads/*",
                "refs/tags/*:refs/tags/*", cwd=seed)
        for key, value in config:
            git("config", key, value, cwd=dest)
        (dest / "git-daemon-export-ok").write_text("")
        return dest

    def work_dir(self, name):
        self.count += 1
        d = self.tmp / "work" / ("%s-%d" % (name, self.count))
        d.parent.mkdir(parents=True, exist_ok=True)
        return d

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.nginx.proc.pid)],
                             stdout=subprocess.PIPE, text=True).stdout
        return sorted(int(p) for p in out.split())


def hashed_password():
    return subprocess.run(["openssl", "passwd", "-apr1", PASSWORD],
                          stdout=subprocess.PIPE, check=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def push_env(git, tmp_path_factory):
    body = PUSH_HTTP
    if SELF_CHECK:
        body = body.replace(
            "\n            git_smart_http_max_concurrent 1;", "").replace(
            "\n            git_smart_http_queue 1 timeout=60s;", "").replace(
            "        location = /metrics { git_smart_http_metrics; }\n", "")

    def make_nginx(prefix, conf):
        nginx = Nginx(prefix, conf,
                      module=None if SELF_CHECK else helpers.module_path(),
                      worker_processes=2,
                      main_extra="env GSH_TEST_PACK_STALL;")
        nginx.extra_env["GSH_TEST_PACK_STALL"] = STALL_FIFO
        return nginx
    yield from serve_push_env(git, tmp_path_factory.mktemp("push"), body,
                              make_nginx)


def serve_push_env(git, tmp, body, make_nginx, fcgi_children=4,
                   env_class=PushEnv, **fill):
    """A fixture's body: TMP/root (empty), an htpasswd for USER, fcgiwrap
    and the nginx make_nginx(prefix, conf) makes of body, whose {root},
    {htpasswd}, {sock}, {backend} (and the names in fill) are filled in.
    Yields env_class(...); stops both after, and the nginx must stop
    cleanly (crashes and sanitizer reports: conftest's watch)."""
    root = tmp / "root"
    root.mkdir()
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text("%s:%s\n" % (USER, hashed_password()))
    fcgi = Fcgiwrap(tmp / "fcgiwrap", children=fcgi_children).start()
    fill = dict(fill, root=root, htpasswd=htpasswd, sock=fcgi.socket_path,
                backend=helpers.HTTP_BACKEND)
    for key, value in fill.items():
        body = body.replace("{%s}" % key, str(value))
    nginx = make_nginx(tmp / "nginx", body)
    try:
        nginx.start()
    except Exception:
        fcgi.stop()
        raise
    env = env_class(git, tmp, nginx, fcgi, root)
    try:
        assert helpers.http_request(nginx.port, "GET", "/nowhere").status \
            == 404
        yield env
    finally:
        status = nginx.stop()
        fcgi.stop()
    assert status == 0, "nginx did not stop cleanly:\n%s" % \
        nginx.read_error_log()[-5000:]


@pytest.fixture(scope="module")
def seed(push_env):
    return make_seed(push_env)


def make_seed(push_env):
    """A work repository: main (3 commits), feature (2 commits from
    main~1), a lightweight tag lt and an annotated tag ann."""
    git = push_env.git
    work = push_env.work_dir("seed")
    git("init", "-q", "-b", "main", work)
    for i in range(3):
        commit_file(git, work, "file.txt", "main %d\n" % i, "main %d" % i)
    git("branch", "feature", "main~1", cwd=work)
    git("checkout", "-q", "feature", cwd=work)
    for i in range(2):
        commit_file(git, work, "feature.txt", "feature %d\n" % i,
                    "feature %d" % i)
    git("checkout", "-q", "main", cwd=work)
    git("tag", "lt", "main~2", cwd=work)
    git.tick()
    git("tag", "-a", "ann", "-m", "annotated", "main~1", cwd=work)
    return work


def commit_file(git, work, name, text, message):
    path = Path(work) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git("add", name, cwd=work)
    git.tick()
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def client_of(push_env, seed, name):
    """A clone of seed with local branches main and feature."""
    git = push_env.git
    work = push_env.work_dir(name)
    git("clone", "-q", seed, work)
    git("branch", "-q", "feature", "origin/feature", cwd=work)
    return work


# --------------------------------------------------------------------------
# outcomes

URL_RE = re.compile(r"https?://[^\s']+")
PROGRESS = re.compile(r"^(remote: )?(Enumerating|Counting|Compressing|"
                      r"Writing|Total|Delta|Resolving|Unpacking|"
                      r"Checking connectivity)")


def normalise(text, repo=None):
    text = URL_RE.sub("URL", text)
    if repo is not None:
        text = text.replace(str(Path(repo).resolve()), "REPO")
        text = text.replace(str(repo), "REPO")
    return text


def message_lines(stderr, repo=None):
    """The lines of a client's stderr that say something: no progress,
    remote lines without trailing padding."""
    lines = []
    for line in re.split(r"[\r\n]", normalise(stderr, repo)):
        line = line.rstrip()
        if line and line != "remote:" and not PROGRESS.match(line):
            lines.append(line)
    return lines


def server_refs(git, repo):
    return git("for-each-ref", "--format=%(objectname) %(objecttype) "
               "%(refname) %(*objectname)", cwd=repo)


def stray_files(repo):
    """Quarantine directories, temporary files and locks under the
    repository's objects/ and refs/ (and top-level locks)."""
    repo = Path(repo)
    found = []
    for top in (repo / "objects", repo / "refs"):
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                if STRAY.search(n):
                    found.append(os.path.relpath(os.path.join(dirpath, n),
                                                 repo))
    found += [p.name for p in repo.glob("*.lock")]
    return sorted(found)


def fsck(git, repo):
    r = git.run("fsck", "--strict", "--no-progress", "--no-dangling",
                cwd=repo)
    return (r.code, r.out.strip(), r.err.strip())


def server_state(git, repo):
    return {"refs": server_refs(git, repo), "fsck": fsck(git, repo),
            "stray": stray_files(repo)}


def push_outcome(git, res, repo):
    return {"code": res.code, "porcelain": normalise(res.out).splitlines(),
            "messages": message_lines(res.err, repo),
            **server_state(git, repo)}


def assert_clean(state):
    assert state["fsck"][0] == 0, "fsck failed: %r" % (state["fsck"],)
    assert state["stray"] == [], "left behind: %r" % state["stray"]


def push_both(push_env, name, client, refspecs, opts=(), config=(),
              seed=None, sides=SIDES, setup=None, auth=True, env=None,
              make_repo=None, ignore=(), clean=True):
    """Pushes refspecs from client to NAME-<side>.git on both sides; the
    outcomes must be equal but for the keys in ignore. Returns
    {side: outcome}, outcome["repo"]. make_repo(name) -> (URL target, git
    dir) replaces new_repo (a non-bare repository); clean=False leaves the
    fsck and stray checks to the caller (they are still compared)."""
    git = push_env.git
    out = {}
    for side, location in sides:
        if make_repo is None:
            repo = push_env.new_repo("%s-%s" % (name, side), seed, config)
            target = repo
        else:
            target, repo = make_repo("%s-%s" % (name, side))
        if setup is not None:
            setup(repo)
        res = git.run("push", "--porcelain", *opts,
                      push_env.url(location, target, auth), *refspecs,
                      cwd=client, env=env)
        out[side] = push_outcome(git, res, repo)
        out[side]["repo"] = repo
    cmp = {s: {k: v for k, v in o.items() if k != "repo" and k not in ignore}
           for s, o in out.items()}
    helpers.assert_same(cmp["module"], cmp["reference"], name)
    if clean:
        for o in out.values():
            assert_clean(o)
    return out


def rev(git, repo, spec):
    return git("rev-parse", spec, cwd=repo)


# --------------------------------------------------------------------------
# the ordinary pushes


def test_push_new_branch(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "newbranch")
    git("checkout", "-q", "-b", "topic", cwd=client)
    tip = commit_file(git, client, "topic.txt", "topic\n", "topic")
    out = push_both(push_env, "newbranch", client,
                    ["topic", "main:refs/heads/copy"], seed=seed)
    o = out["module"]
    assert o["code"] == 0, o
    assert "*\trefs/heads/topic:refs/heads/topic\t[new branch]" \
        in o["porcelain"]
    assert rev(git, o["repo"], "refs/heads/topic") == tip
    assert rev(git, o["repo"], "refs/heads/copy") == rev(git, seed, "main")


def loose_objects(repo):
    return sorted(p.parent.name + p.name
                  for p in Path(repo).glob("objects/[0-9a-f][0-9a-f]/*"))


def object_counts(git, repo):
    """`git count-objects -v`: loose objects, packed objects, packs."""
    c = dict(line.split(": ") for line in
             git("count-objects", "-v", cwd=repo).splitlines())
    return {k: int(c[k]) for k in ("count", "in-pack", "packs")}


@pytest.mark.parametrize("files,config,added", [
    # the blobs, a tree for many/, the root tree, the commit
    (1, (), {"count": 4, "in-pack": 0, "packs": 0}),
    (120, (), {"count": 0, "in-pack": 123, "packs": 1}),
    (1, (("transfer.unpackLimit", "1"),),
     {"count": 0, "in-pack": 4, "packs": 1}),
], ids=["small", "large", "limit1"])
def test_receive_unpack_limit(push_env, seed, files, config, added):
    """Under receive.unpackLimit (else transfer.unpackLimit, else 100
    objects, the pack header's count) git's receive-pack keeps a push as
    loose objects (unpack-objects), otherwise as one pack (index-pack): a
    push adds the same to `git count-objects -v` on both sides."""
    git = push_env.git
    name = "unpacklimit-%s-%d" % ("x".join(v for _, v in config), files)
    client = client_of(push_env, seed, name)
    for i in range(files):
        (Path(client) / ("many/%d.txt" % i)).parent.mkdir(exist_ok=True)
        (Path(client) / ("many/%d.txt" % i)).write_text("file %d of %d\n"
                                                        % (i, files))
    git("add", "many", cwd=client)
    git.tick()
    git("commit", "-q", "-m", "%d files" % files, cwd=client)
    before = {}

    def setup(repo):
        before[str(repo)] = object_counts(git, repo)
    out = push_both(push_env, name, client, ["main"], seed=seed,
                    config=config, setup=setup)
    grown = {}
    for side, o in out.items():
        assert o["code"] == 0, o
        now = object_counts(git, o["repo"])
        grown[side] = {k: now[k] - before[str(o["repo"])][k] for k in now}
    assert grown["module"] == grown["reference"]
    assert grown["module"] == added


def test_refused_small_push_leaves_no_loose_object(push_env, seed):
    """The pre-receive hook sees a small push as loose objects under
    GIT_QUARANTINE_PATH, as with git; refused, none of them stays."""
    git = push_env.git
    client = client_of(push_env, seed, "unpackrefused")
    commit_file(git, client, "file.txt", "refused\n", "refused")
    before = {}

    def setup(repo):
        before[str(repo)] = (object_counts(git, repo), loose_objects(repo))
        write_hook(repo, "pre-receive",
                   'q="$GIT_QUARANTINE_PATH"\n'
                   'echo "quarantine: $(find "$q" -type f -path '
                   '"$q/[0-9a-f][0-9a-f]/*" | wc -l) loose," '
                   '"$(find "$q" -name "*.pack" | wc -l) packs" >&2\n'
                   'exit 1\n')
    out = push_both(push_env, "unpackrefused", client, ["main"], seed=seed,
                    sides=HOOK_SIDES, setup=setup)
    for o in out.values():
        assert o["code"] == 1, o
        assert "remote: quarantine: 3 loose, 0 packs" in o["messages"], o
        assert (object_counts(git, o["repo"]), loose_objects(o["repo"])) \
            == before[str(o["repo"])]


def test_push_fast_forward(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "ff")
    tip = commit_file(git, client, "file.txt", "ff\n", "ff")
    out = push_both(push_env, "ff", client, ["main"], seed=seed)
    assert out["module"]["code"] == 0
    assert rev(git, out["module"]["repo"], "main") == tip
    assert any(line.startswith(" \trefs/heads/main:refs/heads/main\t")
               for line in out["module"]["porcelain"])


def test_force_push(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "force")
    git("reset", "-q", "--hard", "HEAD~2", cwd=client)
    tip = commit_file(git, client, "other.txt", "rewritten\n", "rewrite")
    out = push_both(push_env, "force", client, ["main"], opts=("--force",),
                    seed=seed)
    assert out["module"]["code"] == 0
    assert rev(git, out["module"]["repo"], "main") == tip
    assert any(line.startswith("+\trefs/heads/main:refs/heads/main\t")
               and "(forced update)" in line
               for line in out["module"]["porcelain"])


def test_non_fast_forward_refused_by_the_client(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "nonff")
    git("reset", "-q", "--hard", "HEAD~1", cwd=client)
    commit_file(git, client, "other.txt", "diverged\n", "diverge")
    out = push_both(push_env, "nonff", client, ["main"], seed=seed)
    assert out["module"]["code"] == 1
    assert "!\trefs/heads/main:refs/heads/main\t[rejected] " \
        "(non-fast-forward)" in out["module"]["porcelain"]
    assert rev(git, out["module"]["repo"], "main") == rev(git, seed, "main")


def test_non_fast_forward_refused_by_the_repository(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "denynonff")
    git("reset", "-q", "--hard", "HEAD~1", cwd=client)
    commit_file(git, client, "other.txt", "diverged\n", "diverge")
    out = push_both(push_env, "denynonff", client, ["main"],
                    opts=("--force",), seed=seed,
                    config=[("receive.denyNonFastForwards", "true")])
    assert out["module"]["code"] == 1
    assert any("[remote rejected]" in line
               for line in out["module"]["porcelain"]), out["module"]
    assert rev(git, out["module"]["repo"], "main") == rev(git, seed, "main")


def test_delete_branch(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "delete")
    out = push_both(push_env, "delete", client, [":refs/heads/feature"],
                    seed=seed)
    assert out["module"]["code"] == 0
    assert "refs/heads/feature" not in out["module"]["refs"]
    assert "-\t:refs/heads/feature\t[deleted]" in out["module"]["porcelain"]


def test_delete_refused_by_deny_deletes(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "denydel")
    out = push_both(push_env, "denydel", client, [":refs/heads/feature"],
                    seed=seed, config=[("receive.denyDeletes", "true")])
    assert out["module"]["code"] == 1
    assert "refs/heads/feature" in out["module"]["refs"]
    assert any("deletion prohibited" in line
               for line in out["module"]["porcelain"]), out["module"]


def test_push_tags(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "tags")
    git("tag", "lt2", "main~1", cwd=client)
    git.tick()
    git("tag", "-a", "ann2", "-m", "second annotated", "main", cwd=client)
    out = push_both(push_env, "tags", client,
                    ["refs/tags/lt2", "refs/tags/ann2"], seed=seed)
    o = out["module"]
    assert o["code"] == 0
    kinds = {line.split()[2]: line.split()[1]
             for line in o["refs"].splitlines()}
    assert kinds["refs/tags/ann2"] == "tag"
    assert kinds["refs/tags/lt2"] == "commit"


def test_push_to_an_empty_repository(push_env, seed):
    client = client_of(push_env, seed, "toempty")
    out = push_both(push_env, "toempty", client,
                    ["main", "feature", "refs/tags/ann"])
    o = out["module"]
    assert o["code"] == 0
    assert len(o["refs"].splitlines()) == 3
    assert push_env.git("symbolic-ref", "HEAD", cwd=o["repo"]) \
        == "refs/heads/main"


def test_atomic_push_with_one_ref_refused(push_env, seed):
    """receive.denyNonFastForwards refuses feature; atomic: main does not
    move either, and both refs are reported."""
    git = push_env.git
    client = client_of(push_env, seed, "atomic")
    commit_file(git, client, "file.txt", "ff\n", "ff")
    git("checkout", "-q", "feature", cwd=client)
    git("reset", "-q", "--hard", "HEAD~1", cwd=client)
    commit_file(git, client, "feature.txt", "rewritten\n", "rewrite")
    out = push_both(push_env, "atomic", client, ["main", "feature"],
                    opts=("--atomic", "--force"), seed=seed,
                    config=[("receive.denyNonFastForwards", "true")])
    o = out["module"]
    assert o["code"] != 0
    assert rev(git, o["repo"], "main") == rev(git, seed, "main")
    assert rev(git, o["repo"], "feature") == rev(git, seed, "feature")
    rejected = [line for line in o["porcelain"] if line.startswith("!")]
    assert len(rejected) == 2, o["porcelain"]


@pytest.mark.parametrize("advertised", [True, False])
def test_push_options(push_env, seed, advertised):
    git = push_env.git
    client = client_of(push_env, seed, "pushopt")
    tip = commit_file(git, client, "file.txt", "opt\n", "opt")
    config = [("receive.advertisePushOptions", "true")] if advertised else []
    out = push_both(push_env, "pushopt%d" % advertised, client, ["main"],
                    opts=("-o", "a", "-o", "b"), seed=seed, config=config)
    o = out["module"]
    if advertised:
        assert o["code"] == 0, o
        assert rev(git, o["repo"], "main") == tip
    else:
        # the client refuses to send options that were not advertised
        assert o["code"] != 0
        assert any("push options" in m for m in o["messages"]), o


def test_chunked_push(push_env, seed):
    """A pack larger than http.postBuffer goes chunked."""
    git = push_env.git
    client = client_of(push_env, seed, "chunked")
    (client / "random.bin").write_bytes(os.urandom(3 << 20))
    git("add", "random.bin", cwd=client)
    git.tick()
    git("commit", "-q", "-m", "random", cwd=client)
    out = push_both(push_env, "chunked", client, ["main"], seed=seed,
                    opts=(), env={"GIT_TRACE_CURL": "0"})
    assert out["module"]["code"] == 0
    assert rev(git, out["module"]["repo"], "main") == rev(git, client, "main")
    # the module's request was indeed chunked
    repo = push_env.new_repo("chunked-check", seed)
    r = git.run("-c", "http.postBuffer=65536", "push",
                push_env.url("git", repo), "main", cwd=client,
                env={"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"})
    assert r.code == 0, r.err
    assert re.search(r"Transfer-Encoding: chunked", r.err, re.I)
    assert rev(git, repo, "main") == rev(git, client, "main")
    assert_clean(server_state(git, repo))


# --------------------------------------------------------------------------
# hooks


def write_hook(repo, name, body):
    path = Path(repo) / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_pre_receive_refuses(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "prerecv")
    commit_file(git, client, "file.txt", "hooked\n", "hooked")

    def setup(repo):
        write_hook(repo, "pre-receive",
                   'echo "pre-receive says no" >&2\nexit 1\n')
    out = push_both(push_env, "prerecv", client, ["main"], seed=seed,
                    sides=HOOK_SIDES, setup=setup)
    o = out["module"]
    assert o["code"] == 1
    assert "remote: pre-receive says no" in o["messages"], o
    assert any("pre-receive hook declined" in line
               for line in o["porcelain"]), o
    assert rev(git, o["repo"], "main") == rev(git, seed, "main")


def test_update_hook_refuses_one_ref_and_post_receive_speaks(push_env,
                                                             seed):
    git = push_env.git
    client = client_of(push_env, seed, "update")
    tip = commit_file(git, client, "file.txt", "hooked\n", "hooked")
    git("branch", "blocked", cwd=client)

    def setup(repo):
        write_hook(repo, "update",
                   'if [ "$1" = refs/heads/blocked ]; then\n'
                   '  echo "update: $1 is blocked"; exit 1\nfi\n')
        write_hook(repo, "post-receive",
                   'echo "post-receive: $(wc -l) ref(s)"\n')
        write_hook(repo, "post-update", 'echo "post-update: $*"\n')
    out = push_both(push_env, "update", client, ["main", "blocked"],
                    seed=seed, sides=HOOK_SIDES, setup=setup)
    o = out["module"]
    assert o["code"] == 1
    assert "remote: update: refs/heads/blocked is blocked" in o["messages"]
    assert "remote: post-receive: 1 ref(s)" in o["messages"], o
    assert "remote: post-update: refs/heads/main" in o["messages"], o
    assert rev(git, o["repo"], "main") == tip
    assert "refs/heads/blocked" not in o["refs"]


def test_hook_environment(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "hookenv")
    commit_file(git, client, "file.txt", "env\n", "env")

    def setup(repo):
        write_hook(repo, "pre-receive",
                   'echo "GIT_DIR is $(cd "$GIT_DIR" && pwd -P)"\n'
                   'echo "options: $GIT_PUSH_OPTION_COUNT"\n'
                   'i=0\nwhile [ $i -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
                   '  eval "echo option $i: \\$GIT_PUSH_OPTION_$i"\n'
                   '  i=$((i+1))\ndone\n'
                   'echo "quarantine: ${GIT_QUARANTINE_PATH:+set}"\n'
                   'echo "user: $REMOTE_USER from $REMOTE_ADDR"\n'
                   'echo "committer: $GIT_COMMITTER_NAME '
                   '<$GIT_COMMITTER_EMAIL>"\n')
    out = push_both(push_env, "hookenv", client, ["main"], seed=seed,
                    opts=("-o", "first", "-o", "second"), sides=HOOK_SIDES,
                    setup=setup,
                    config=[("receive.advertisePushOptions", "true")])
    o = out["module"]
    assert o["code"] == 0, o
    assert "remote: GIT_DIR is REPO" in o["messages"], o
    assert "remote: options: 2" in o["messages"]
    assert "remote: option 1: second" in o["messages"]
    assert "remote: user: %s from 127.0.0.1" % USER in o["messages"]
    assert "remote: committer: %s <%s@http.127.0.0.1>" % (USER, USER) \
        in o["messages"]


def test_hooks_off_runs_no_hook(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "hooksoff")
    tip = commit_file(git, client, "file.txt", "nohooks\n", "nohooks")
    repo = push_env.new_repo("hooksoff", seed)
    marker = push_env.tmp / "hooksoff-ran"
    for name in ("pre-receive", "update", "post-receive", "post-update"):
        write_hook(repo, name, 'echo %s >> "%s"\nexit 1\n' % (name, marker))
    r = git.run("push", "--porcelain", push_env.url("git", repo), "main",
                cwd=client)
    assert r.code == 0, r.err
    assert not marker.exists(), marker.read_text()
    assert rev(git, repo, "main") == tip
    assert_clean(server_state(git, repo))


def push_both_at_once(push_env, location, repo, clients):
    """`git push main` from both (client, tip) at once: exactly one wins,
    and the ref is its tip. Returns the two runs and the winner's index."""
    git = push_env.git
    runs = [None, None]

    def push(i):
        runs[i] = git.run("push", "--porcelain",
                          push_env.url(location, repo), "main",
                          cwd=clients[i][0])
    threads = [threading.Thread(target=push, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [r.code for r in runs]
    assert sorted(codes) == [0, 1], (location, [r.err for r in runs])
    winner = codes.index(0)
    assert rev(git, repo, "main") == clients[winner][1]
    return runs, winner


def test_two_pushes_to_one_ref_at_once(push_env, seed):
    """Both pushes pass pre-receive together (a barrier in the hook), then
    race for the ref: one wins, the other is told, on both servers."""
    git = push_env.git
    clients = []
    for i in range(2):
        c = client_of(push_env, seed, "race%d" % i)
        tip = commit_file(git, c, "race.txt", "client %d\n" % i,
                          "race %d" % i)
        clients.append((c, tip))
    results = {}
    for side, location in HOOK_SIDES:
        repo = push_env.new_repo("race-%s" % side, seed)
        barrier = push_env.tmp / ("barrier-%s" % side)
        barrier.mkdir()
        write_hook(repo, "pre-receive",
                   'touch "%s/$$"\nn=0\n'
                   'while [ "$(ls "%s" | wc -l)" -lt 2 ]; do\n'
                   '  n=$((n+1)); [ $n -gt 1200 ] && exit 1\n'
                   '  sleep 0.05\ndone\n' % (barrier, barrier))
        runs, winner = push_both_at_once(push_env, location, repo, clients)
        loser = 1 - winner
        assert any(line.startswith("!\trefs/heads/main:refs/heads/main\t"
                                   "[remote rejected]")
                   for line in runs[loser].out.splitlines()), runs[loser]
        state = server_state(git, repo)
        assert_clean(state)
        results[side] = (sorted(r.code for r in runs), state["fsck"][0])
    helpers.assert_same(results["module"], results["reference"], "race")


# --------------------------------------------------------------------------
# the advertisement

SERVICE_HEAD = [b"# service=git-receive-pack\n", helpers.FLUSH]


def advert_both(push_env, name, seed=None, headers=None, config=(),
                setup=None):
    """GET info/refs?service=git-receive-pack of NAME-<side>.git on both
    sides: {side: {status, type, cache, body}}, the body as its pkt-lines
    with agent=X."""
    out = {}
    for side, location in SIDES:
        repo = push_env.new_repo("%s-%s" % (name, side), seed, config)
        if setup is not None:
            setup(repo)
        h = dict(headers or {}, Authorization=basic_auth())
        res = helpers.http_request(push_env.port, "GET",
                                   push_env.path(location, repo) + ADVERT, h)
        out[side] = {"status": res.status,
                     "type": res.header("Content-Type"),
                     "cache": res.header("Cache-Control"),
                     "body": [helpers.normalise_agent(i)
                              for i in parse_pkt_lines(res.body)]}
    return out


@pytest.mark.parametrize("protocol", [None, "version=1", "version=2"])
@pytest.mark.parametrize("content", ["seeded", "empty"])
def test_receive_pack_advertisement(push_env, seed, content, protocol):
    """The advertisement's bytes, agent= aside. Seeded: branches, tags (no
    peeled lines in a receive-pack advertisement), a symbolic ref under
    refs/ and HEAD (never advertised); empty: the capabilities^{} line.

    Differs, by design: with Git-Protocol: version=2, git http-backend
    leaves out the "# service=git-receive-pack" pkt-line and its flush (it
    asks whether the protocol is v2 before it asks which service, and
    receive-pack then answers v0), a response git's own remote-curl
    refuses ("invalid server response"); the module keeps them. They are
    taken off the module's body before the comparison."""
    git = push_env.git

    def setup(repo):
        if content == "seeded":
            git("symbolic-ref", "refs/heads/alias", "refs/heads/main",
                cwd=repo)
    headers = {"Git-Protocol": protocol} if protocol else {}
    out = advert_both(push_env, "advert-%s-%s" % (content, protocol or "0"),
                      seed if content == "seeded" else None, headers,
                      setup=setup)
    m, r = out["module"], out["reference"]
    assert m["status"] == 200
    assert m["type"] == "application/x-git-receive-pack-advertisement"
    if protocol == "version=2" and not SELF_CHECK:
        assert m["body"][:2] == SERVICE_HEAD, m["body"][:3]
        assert r["body"][:2] != SERVICE_HEAD, r["body"][:3]
        m = dict(m, body=m["body"][2:])
    elif protocol != "version=2":
        assert m["body"][:2] == SERVICE_HEAD, m["body"][:3]
    helpers.assert_same(m, r, "receive-pack advertisement")
    lines = [i for i in r["body"] if isinstance(i, bytes)]
    if protocol == "version=1":
        assert b"version 1\n" in lines
    names = [line.split(b"\0")[0].split(b" ")[1].strip() for line in lines
             if not line.startswith((b"#", b"version"))]
    if content == "empty":
        assert names == [b"capabilities^{}"]
    else:
        assert b"refs/heads/alias" in names and b"HEAD" not in names
        assert not any(n.endswith(b"^{}") for n in names)


def test_hidden_ref_is_not_advertised_nor_updated(push_env, seed):
    """receive.hideRefs=refs/hidden: the hidden ref is not in the
    advertisement, and an update of it (or a creation under it) is
    refused, the other ref of the push going through."""
    git = push_env.git
    config = [("receive.hideRefs", "refs/hidden")]

    def setup(repo):
        git("update-ref", "refs/hidden/secret", "refs/heads/feature",
            cwd=repo)
    adverts = advert_both(push_env, "hiddenadv", seed, config=config,
                          setup=setup)
    helpers.assert_same(adverts["module"], adverts["reference"], "advert")
    body = b"".join(i for i in adverts["module"]["body"]
                    if isinstance(i, bytes))
    assert b"refs/hidden" not in body and b"refs/heads/main" in body

    client = client_of(push_env, seed, "hidden")
    tip = commit_file(git, client, "file.txt", "hidden\n", "hidden")
    out = push_both(push_env, "hidden", client,
                    ["main", "main:refs/hidden/secret",
                     "main:refs/hidden/new"],
                    opts=("--force",), seed=seed, config=config, setup=setup)
    o = out["module"]
    assert o["code"] == 1
    for ref in ("refs/hidden/secret", "refs/hidden/new"):
        assert "!\trefs/heads/main:%s\t[remote rejected] (deny updating a "\
            "hidden ref)" % ref in o["porcelain"], o["porcelain"]
    assert rev(git, o["repo"], "main") == tip
    assert rev(git, o["repo"], "refs/hidden/secret") \
        == rev(git, seed, "feature")
    assert "refs/hidden/new" not in o["refs"]


# --------------------------------------------------------------------------
# non-bare repositories: receive.denyCurrentBranch


def non_bare_maker(push_env, seed):
    """make_repo for push_both: a clone of seed with a work tree, main
    checked out and feature a local branch; the URL names the work tree
    (both servers find NAME/.git as git's enter_repo() does)."""
    git = push_env.git

    def make(name):
        dest = push_env.root / name
        git("clone", "-q", seed, dest)
        git("branch", "-q", "feature", "origin/feature", cwd=dest)
        git("remote", "remove", "origin", cwd=dest)
        (dest / ".git" / "git-daemon-export-ok").write_text("")
        return dest, dest / ".git"
    return make


def work_tree_state(git, repo):
    work = Path(repo).parent
    return {"status": git("status", "--porcelain", cwd=work),
            "file": (work / "file.txt").read_text(),
            "head": git("rev-parse", "HEAD", cwd=work)}


UPDATE_INSTEAD_BUG = (
    "receive.denyCurrentBranch=updateInstead: the core refuses the push (as "
    "refuse) where git updates the ref and the work tree")


@pytest.mark.parametrize("deny", [
    None, "refuse", "warn", "ignore", "updateInstead"])
def test_deny_current_branch(push_env, seed, deny):
    """Both repositories stay sound (fsck, nothing left behind) in every
    case; for updateInstead the module's known difference is pinned (a
    refusal as refuse, ref and work tree untouched, where git updates
    both) and reported as an expected failure."""
    git = push_env.git
    client = client_of(push_env, seed, "denycur")
    tip = commit_file(git, client, "file.txt", "current\n", "current")
    config = [("receive.denyCurrentBranch", deny)] if deny else []
    known_bug = deny == "updateInstead" and not SELF_CHECK

    def setup(repo):
        for key, value in config:
            git("config", key, value, cwd=repo)
    # unconfigured: git adds its advice on receive.denyCurrentBranch, the
    # core does not (test_deny_current_branch_advice)
    ignore = ("messages",) if deny is None else ()
    if known_bug:
        ignore = ("code", "porcelain", "messages", "refs")
    out = push_both(push_env, "denycur-%s" % deny, client, ["main"],
                    make_repo=non_bare_maker(push_env, seed), setup=setup,
                    ignore=ignore)
    trees = {side: work_tree_state(git, o["repo"])
             for side, o in out.items()}
    refused = "!\trefs/heads/main:refs/heads/main\t[remote rejected] "\
        "(branch is currently checked out)"
    if known_bug:
        ref, o = out["reference"], out["module"]
        assert ref["code"] == 0, ref
        assert rev(git, ref["repo"], "main") == tip
        assert trees["reference"]["file"] == "current\n"
        assert trees["reference"]["status"] == ""
        assert o["code"] == 1, o
        assert refused in o["porcelain"], o
        assert "remote: error: refusing to update checked out branch: "\
            "refs/heads/main" in o["messages"], o
        assert rev(git, o["repo"], "main") == rev(git, seed, "main")
        assert trees["module"]["file"] != "current\n"
        assert trees["module"]["status"] == ""
        pytest.xfail(UPDATE_INSTEAD_BUG)
    helpers.assert_same(trees["module"], trees["reference"], "work tree")
    o = out["module"]
    if deny in (None, "refuse"):
        assert o["code"] == 1
        assert refused in o["porcelain"], o
        assert "remote: error: refusing to update checked out branch: "\
            "refs/heads/main" in o["messages"], o
        assert rev(git, o["repo"], "main") == rev(git, seed, "main")
    else:
        assert o["code"] == 0, o
        assert rev(git, o["repo"], "main") == tip
    if deny == "updateInstead":
        assert trees["module"]["file"] == "current\n"
        assert trees["module"]["status"] == ""


ADVICE_BUG = (
    "receive.denyCurrentBranch unconfigured: the core refuses as git does "
    "but leaves out the advice git's refuse_unconfigured_deny() prints "
    "(\"By default, updating the current branch in a non-bare repository "
    "is denied...\")")


def test_deny_current_branch_advice(push_env, seed):
    """Everything but the messages is git's (push_both checks it, and that
    both repositories stay sound); the messages are git's without its
    advice lines, pinned, and reported as an expected failure."""
    git = push_env.git
    client = client_of(push_env, seed, "denyadvice")
    commit_file(git, client, "file.txt", "advice\n", "advice")
    out = push_both(push_env, "denyadvice", client, ["main"],
                    make_repo=non_bare_maker(push_env, seed),
                    ignore=("messages",))
    mod, ref = out["module"]["messages"], out["reference"]["messages"]
    assert any("By default, updating the current branch" in m for m in ref)
    if SELF_CHECK:
        assert mod == ref
        return
    # git's first line, then its advice (every line up to the client's own)
    assert mod == [ref[0], ref[-1]], mod
    assert ref[0] == "remote: error: refusing to update checked out " \
        "branch: refs/heads/main"
    assert all(m.startswith("remote: ") for m in ref[1:-1])
    pytest.xfail(ADVICE_BUG)


def test_push_to_another_branch_of_a_non_bare_repository(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "nonbare")
    git("checkout", "-q", "feature", cwd=client)
    tip = commit_file(git, client, "feature.txt", "more\n", "more")
    out = push_both(push_env, "nonbare", client, ["feature"],
                    make_repo=non_bare_maker(push_env, seed))
    o = out["module"]
    assert o["code"] == 0, o
    assert rev(git, o["repo"], "feature") == tip
    assert rev(git, o["repo"], "main") == rev(git, seed, "main")
    assert work_tree_state(git, o["repo"])["status"] == ""


# --------------------------------------------------------------------------
# receive.fsckObjects, stale locks


def commit_with_bad_author(git, client):
    """A commit git's fsck rejects (missingEmail in its author line) on
    top of HEAD, written with --literally, as refs/heads/bad."""
    text = ("tree %s\nparent %s\nauthor No Email 1700000000 +0000\n"
            "committer C O Mitter <c@example.com> 1700000000 +0000\n\n"
            "bad author\n" % (rev(git, client, "HEAD^{tree}"),
                              rev(git, client, "HEAD")))
    oid = git("hash-object", "-t", "commit", "--literally", "-w", "--stdin",
              cwd=client, input=text)
    git("update-ref", "refs/heads/bad", oid, cwd=client)
    return oid


@pytest.mark.parametrize("fsck_objects", ["true", "false"])
def test_receive_fsck_objects(push_env, seed, fsck_objects):
    """On: both refuse the pack (their unpack status texts differ: git's
    names unpack-objects, the module's index-pack --strict, so the
    messages are compared loosely), nothing moves, no quarantine is left.
    Off: both take the commit in."""
    git = push_env.git
    client = client_of(push_env, seed, "fsck")
    bad = commit_with_bad_author(git, client)
    on = fsck_objects == "true"
    out = push_both(push_env, "fsck-%s" % fsck_objects, client, ["bad"],
                    seed=seed,
                    config=[("receive.fsckObjects", fsck_objects)],
                    # Off: both keep so small a push as loose objects
                    # (receive.unpackLimit), so git fsck says the same.
                    ignore=("messages",) if on else (), clean=False)
    for side, o in out.items():
        assert o["stray"] == [], (side, o)
        if on:
            assert o["code"] == 1, (side, o)
            assert "!\trefs/heads/bad:refs/heads/bad\t[remote rejected] "\
                "(unpacker error)" in o["porcelain"], (side, o)
            assert any(m.startswith("error: remote unpack failed: ")
                       for m in o["messages"]), (side, o)
            assert "refs/heads/bad" not in o["refs"]
            assert o["fsck"][0] == 0, (side, o)
            assert not git.run("cat-file", "-e", bad, cwd=o["repo"]).code \
                == 0, (side, "the refused commit is in the repository")
        else:
            assert o["code"] == 0, (side, o)
            assert rev(git, o["repo"], "bad") == bad
            # what receive-pack let through, git fsck --strict names
            assert o["fsck"][0] != 0 and "missingEmail" in o["fsck"][2], o


def test_stale_ref_lock(push_env, seed):
    """refs/heads/feature.lock left by someone else: the update of feature
    fails, main (non-atomic push) moves, and the lock stays as it was."""
    git = push_env.git
    client = client_of(push_env, seed, "stalelock")
    tip = commit_file(git, client, "file.txt", "lock\n", "lock")
    git("checkout", "-q", "feature", cwd=client)
    ftip = commit_file(git, client, "feature.txt", "lock\n", "lock")
    stale = "stale lock, not ours\n"

    def setup(repo):
        (Path(repo) / "refs" / "heads" / "feature.lock").write_text(stale)
    # the lock error is git's on both sides, word for word ("Unable to
    # create '<repo>/./refs/heads/feature.lock': File exists." and advice)
    out = push_both(push_env, "stalelock", client, ["main", "feature"],
                    seed=seed, setup=setup, clean=False)
    for side, o in out.items():
        assert o["messages"][0].startswith(
            "remote: error: cannot lock ref 'refs/heads/feature': "), \
            (side, o["messages"])
        assert o["code"] == 1, (side, o)
        assert o["fsck"][0] == 0, (side, o)
        assert o["stray"] == ["refs/heads/feature.lock"], (side, o)
        lock = Path(o["repo"]) / "refs" / "heads" / "feature.lock"
        assert lock.read_text() == stale
        assert rev(git, o["repo"], "main") == tip
        assert rev(git, o["repo"], "feature") == rev(git, seed, "feature")
        assert rev(git, o["repo"], "feature") != ftip
        assert any(line.startswith("!\trefs/heads/feature:refs/heads/feature"
                                   "\t[remote rejected]")
                   for line in o["porcelain"]), (side, o)


# --------------------------------------------------------------------------
# who may push


def http_both(push_env, sides, method, suffix, name, headers=None,
              body=None, auth=True, config=()):
    out = {}
    for side, location in sides:
        repo = push_env.new_repo("%s-%s" % (name, side), config=config)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = basic_auth()
        res = helpers.http_request(push_env.port, method,
                                   push_env.path(location, repo) + suffix,
                                   h, body)
        out[side] = res.status
    return out


def basic_auth():
    return "Basic " + base64.b64encode(
        ("%s:%s" % (USER, PASSWORD)).encode()).decode()


ADVERT = "/info/refs?service=git-receive-pack"
RPC = "/git-receive-pack"
RPC_HEADERS = {"Content-Type": RECEIVE_PACK_REQUEST}


def test_anonymous_push_is_refused(push_env, seed):
    client = client_of(push_env, seed, "anon")
    out = push_both(push_env, "anon", client, ["main"], seed=seed,
                    sides=ANON_SIDES, auth=False)
    o = out["module"]
    assert o["code"] == 128
    assert any("403" in m for m in o["messages"]), o
    assert http_both(push_env, ANON_SIDES, "GET", ADVERT, "anonget",
                     auth=False) == {"module": 403, "reference": 403}
    assert http_both(push_env, ANON_SIDES, "POST", RPC, "anonpost",
                     RPC_HEADERS, pkt_flush(), auth=False) \
        == {"module": 403, "reference": 403}


def test_http_receivepack_true_allows_anonymous(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "anonok")
    tip = commit_file(git, client, "file.txt", "anon\n", "anon")
    out = push_both(push_env, "anonok", client, ["main"], seed=seed,
                    sides=ANON_SIDES, auth=False,
                    config=[("http.receivepack", "true")])
    assert out["module"]["code"] == 0
    assert rev(git, out["module"]["repo"], "main") == tip


def test_http_receivepack_false_refuses_a_user(push_env, seed):
    client = client_of(push_env, seed, "rpfalse")
    out = push_both(push_env, "rpfalse", client, ["main"], seed=seed,
                    config=[("http.receivepack", "false")])
    assert out["module"]["code"] == 128
    assert any("403" in m for m in out["module"]["messages"])
    cfg = [("http.receivepack", "false")]
    assert http_both(push_env, SIDES, "GET", ADVERT, "rpfget", config=cfg) \
        == {"module": 403, "reference": 403}
    assert http_both(push_env, SIDES, "POST", RPC, "rpfpost", RPC_HEADERS,
                     pkt_flush(), config=cfg) \
        == {"module": 403, "reference": 403}


def test_receive_pack_off_is_403_for_everyone(push_env, seed):
    """git_smart_http_receive_pack off answers as http-backend does for a
    repository whose http.receivepack is false."""
    client = client_of(push_env, seed, "off")
    git = push_env.git
    results = {}
    for side, location, config in (
            ("module", "gitoff", ()),
            ("reference", "ref", [("http.receivepack", "false")])):
        repo = push_env.new_repo("off-%s" % side, seed, config)
        r = git.run("push", "--porcelain", push_env.url(location, repo),
                    "main", cwd=client)
        results[side] = push_outcome(git, r, repo)
        results[side]["advert"] = helpers.http_request(
            push_env.port, "GET", push_env.path(location, repo) + ADVERT,
            {"Authorization": basic_auth()}).status
        results[side]["post"] = helpers.http_request(
            push_env.port, "POST", push_env.path(location, repo) + RPC,
            dict(RPC_HEADERS, Authorization=basic_auth()), pkt_flush()).status
    helpers.assert_same(results["module"], results["reference"], "off")
    assert results["module"]["advert"] == 403
    assert results["module"]["post"] == 403
    assert results["module"]["code"] == 128


def test_wrong_content_type_is_415(push_env):
    assert http_both(push_env, SIDES, "POST", RPC, "ctype",
                     {"Content-Type": "application/x-git-upload-pack-request"},
                     pkt_flush()) == {"module": 415, "reference": 415}


def test_auth_basic_without_credentials(push_env, seed):
    client = client_of(push_env, seed, "nocred")
    out = push_both(push_env, "nocred", client, ["main"], seed=seed,
                    auth=False)
    assert out["module"]["code"] == 128


def test_fetch_sees_the_push_at_once(push_env, seed):
    """Every advertisement after the push, from whichever worker answers,
    shows the new tip."""
    git = push_env.git
    client = client_of(push_env, seed, "seen")
    repo = push_env.new_repo("seen", seed)
    url = push_env.url("git", repo)
    # the advertisement of the old state, in both workers' caches if any
    for _ in range(6):
        assert rev(git, seed, "main") in git("ls-remote", url, "main")
    for i in range(3):
        tip = commit_file(git, client, "file.txt", "seen %d\n" % i,
                          "seen %d" % i)
        git("push", "-q", url, "main", cwd=client)
        for _ in range(6):
            assert git("ls-remote", url, "refs/heads/main").split()[0] == tip


# --------------------------------------------------------------------------
# faults, with raw requests


def advertised_refs(port, path):
    res = helpers.http_request(port, "GET", path + ADVERT,
                               {"Authorization": basic_auth()})
    assert res.status == 200, res
    refs = {}
    for item in parse_pkt_lines(res.body):
        if isinstance(item, bytes) and not item.startswith(b"#"):
            oid, _, name = item.split(b"\0")[0].strip().partition(b" ")
            refs[name.decode()] = oid.decode()
    return refs


def push_body(commands, pack, caps="report-status side-band-64k "
              "agent=git/test"):
    lines = []
    for i, (old, new, ref) in enumerate(commands):
        line = "%s %s %s" % (old, new, ref)
        if i == 0:
            line += "\0" + caps
        lines.append(pkt(line + "\n"))
    return b"".join(lines) + pkt_flush() + pack


def report(res):
    """(unpack status, [ok/ng lines], side-band 2 text, side-band 3 text)
    of a side-band-64k receive-pack response."""
    items = parse_pkt_lines(res.body)
    band1, band2, band3 = b"", b"", b""
    for it in items:
        if it == helpers.FLUSH:
            break
        if it[0] == 1:
            band1 += it[1:]
        elif it[0] == 2:
            band2 += it[1:]
        elif it[0] == 3:
            band3 += it[1:]
    inner = [i.decode().rstrip("\n") for i in parse_pkt_lines(band1)
             if isinstance(i, bytes)]
    unpack = inner[0] if inner else None
    return unpack, inner[1:], band2.decode("utf-8", "replace"), band3.decode("utf-8", "replace")


def without_receiving(body):
    """The module's response without the "Receiving objects" progress it
    sends first on side-band 2 (git's receive-pack runs index-pack without
    -v, and shows only "Resolving deltas"): a deliberate difference, issue
    17."""
    while body[4:].startswith(b"\x02Receiving objects:"):
        body = body[int(body[:4], 16):]
    return body


def raw_push_both(push_env, name, seed, make_body, sides=SIDES,
                  unchanged=True, raw=False, config=()):
    """POSTs make_body(refs of the repository) to NAME-<side>.git; returns
    {side: (status, report, refs before, state after, repo)}, the report
    being the response itself with raw. unchanged: no ref may move."""
    git = push_env.git
    out = {}
    for side, location in sides:
        repo = push_env.new_repo("%s-%s" % (name, side), seed, config)
        path = push_env.path(location, repo)
        before = server_refs(git, repo)
        body = make_body(advertised_refs(push_env.port, path))
        res = helpers.http_request(
            push_env.port, "POST", path + RPC,
            dict(RPC_HEADERS, Authorization=basic_auth()), body)
        if side == "module":
            res = res._replace(body=without_receiving(res.body))
        rep = res if raw else report(res) if res.status == 200 else None
        out[side] = (res.status, rep, before, server_state(git, repo), repo)
    for side, (status, rep, before, state, _repo) in out.items():
        if unchanged:
            assert state["refs"] == before, "%s: a ref moved: %r" % (side,
                                                                    rep)
        assert_clean(state)
    return out


def pack_of(git, repo, revs, thin=False):
    args = ["pack-objects", "--stdout", "-q", "--revs"]
    if thin:
        args.append("--thin")
    return helpers.run_in_group(["git"] + args, git.env, cwd=repo,
                                input=("\n".join(revs) + "\n").encode())[1]


def client_with_new_commit(push_env, seed, name, size=0):
    git = push_env.git
    client = client_of(push_env, seed, name)
    if size:
        (client / "data.bin").write_bytes(os.urandom(size))
        git("add", "data.bin", cwd=client)
    tip = commit_file(git, client, "file.txt", "%s\n" % name, name)
    return client, tip


def assert_failed_alike(out):
    """Both sides refused the push in their report, in the same shape: an
    unpack status other than ok, and ng for every ref."""
    shapes = {}
    for side, (status, rep, _b, _s, _r) in out.items():
        assert status == 200, (side, status)
        unpack, lines, _p, _e = rep
        assert unpack is not None and unpack.startswith("unpack ") \
            and unpack != "unpack ok", (side, rep)
        assert lines and all(line.startswith("ng ") for line in lines), \
            (side, rep)
        shapes[side] = [line.split(" ")[:2] for line in lines]
    helpers.assert_same(shapes["module"], shapes["reference"], "report")


def test_corrupt_pack(push_env, seed):
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "corrupt", 4096)
    pack = bytearray(pack_of(git, client, [tip, "^origin/main"]))
    for i in range(40, len(pack) - 30, 97):
        pack[i] ^= 0x5a

    def body(refs):
        return push_body([(refs["refs/heads/main"], tip, "refs/heads/main")],
                         bytes(pack))
    assert_failed_alike(raw_push_both(push_env, "corrupt", seed, body))


def test_truncated_pack(push_env, seed):
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "trunc", 4096)
    pack = pack_of(git, client, [tip, "^origin/main"])

    def body(refs):
        return push_body([(refs["refs/heads/main"], tip, "refs/heads/main")],
                         pack[:len(pack) // 2])
    assert_failed_alike(raw_push_both(push_env, "trunc", seed, body))


def test_thin_pack_with_a_missing_base(push_env, seed):
    """The base commit (and the big blob the pack deltas against) was never
    pushed: index-pack cannot complete the thin pack."""
    git = push_env.git
    client = client_of(push_env, seed, "thin")
    lines = ["line %d of a file long enough to delta against\n" % i
             for i in range(2000)]
    base = commit_file(git, client, "big.txt", "".join(lines), "base")
    lines[1000] = "changed\n"
    tip = commit_file(git, client, "big.txt", "".join(lines), "tip")
    pack = pack_of(git, client, [tip, "^" + base], thin=True)

    def body(refs):
        return push_body([(refs["refs/heads/main"], tip, "refs/heads/main")],
                         pack)
    assert_failed_alike(raw_push_both(push_env, "thin", seed, body))


def test_ref_update_without_objects(push_env, seed):
    """A command naming a commit the server lacks, with an empty pack."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "noobj")
    empty = pack_of(git, client, ["^" + tip, tip])

    def body(refs):
        return push_body([(refs["refs/heads/main"], tip, "refs/heads/main")],
                         empty)
    out = raw_push_both(push_env, "noobj", seed, body)
    shapes = {}
    for side, (status, rep, _b, _s, _r) in out.items():
        assert status == 200
        unpack, lines, _p, _e = rep
        assert lines and lines[0].startswith("ng refs/heads/main"), rep
        shapes[side] = (unpack, [line.split(" ")[:2] for line in lines])
    helpers.assert_same(shapes["module"], shapes["reference"], "noobj")


@pytest.mark.parametrize("funny", ["refs/heads/a..b", "HEAD", "main",
                                   "refs/heads/x.lock"])
def test_funny_refname(push_env, seed, funny):
    """A command for a name git would not make a ref of, next to an update
    of main: ng "funny refname" for it (its message on side-band 2), ok
    for main. HEAD goes alone: next to main's update git would take it as
    the same update made through the symbolic ref (see
    test_update_through_a_symbolic_ref)."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "funny")
    pack = pack_of(git, client, [tip, "^origin/main"])
    alone = funny == "HEAD"

    def body(refs):
        main = refs["refs/heads/main"]
        if alone:
            return push_body([(main, tip, funny)], pack)
        return push_body([(main, tip, "refs/heads/main"),
                          (ZERO, tip, funny)], pack)
    name = "funny-%s" % re.sub(r"[^a-z]", "", funny.lower())
    out = raw_push_both(push_env, name, seed, body, unchanged=False)
    reports = {}
    for side, (status, rep, before, state, repo) in out.items():
        assert status == 200, side
        reports[side] = rep
        assert rev(git, repo, "main") == (rev(git, seed, "main") if alone
                                          else tip), (side, rep)
        assert [line for line in state["refs"].splitlines()
                if "refs/heads/main" not in line] == \
            [line for line in before.splitlines()
             if "refs/heads/main" not in line], (side, state["refs"])
    helpers.assert_same(reports["module"], reports["reference"], "report")
    unpack, lines, progress, _err = reports["module"]
    assert unpack == "unpack ok"
    assert lines == ([] if alone else ["ok refs/heads/main"]) + \
        ["ng %s funny refname" % funny]
    assert "error: refusing to create funny ref '%s' remotely" % funny \
        in progress


# Names git's receive-pack refuses, as bytes: check_refname_format's rules
# one by one, and every control byte. The client refuses to send most of
# them (invalid refspec), so they go in a raw request.
FUNNY_NAMES = (
    [b"refs/heads/a%cb" % b for b in range(1, 0x20)] +
    [b"refs/heads/a%cb" % c for c in b" :?[\\^~*\x7f"] +
    [b"refs/HEAD", b"refs/FETCH_HEAD", b"refs/ORIG_HEAD", b"refs/main",
     b"refs/", b"refs", b"heads/main", b"Refs/heads/x", b"/refs/heads/x",
     b"refs/@", b"refs/heads/a..b", b"refs/heads/a@{b", b"refs/heads/x.lock",
     b"refs/heads/x.lock/y", b"refs/heads/.x", b"refs/heads/x.",
     b"refs/heads/x/", b"refs//heads/x", b"refs/heads//x", b"refs/heads/*",
     b"refs/heads/" + b"x" * 5000 + b"\x7f", b"", b"refs/heads/q\n",
     b"refs/heads/r\r"])
# Odd names git takes: they must become refs on both sides.
ODD_NAMES = [b"refs/heads/@", b"refs/heads/a@b", b"refs/heads/a{b}",
             b"refs/heads/-x", b"refs/heads/\xc3\xa9t\xc3\xa9",
             b"refs/heads/\xff\x80", b"refs/x/y"]
# A NUL ends the name (what follows it is read as capabilities).
CUT_NAME = b"refs/heads/cut\0here"


def push_body_bytes(commands, pack, caps=b"report-status side-band-64k "
                    b"agent=git/test"):
    lines = []
    for i, (old, new, ref) in enumerate(commands):
        line = b"%s %s %s" % (old.encode(), new.encode(), ref)
        if i == 0:
            line += b"\0" + caps
        lines.append(pkt(line + b"\n"))
    return b"".join(lines) + pkt_flush() + pack


def test_funny_refnames_refused_as_git_does(push_env, seed):
    """One push of main's update, every name in FUNNY_NAMES (the empty one
    too), the odd names git takes and one cut by a NUL: the response is http-backend's byte for byte (each
    refusal's "ng <name> funny refname" and its error line on side-band 2,
    line breaks and long names as git writes them), and so are the refs
    afterwards."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "funnyall")
    pack = pack_of(git, client, [tip, "^origin/main"])

    def body(refs):
        cmds = [(refs["refs/heads/main"], tip, b"refs/heads/main")]
        cmds += [(ZERO, tip, name)
                 for name in FUNNY_NAMES + ODD_NAMES + [CUT_NAME]]
        return push_body_bytes(cmds, pack)
    out = raw_push_both(push_env, "funnyall", seed, body, unchanged=False,
                        raw=True)
    got = {side: (status, res.body, state["refs"])
           for side, (status, res, _b, state, _r) in out.items()}
    helpers.assert_same(got["module"], got["reference"], "response")
    status, body_bytes, refs = got["module"]
    assert status == 200
    band1, band2 = b"", b""
    for item in parse_pkt_lines(body_bytes):
        if item == helpers.FLUSH:
            break
        if item[0] == 1:
            band1 += item[1:]
        elif item[0] == 2:
            band2 += item[1:]
    for name in FUNNY_NAMES:
        assert pkt(b"ng %s funny refname\n" % name) in band1, name
        line = b"error: refusing to create funny ref '%s' remotely" % name
        assert line[:4095] + b"\n" in band2, name
    assert pkt(b"ok refs/heads/main\n") in band1
    for name in ODD_NAMES + [b"refs/heads/cut"]:
        assert pkt(b"ok %s\n" % name) in band1, name
    assert "refs/HEAD" not in refs and "FETCH_HEAD" not in refs
    assert "\x7f" not in refs


def test_funny_refnames_through_git_push(push_env, seed):
    """The names the git client does send: one component after refs/
    (refs/HEAD, refs/FETCH_HEAD, refs/main) are refused as funny by the
    server, beside an update that goes through."""
    client, _tip = client_with_new_commit(push_env, seed, "funnypush")
    out = push_both(push_env, "funnypush", client,
                    ["HEAD:refs/HEAD", "HEAD:refs/FETCH_HEAD",
                     "HEAD:refs/main", "main"], seed=seed)
    o = out["module"]
    assert o["code"] != 0
    for name in ("refs/HEAD", "refs/FETCH_HEAD", "refs/main"):
        assert "!\tHEAD:%s\t[remote rejected] (funny refname)" % name \
            in o["porcelain"], o["porcelain"]
        assert "remote: error: refusing to create funny ref '%s' remotely" \
            % name in o["messages"], o["messages"]
    assert " refs/HEAD " not in o["refs"]


SYMREF_BUG = ("the core refuses every update through a symbolic ref "
              "(\"cannot lock ref 'refs/heads/alias': is a symbolic ref, "
              "which a push does not update here\", failed to update ref)")

# Per case: git's report lines, the module's (while SYMREF_BUG stands),
# and where main ends up on the module's side ("seed", "tip", "other").
SYMREF_CASES = {
    "alone": (["ok refs/heads/alias"],
              ["ng refs/heads/alias failed to update ref"], "seed",
              SYMREF_BUG + "; git updates main through it"),
    "consistent": (["ok refs/heads/alias", "ok refs/heads/main"],
                   ["ng refs/heads/alias failed to update ref",
                    "ok refs/heads/main"], "tip",
                   SYMREF_BUG + "; git reports ok for both"),
    "inconsistent": (["ng refs/heads/alias inconsistent aliased update",
                      "ng refs/heads/main inconsistent aliased update"],
                     ["ng refs/heads/alias failed to update ref",
                      "ok refs/heads/main"], "other",
                     SYMREF_BUG + " and moves main; git refuses both "
                     "(inconsistent aliased update) and moves nothing"),
}


@pytest.mark.parametrize("case", sorted(SYMREF_CASES))
def test_update_through_a_symbolic_ref(push_env, seed, case):
    """refs/heads/alias -> refs/heads/main on the server. Alone, an update
    of alias moves main; next to main's update, the same update is done
    once and both are ok; a different one refuses both (git's
    "inconsistent aliased update"). Both repositories must stay sound
    (fsck, no lock left) whatever the report; the module's known
    difference (SYMREF_BUG) is then pinned line for line and reported as
    an expected failure: any other outcome fails."""
    git = push_env.git
    git_lines, module_lines, module_main, reason = SYMREF_CASES[case]
    client, tip = client_with_new_commit(push_env, seed, "symref")
    other = commit_file(git, client, "other.txt", "other\n", "other")
    pack = pack_of(git, client, [other, "^origin/main"])

    def body(refs):
        main = refs["refs/heads/main"]
        cmds = [(main, tip, "refs/heads/alias")]
        if case != "alone":
            cmds.append((main, tip if case == "consistent" else other,
                         "refs/heads/main"))
        return push_body(cmds, pack)

    out = {}
    for side, location in SIDES:
        repo = push_env.new_repo("symref-%s-%s" % (case, side), seed)
        git("symbolic-ref", "refs/heads/alias", "refs/heads/main", cwd=repo)
        path = push_env.path(location, repo)
        res = helpers.http_request(
            push_env.port, "POST", path + RPC,
            dict(RPC_HEADERS, Authorization=basic_auth()),
            body(advertised_refs(push_env.port, path)))
        state = server_state(git, repo)
        assert_clean(state)
        out[side] = {"status": res.status, "report": report(res),
                     "main": rev(git, repo, "refs/heads/main"),
                     "alias": git("symbolic-ref", "refs/heads/alias",
                                  cwd=repo)}
    seed_main = rev(git, seed, "main")
    git_main = {"alone": tip, "consistent": tip,
                "inconsistent": seed_main}[case]
    for side, o in out.items():
        assert o["status"] == 200, (side, o)
        assert o["alias"] == "refs/heads/main", side
        assert o["report"][0] == "unpack ok", (side, o["report"])
    ref = out["reference"]
    assert ref["report"][1] == git_lines, ref["report"]
    assert ref["main"] == git_main
    if SELF_CHECK:
        helpers.assert_same(out["module"], ref, "symref " + case)
        return
    o = out["module"]
    assert o["report"][1] == module_lines, o["report"]
    assert "cannot lock ref 'refs/heads/alias': is a symbolic ref" in \
        o["report"][2], o["report"]
    assert o["main"] == {"seed": seed_main, "tip": tip,
                         "other": other}[module_main]
    pytest.xfail(reason)


@pytest.mark.parametrize("caps", [
    "report-status", "report-status-v2", "report-status report-status-v2",
    "agent=git/test"])
def test_report_status_versions(push_env, seed, caps):
    """No side-band: the report is the response body itself, byte for
    byte; report-status-v2 adds nothing here (no ref was rewritten by a
    proc-receive hook), and no report-status at all gets an empty body."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "rstatus")
    pack = pack_of(git, client, [tip, "^origin/main"])

    def body(refs):
        return push_body([(refs["refs/heads/main"], tip, "refs/heads/main"),
                          (ZERO, tip, "refs/heads/a..b")], pack, caps=caps)
    name = "rstatus-%d" % len(caps)
    out = raw_push_both(push_env, name, seed, body, unchanged=False,
                        raw=True)
    got = {}
    for side, (status, res, _before, _state, repo) in out.items():
        got[side] = (status, res.header("Content-Type"), res.body)
        assert rev(git, repo, "main") == tip, side
    helpers.assert_same(got["module"], got["reference"], "response")
    if "report-status" in caps:
        expected = pkt("unpack ok\n") + pkt("ok refs/heads/main\n") + \
            pkt("ng refs/heads/a..b funny refname\n") + pkt_flush()
    else:
        expected = b""
    assert got["module"] == (200, "application/x-git-receive-pack-result",
                             expected)


def send_partial(port, path, body, part):
    """Sends the headers of a POST of body and its first `part` bytes;
    returns the open socket."""
    s = socket.create_connection(("127.0.0.1", port))
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
            "Authorization: %s\r\nContent-Length: %d\r\n\r\n"
            % (path, RECEIVE_PACK_REQUEST, basic_auth(), len(body)))
    s.sendall(head.encode() + body[:part])
    return s


def wait_access_log(push_env, start, what, prefix="POST "):
    """The first access-log line from line `start` on that begins with
    prefix: a worker logs after the response, so the line of an earlier
    request (the advertisement) may come after `start` was counted."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = push_env.nginx.access_log.read_text().splitlines() \
            if push_env.nginx.access_log.exists() else []
        found = [line for line in lines[start:] if line.startswith(prefix)]
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail("no access log line for %s" % what)


def test_client_disconnects_mid_pack(push_env, seed):
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "midpack", 1 << 20)
    pack = pack_of(git, client, [tip, "^origin/main"])
    for side, location in SIDES:
        repo = push_env.new_repo("midpack-%s" % side, seed)
        path = push_env.path(location, repo)
        before = server_refs(git, repo)
        old = advertised_refs(push_env.port, path)["refs/heads/main"]
        body = push_body([(old, tip, "refs/heads/main")], pack)
        logged = len(push_env.nginx.access_log.read_text().splitlines())
        s = send_partial(push_env.port, path + RPC, body, len(body) // 2)
        s.close()
        line = wait_access_log(push_env, logged, "the dropped push")
        assert " 499 " in line or " 400 " in line, line
        state = server_state(git, repo)
        assert state["refs"] == before
        assert_clean(state)


def worker_of_connection(push_env, sock):
    """The nginx worker holding the server side of sock."""
    port = sock.getsockname()[1]
    inode = None
    deadline = time.monotonic() + 30
    while inode is None and time.monotonic() < deadline:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                remote_port = int(fields[2].split(":")[1], 16)
                local_port = int(fields[1].split(":")[1], 16)
                if remote_port == port and local_port == push_env.port:
                    inode = fields[9]
        for pid in push_env.workers():
            try:
                fds = os.listdir("/proc/%d/fd" % pid)
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if inode and link == "socket:[%s]" % inode:
                    return pid
        inode = None
        time.sleep(0.05)
    pytest.fail("no worker holds the connection")


@pytest.mark.kills_workers
def test_worker_killed_during_a_push(push_env, seed):
    """SIGKILL of the worker reading a push: nothing changes, and the next
    push succeeds and leaves nothing behind."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "killed", 1 << 20)
    repo = push_env.new_repo("killed", seed)
    path = push_env.path("git", repo)
    before = server_refs(git, repo)
    old = advertised_refs(push_env.port, path)["refs/heads/main"]
    pack = pack_of(git, client, [tip, "^origin/main"])
    body = push_body([(old, tip, "refs/heads/main")], pack)
    workers = push_env.workers()
    s = send_partial(push_env.port, path + RPC, body, len(body) // 2)
    try:
        pid = worker_of_connection(push_env, s)
        os.kill(pid, signal.SIGKILL)
        s.settimeout(60)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
    finally:
        s.close()
    assert server_refs(git, repo) == before
    # the master starts a successor
    helpers.wait_until(lambda: len(push_env.workers()) >= len(workers), 30)
    r = git.run("push", "--porcelain", push_env.url("git", repo), "main",
                cwd=client)
    assert r.code == 0, r.err
    assert rev(git, repo, "main") == tip
    assert_clean(server_state(git, repo))


@pytest.mark.kills_workers
def test_worker_killed_in_pre_receive(push_env, seed):
    """SIGKILL of the worker while the push runs its pre-receive hook (the
    pack is in the quarantine by then): no ref moves, and the quarantine
    is gone after the next successful push at the latest."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "killhook")
    repo = push_env.new_repo("killhook", seed)
    fifo = push_env.tmp / "killhook.fifo"
    os.mkfifo(fifo)
    started = push_env.tmp / "killhook.started"
    write_hook(repo, "pre-receive",
               'if [ ! -e "%s" ]; then echo "$PPID" > "%s"; read x < "%s"; '
               'fi\n' % (started, started, fifo))
    before = server_refs(git, repo)
    proc = subprocess.Popen(
        ["git", "push", push_env.url("githooks", repo), "main"],
        cwd=client, env=git.env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (started.exists() and started.read_text().strip()):
            assert time.monotonic() < deadline, "pre-receive never ran"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        workers = push_env.workers()
        pid = int(started.read_text())
        # the hook's parent, or its parent's: the worker
        for _ in range(3):
            if pid in workers:
                break
            with open("/proc/%d/status" % pid) as f:
                pid = int(re.search(r"PPid:\s+(\d+)", f.read()).group(1))
        assert pid in workers, "the hook does not run under a worker"
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # let the orphaned hook end: an open for writing meets its read,
        # the close gives it EOF
        _release_fifo(fifo)
    # libcurl sends a request again on a fresh connection when a reused one
    # dies before any answer ("Connection died, retrying a fresh connect"):
    # the push may then succeed through the other worker, whose pre-receive
    # passes. Either way, the refs are what the client was told.
    if proc.returncode == 0:
        assert rev(git, repo, "main") == tip, err
    else:
        assert server_refs(git, repo) == before, err
    helpers.wait_until(lambda: len(push_env.workers()) >= len(workers), 30)
    r = git.run("push", "--porcelain", push_env.url("githooks", repo),
                "main", cwd=client)
    assert r.code == 0, r.err
    assert rev(git, repo, "main") == tip
    assert_clean(server_state(git, repo))


def test_stale_quarantines_of_this_host_only(push_env, seed):
    """A quarantine is named for the worker's host and pid space as well as
    its pid (the pre-receive hook sees it in GIT_QUARANTINE_PATH). A push
    removes a quarantine of this host whose pid is gone, and leaves alone
    one of another host (or pid namespace) and one of the older layout
    with no host, whatever their pid: on shared storage their pid says
    nothing here."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "qhost")
    repo = push_env.new_repo("qhost", seed)
    seen = push_env.tmp / "qhost.name"
    write_hook(repo, "pre-receive",
               'basename "$GIT_QUARANTINE_PATH" > "%s"; exit 1\n' % seen)
    r = git.run("push", push_env.url("githooks", repo), "main", cwd=client)
    assert r.code != 0 and "pre-receive hook declined" in r.err, r.err
    m = re.fullmatch(r"incoming-(h[0-9a-f]{16})-(\d+)-\w{6}",
                     seen.read_text().strip())
    assert m, seen.read_text()
    host, pid = m.group(1), int(m.group(2))
    assert pid in push_env.workers()
    objects = Path(repo) / "objects"
    dead = "2147483646"  # above pid_max: no process has it
    other = "h0123456789abcdef" if host != "h0123456789abcdef" \
        else "hfedcba9876543210"
    mine = objects / ("incoming-%s-%s-AAAAAA" % (host, dead))
    foreign = [objects / ("incoming-%s-%s-BBBBBB" % (other, dead)),
               objects / ("incoming-%s-CCCCCC" % dead)]
    for d in [mine] + foreign:
        (d / "pack").mkdir(parents=True)
        (d / "pack" / "tmp_pack_x").write_bytes(b"PACK")
    r = git.run("push", "--porcelain", push_env.url("git", repo), "main",
                cwd=client)
    assert r.code == 0, r.err
    assert rev(git, repo, "main") == tip
    assert not mine.exists()
    assert all(d.exists() for d in foreign)
    for d in foreign:
        shutil.rmtree(d)
    assert_clean(server_state(git, repo))


def _release_fifo(fifo):
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader (left already)


def test_disk_full(push_env, seed):
    """The repository on a small tmpfs, a push larger than the space
    left: refused, nothing changed, nothing left."""
    git = push_env.git
    client, tip = client_with_new_commit(push_env, seed, "full", 6 << 20)
    results = {}
    for side, location in SIDES:
        mnt = push_env.root / ("full-%s" % side)
        mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m",
                            "tmpfs", str(mnt)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            pytest.fail("cannot mount a tmpfs for the disk-full test "
                        "(needs root): %s" % r.stdout.strip(), pytrace=False)
        try:
            repo = push_env.new_repo("repo", seed, parent=mnt)
            before = server_refs(git, repo)
            res = git.run("push", "--porcelain",
                          "http://%s:%s@127.0.0.1:%d/%s/full-%s/repo.git"
                          % (USER, PASSWORD, push_env.port, location, side),
                          "main", cwd=client)
            state = server_state(git, repo)
            assert state["refs"] == before, (side, res)
            assert_clean(state)
            results[side] = (res.code, normalise(res.out).splitlines())
        finally:
            subprocess.run(["umount", str(mnt)])
    assert results["module"][0] != 0
    helpers.assert_same(results["module"], results["reference"], "disk full")


def test_two_pushes_racing(push_env, seed):
    """No barrier: two pushes of sibling commits to one ref started
    together. Whatever the interleaving, one wins and the ref is its
    commit, or both pushes saw each other's result."""
    git = push_env.git
    clients = []
    for i in range(2):
        c, tip = client_with_new_commit(push_env, seed, "racing%d" % i)
        clients.append((c, tip))
    for side, location in SIDES:
        repo = push_env.new_repo("racing-%s" % side, seed)
        push_both_at_once(push_env, location, repo, clients)
        assert_clean(server_state(git, repo))


# --------------------------------------------------------------------------
# a large push, module only


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_100mb_push_keeps_worker_memory_bounded(push_env, seed):
    git = push_env.git
    client = client_of(push_env, seed, "big")
    for i in range(100):
        (client / ("blob%03d.bin" % i)).write_bytes(os.urandom(1 << 20))
    git("add", ".", cwd=client)
    git.tick()
    git("commit", "-q", "-m", "100 MB of random blobs", cwd=client)
    repo = push_env.new_repo("big", seed)
    workers = push_env.workers()
    before = {pid: vm_hwm_kb(pid) for pid in workers}
    r = git.run("push", "--porcelain", push_env.url("git", repo), "main",
                cwd=client)
    after = {pid: vm_hwm_kb(pid) for pid in workers}
    assert r.code == 0, r.err
    assert rev(git, repo, "main") == rev(git, client, "main")
    assert_clean(server_state(git, repo))
    growth = {pid: after[pid] - before[pid] for pid in workers}
    assert max(growth.values()) < 64 * 1024, \
        "worker peak RSS grew by %r kB" % growth


# --------------------------------------------------------------------------
# shared limits, module only


def test_push_takes_a_pack_slot(push_env, seed):
    """/gitlim/: one slot, one place in the queue. A fetch held before its
    first byte takes the slot; a push then waits in the queue, a second
    push is refused with 429, and the first goes through once the fetch
    ends."""
    if SELF_CHECK:
        # http-backend never opens the stall FIFO: the test would hang
        pytest.fail("module only: shared limits and the pack stall")
    from prometheus import fetch_metrics, wait_for
    git = push_env.git
    port = push_env.port
    stall = push_env.new_repo("stall", seed)
    os.mkfifo(stall / STALL_FIFO)
    tip = rev(git, stall, "main")
    client = client_of(push_env, seed, "limited")
    new = commit_file(git, client, "file.txt", "limited\n", "limited")
    repo = push_env.new_repo("limited", seed)

    body = helpers.v2_request("fetch", ["no-progress", "want " + tip,
                                        "done"])
    held = socket.create_connection(("127.0.0.1", port))
    held.sendall(("POST /gitlim/stall.git/git-upload-pack HTTP/1.0\r\n"
                  "Git-Protocol: version=2\r\nAuthorization: %s\r\n"
                  "Content-Type: application/x-git-upload-pack-request\r\n"
                  "Content-Length: %d\r\n\r\n" % (basic_auth(), len(body))
                  ).encode() + body)
    push = None
    try:
        wait_for(port, lambda m: m.get("git_smart_http_packs_in_flight")
                 == 1, "the held fetch in its slot")
        push = subprocess.Popen(
            ["git", "push", "--porcelain", push_env.url("gitlim", repo),
             "main"], cwd=client, env=git.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        wait_for(port, lambda m: m.get("git_smart_http_requests_queued")
                 == 1, "the push in the queue")
        assert push.poll() is None
        assert rev(git, repo, "main") != new

        old = advertised_refs(port, push_env.path("gitlim", repo))
        res = helpers.http_request(
            port, "POST", push_env.path("gitlim", repo) + RPC,
            dict(RPC_HEADERS, Authorization=basic_auth()),
            push_body([(old["refs/heads/main"], ZERO, "refs/heads/main")],
                      b""))
        assert res.status == 429, res
        assert "refs/heads/main" in server_refs(git, repo)
    finally:
        fd = os.open(stall / STALL_FIFO, os.O_WRONLY)
        os.close(fd)
        held.settimeout(120)
        while held.recv(1 << 16):
            pass
        held.close()
        if push is not None:
            out, err = push.communicate(timeout=120)
    assert push.returncode == 0, err
    assert rev(git, repo, "main") == new
    assert_clean(server_state(git, repo))
    m = fetch_metrics(port)
    assert m.get("git_smart_http_requests_total", service="receive-pack",
                 command="receive-pack", protocol="0", status="200") >= 1
    assert m.sum("git_smart_http_requests_total", service="receive-pack",
                 status="429") >= 1

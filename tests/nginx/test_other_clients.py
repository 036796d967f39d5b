"""Other clients (issue 5), each against the module and the reference:

  git at protocol.version 0, 1 and 2 fetching from a repository that
      changed since the clone (new commits, a new branch and tag, a forced
      update, a deleted branch), also after a multi-round negotiation
      (test_clone.py has the clones at each version);
  JGit (Debian's jgit-cli 4.11, which speaks protocol v0), run as
      `java -cp <jars> org.eclipse.jgit.pgm.Main` (its `jgit` wrapper misses
      a jar): clone, ls-remote, fetch;
  dulwich (python3-dulwich, v0), in a subprocess: clone, ls_remote, fetch.

What is compared is what real git sees in the result: the exit status,
refs, HEAD, `git rev-list --objects --all`, `git fsck --strict`. Where a
client fails against both servers for a reason of its own, both failures
must be the same."""

import hashlib
import re
import sys
from pathlib import Path

import pytest

from helpers import (GitResult, check_pack, fetch, on_both, repo_state,
                     run_in_group)

# Debian installs the jars of jgit-cli and its dependencies here.
JGIT_CLASSPATH = "/usr/share/java/*"
JGIT_MAIN = "org.eclipse.jgit.pgm.Main"

# Hang guard for one client command (not a timing assertion).
CLIENT_TIMEOUT = 600


def run_process(cmd, env, cwd=None, timeout=CLIENT_TIMEOUT):
    """Runs cmd in its own process group (all of it killed on timeout).
    Returns GitResult(code, out, err) with text out/err."""
    code, out, err = run_in_group(cmd, env, cwd=cwd, timeout=timeout)
    return GitResult(code, out.decode("utf-8", "replace"),
                     err.decode("utf-8", "replace"))


def neutral(text, url):
    """A client's message with the server-specific URL (and the side's
    location prefix in it) made comparable."""
    return text.replace(url, "URL")


# --------------------------------------------------------------------------
# the clients: clone (bare), ls-remote and fetch, each returning GitResult

class GitClient:
    def __init__(self, git, protocol):
        self.git = git
        self.protocol = protocol
        self.name = "git-v%d" % protocol

    def clone(self, url, dest):
        return self.git.run("clone", "--bare", url, dest,
                            protocol=self.protocol)

    def ls_remote(self, url):
        return self.git.run("ls-remote", url, protocol=self.protocol)

    def fetch(self, repo, prune=True):
        """Every branch and tag of origin (pruning what is gone)."""
        return fetch(self.git, repo, "origin", "+refs/heads/*:refs/heads/*",
                     "+refs/tags/*:refs/tags/*",
                     opts=("--prune",) if prune else (),
                     protocol=self.protocol)[1]


class JGitClient:
    name = "jgit"

    def __init__(self, git):
        self.env = dict(git.env)

    def run(self, *args, cwd=None):
        r = run_process(["java", "-cp", JGIT_CLASSPATH, JGIT_MAIN]
                        + list(args), self.env, cwd=cwd)
        # slf4j complains about its bindings on every start; progress lines
        # end in \r
        err = "\n".join(l for l in re.split(r"[\r\n]+", r.err)
                        if l and not l.startswith("SLF4J:"))
        return GitResult(r.code, r.out, err)

    def clone(self, url, dest):
        return self.run("clone", "--bare", "--quiet", url, dest)

    def ls_remote(self, url):
        return self.run("ls-remote", url)

    def fetch(self, repo, prune=True):
        return self.run("--git-dir", repo, "fetch", "--quiet",
                        *(["--prune"] if prune else []), "origin",
                        "+refs/heads/*:refs/heads/*",
                        "+refs/tags/*:refs/tags/*")


DULWICH_SCRIPT = r"""
import io, sys
from dulwich import porcelain
action, where = sys.argv[1], sys.argv[2]
progress = io.BytesIO()
try:
    if action == "clone":
        porcelain.clone(where, sys.argv[3], bare=True, errstream=progress)
    elif action == "ls-remote":
        refs = porcelain.ls_remote(where)
        for name in sorted(refs):
            print(refs[name].decode(), name.decode())
    elif action == "fetch":
        # (no prune: dulwich 0.21 fails writing the reflog of a pruned ref)
        porcelain.fetch(where, "origin", errstream=progress)
    else:
        raise ValueError("unknown action " + action)
except Exception as e:
    print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
    sys.exit(1)
"""


class DulwichClient:
    name = "dulwich"

    def __init__(self, git):
        self.env = dict(git.env)

    def run(self, *args):
        # the interpreter running the tests: the Debian python that has the
        # python3-dulwich package
        return run_process([sys.executable, "-c", DULWICH_SCRIPT] + list(args),
                           self.env)

    def clone(self, url, dest):
        return self.run("clone", url, dest)

    def ls_remote(self, url):
        return self.run("ls-remote", url)

    def fetch(self, repo, prune=True):
        """Into refs/remotes/origin/ and refs/tags/, never pruning."""
        return self.run("fetch", repo)


CLIENT_NAMES = ["git-v0", "git-v1", "git-v2", "jgit", "dulwich"]
OTHER_CLIENTS = ["jgit", "dulwich"]


@pytest.fixture
def client(request, git):
    name = request.param
    if name.startswith("git-v"):
        return GitClient(git, int(name[len("git-v"):]))
    return {"jgit": JGitClient, "dulwich": DulwichClient}[name](git)


# --------------------------------------------------------------------------
# outcomes, comparably

def clone_outcome(git, client, url, dest):
    """What a user has after the client's clone: the exit status and what
    real git sees, or the exit status and the message on failure."""
    r = client.clone(url, dest)
    if r.code != 0:
        return {"code": r.code, "error": neutral(r.err, url)}
    return {"code": 0, "state": repo_state(git, dest)}


def clone_on_both(git, server, client, path, tmp_path):
    return on_both(server, lambda url, side: clone_outcome(
        git, client, "%s/%s" % (url, path), tmp_path / side))


def assert_success_like_reference(res):
    ref, mod = res["reference"], res["module"]
    assert ref["code"] == 0, ref
    assert ref["state"]["fsck"][0] == 0, ref["state"]["fsck"]
    assert mod["code"] == 0, mod
    assert mod == ref


# --------------------------------------------------------------------------
# a repository in the root that changes during a test

def advance_repository(git, bare, work):
    """Changes the bare repository the way a push would: two commits on
    main, a new branch, a new annotated tag, feature rewritten (a forced
    update), topic deleted. Returns what must be seen after a fetch."""
    git("clone", "-q", "file://%s" % bare, work)
    git("config", "user.name", "Pusher", cwd=work)
    git("config", "user.email", "pusher@example.com", cwd=work)
    for i in range(2):
        (work / "big.txt").write_text((work / "big.txt").read_text()
                                      + "pushed line %d\n" % i)
        (work / ("pushed-%d.txt" % i)).write_text("pushed %d\n" % i)
        git("add", "-A", cwd=work)
        git.tick()
        git("commit", "-q", "-m", "pushed %d" % i, cwd=work)
    git("branch", "newbranch", "main~1", cwd=work)
    git.tick()
    git("tag", "-a", "v3.0", "-m", "release 3.0", "main", cwd=work)
    git("checkout", "-q", "-b", "feature", "origin/feature", cwd=work)
    git.tick()
    git("commit", "-q", "--amend", "-m", "feature rewritten", cwd=work)
    git("push", "-q", "-f", "origin", "main", "newbranch", "v3.0", "feature",
        ":refs/heads/topic", cwd=work)
    return {
        "main": git("rev-parse", "main", cwd=work),
        "feature": git("rev-parse", "feature", cwd=work),
        "v3.0": git("rev-parse", "v3.0", cwd=work),
    }


@pytest.fixture
def changing_repo(server, git, request):
    """A fresh copy of small.git in the root, named after the test (so
    module and reference serve the same one). Returns its path name."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    name = "changing-%s.git" % digest
    path = server.root / name
    if path.exists():
        pytest.fail("repository %s exists already" % path, pytrace=False)
    git("clone", "-q", "--bare", "--no-local", server.root / "small.git",
        path)
    (path / "git-daemon-export-ok").write_text("")
    return name


def add_local_commits(git, repo, count):
    """count commits on refs/heads/local-work on top of main, in the
    client's repository only: a fetch then has that many haves the server
    does not know, before the common ones (several negotiation rounds)."""
    base = git("rev-parse", "refs/heads/main", cwd=repo)
    stream = [b"reset refs/heads/local-work\nfrom %s\n\n" % base.encode()]
    for i in range(count):
        data = b"local %d\n" % i
        msg = b"local commit %d\n" % i
        stream.append(b"commit refs/heads/local-work\n"
                      b"committer L <l@example.com> %d +0000\n"
                      b"data %d\n%sM 100644 inline local.txt\ndata %d\n%s\n"
                      % (1800000000 + i, len(msg), msg, len(data), data))
    git("fast-import", "--quiet", cwd=repo, input=b"".join(stream))


def upload_pack_posts(server, offset, prefix, repo):
    """How many upload-pack POSTs for repo under prefix the access log got
    since offset (one per negotiation round)."""
    with open(server.nginx.access_log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    needle = "POST %s/%s/git-upload-pack " % (prefix, repo)
    return sum(1 for line in text.splitlines() if line.startswith(needle))


def access_log_size(server):
    try:
        return server.nginx.access_log.stat().st_size
    except OSError:
        return 0


def fetched_pack_objects(repo):
    """Objects in the pack a git fetch received (GIT_TRACE_PACKFILE of
    helpers.fetch), 0 without a pack."""
    trace = Path(repo).parent / (Path(repo).name + "-fetch.pack-trace")
    return check_pack(trace.read_bytes(), thin=True) if trace.exists() else 0


def assert_pack_not_larger_than_reference(tmp_path):
    """The fetch got a pack, with no more objects than the reference sent
    (git's pack-objects may resend an object the client has, e.g. a tree
    it cannot prove known: the module may send fewer)."""
    mod = fetched_pack_objects(tmp_path / "module")
    ref = fetched_pack_objects(tmp_path / "reference")
    assert 0 < mod <= ref, (mod, ref)


# --------------------------------------------------------------------------
# clone, ls-remote, not found: JGit and dulwich (git: test_clone.py)

CLONE_REPOS = ["small.git", "multipack.git", "hidden.git",
               "group/sub/project", "plain"]


@pytest.mark.parametrize("client", OTHER_CLIENTS, indirect=True)
@pytest.mark.parametrize("path", CLONE_REPOS)
def test_clone_same_as_reference(git, server, tmp_path, client, path):
    res = clone_on_both(git, server, client, path, tmp_path)
    assert_success_like_reference(res)
    if path == "hidden.git":
        assert "refs/hidden" not in res["module"]["state"]["refs"]


@pytest.mark.parametrize("client", OTHER_CLIENTS, indirect=True)
def test_clone_empty_repository(git, server, tmp_path, client):
    """JGit clones it (HEAD left at its own default, as with the
    reference); dulwich 0.21 fails on an empty repository whatever the
    server ("neither origin_head nor branch are provided"): then both fail
    the same way."""
    res = clone_on_both(git, server, client, "empty.git", tmp_path)
    ref, mod = res["reference"], res["module"]
    if client.name == "dulwich":
        assert ref["code"] != 0, ref
        assert "origin_head" in ref["error"], ref
    else:
        assert ref["code"] == 0, ref
        assert ref["state"]["refs"] == ""
    assert mod == ref


@pytest.mark.parametrize("client", OTHER_CLIENTS, indirect=True)
@pytest.mark.parametrize("path", ["small.git", "hidden.git", "empty.git",
                                  "group/sub/project"])
def test_ls_remote_same_as_reference(server, client, path):
    res = on_both(server, lambda url, side: client.ls_remote(
        "%s/%s" % (url, path))[:2])
    assert res["reference"][0] == 0, res["reference"]
    if path != "empty.git":
        assert "refs/heads/main" in res["reference"][1]
    assert "refs/hidden" not in res["reference"][1]
    assert res["module"] == res["reference"]


@pytest.mark.parametrize("client", OTHER_CLIENTS, indirect=True)
@pytest.mark.parametrize("path", ["missing.git", "noexport.git",
                                  "escape.git"])
def test_not_found_same_as_reference(server, tmp_path, client, path):
    """A repository that is not served: the same exit status and message
    (URL made neutral). escape.git (a link out of the root) is served by
    the reference, so there only the module's refusal is checked."""
    def run(url, side):
        full = "%s/%s" % (url, path)
        r = client.clone(full, tmp_path / side)
        return r.code, neutral(r.err, full)
    res = on_both(server, run)
    assert res["module"][0] != 0, res["module"]
    if path == "escape.git":
        assert res["reference"][0] == 0
        return
    assert res["reference"][0] != 0
    assert res["module"] == res["reference"]


@pytest.mark.parametrize("client", ["jgit"], indirect=True)
def test_jgit_clone_with_work_tree(git, server, tmp_path, client):
    """A non-bare JGit clone: the same checkout (index, HEAD commit, clean
    status) as from the reference."""
    def run(url, side):
        dest = tmp_path / side
        r = client.run("clone", "--quiet", "%s/small.git" % url, dest)
        if r.code != 0:
            return {"code": r.code, "error": r.err}
        return {"code": 0, "state": repo_state(git, dest, worktree=True)}
    assert_success_like_reference(on_both(server, run))


# --------------------------------------------------------------------------
# fetch after the repository changed: every client

@pytest.mark.parametrize("client", CLIENT_NAMES, indirect=True)
def test_fetch_after_the_repository_changed(git, server, tmp_path, client,
                                            changing_repo):
    """Clone from both sides, then the repository changes (loose objects
    from a push, a forced update, a deletion, a new tag), then each clone
    fetches from its side: the same result, which has the changes."""
    clones = on_both(server, lambda url, side: clone_outcome(
        git, client, "%s/%s" % (url, changing_repo), tmp_path / side))
    assert_success_like_reference(clones)
    expected = advance_repository(git, server.root / changing_repo,
                                  tmp_path / "pusher")

    def run(url, side):
        r = client.fetch(tmp_path / side)
        return {"code": r.code, "error": r.err if r.code else "",
                "state": repo_state(git, tmp_path / side)}
    res = on_both(server, run)
    ref, mod = res["reference"], res["module"]
    assert ref["code"] == 0, ref
    assert ref["state"]["fsck"][0] == 0, ref["state"]["fsck"]
    for what, oid in expected.items():
        assert oid in ref["state"]["objects"], what
    assert mod == ref
    if client.name.startswith("git-v"):
        assert_pack_not_larger_than_reference(tmp_path)


LOCAL_COMMITS = 300


@pytest.mark.parametrize("client", CLIENT_NAMES, indirect=True)
def test_fetch_with_many_local_commits(git, server, tmp_path, client,
                                       changing_repo):
    """The client has LOCAL_COMMITS commits the server never saw, newer
    than the common ones: its haves go over several rounds (stateless
    POSTs) before the server acknowledges a common commit. Same result as
    the reference, in as many rounds."""
    clones = on_both(server, lambda url, side: clone_outcome(
        git, client, "%s/%s" % (url, changing_repo), tmp_path / side))
    assert_success_like_reference(clones)
    for side in ("module", "reference"):
        add_local_commits(git, tmp_path / side, LOCAL_COMMITS)
    advance_repository(git, server.root / changing_repo, tmp_path / "pusher")

    def run(url, side):
        start = access_log_size(server)
        r = client.fetch(tmp_path / side, prune=False)
        prefix = url[len(server.base):]
        return {"code": r.code, "error": r.err if r.code else "",
                "state": repo_state(git, tmp_path / side),
                "rounds": upload_pack_posts(server, start, prefix,
                                            changing_repo)}
    res = on_both(server, run)
    ref, mod = res["reference"], res["module"]
    assert ref["code"] == 0, ref
    assert ref["state"]["fsck"][0] == 0, ref["state"]["fsck"]
    assert "refs/heads/local-work" in ref["state"]["refs"]
    if client.name.startswith("git-v"):
        assert ref["rounds"] > 1, "the fixture should need several rounds"
    assert mod == ref
    if client.name.startswith("git-v"):
        assert_pack_not_larger_than_reference(tmp_path)

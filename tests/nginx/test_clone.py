"""git clone / fetch of the small fixture repositories through the module
and through the reference: the same exit code, refs, HEAD, objects, work
tree, and a clean `git fsck --strict`."""

import pytest

from helpers import check_pack, clone, fetch, on_both, remote_lines


def clone_both(git, server, tmp_path, path, *opts, worktree=None,
               protocol=2):
    """Clones URL/path with opts from both sides; returns
    {side: (comparable dict, GitResult, pack bytes)}."""
    return on_both(server, lambda url, side: clone(
        git, "%s/%s" % (url, path), tmp_path / side, *opts,
        worktree=worktree, protocol=protocol))


def assert_same_clone(res):
    mod, ref = res["module"], res["reference"]
    assert ref[0]["code"] == 0, ref[1].err
    assert ref[0]["state"]["fsck"][0] == 0, ref[0]["state"]["fsck"]
    assert mod[0]["code"] == 0, mod[1].err
    assert mod[0]["state"]["fsck"] == ref[0]["state"]["fsck"]
    assert mod[0] == ref[0]


REPOS = ["small.git", "small", "multipack.git", "group/sub/project.git",
         "group/sub/project", "plain", "hidden.git", "reachable.git"]


@pytest.mark.parametrize("path", REPOS)
@pytest.mark.parametrize("kind", ["bare", "worktree"])
def test_clone_same_as_reference(git, server, tmp_path, path, kind):
    opts = ["--bare"] if kind == "bare" else []
    res = clone_both(git, server, tmp_path, path, *opts)
    assert_same_clone(res)
    # the pack the module sent is a valid pack (trailer checked)
    assert check_pack(res["module"][2]) > 0


def test_clone_mirror_same_as_reference(git, server, tmp_path):
    res = clone_both(git, server, tmp_path, "small.git", "--mirror")
    assert_same_clone(res)


def test_clone_hidden_refs_not_cloned(git, server, tmp_path):
    res = clone_both(git, server, tmp_path, "hidden.git", "--mirror")
    assert_same_clone(res)
    state = res["module"][0]["state"]
    assert "refs/hidden" not in state["refs"]
    assert "refs/private" not in state["refs"]


@pytest.mark.parametrize("branch", ["release/1.0", "topic", "main"])
@pytest.mark.parametrize("tags", ["tags", "no-tags"])
def test_clone_single_branch(git, server, tmp_path, branch, tags):
    opts = ["--single-branch", "--branch", branch]
    if tags == "no-tags":
        opts.append("--no-tags")
    res = clone_both(git, server, tmp_path, "small.git", *opts)
    assert_same_clone(res)
    refs = res["reference"][0]["state"]["refs"]
    if branch == "release/1.0":
        # tags that point into the cloned history follow (also the tag of
        # a tag and the tag of a blob that is in that history); v2.0 not.
        assert ("refs/tags/v1.0-meta" in refs) == (tags == "tags")
        assert ("refs/tags/blob-tag" in refs) == (tags == "tags")
        assert "refs/tags/v2.0" not in refs


def test_clone_empty_repository(git, server, tmp_path):
    res = clone_both(git, server, tmp_path, "empty.git")
    for side, (cmp, r, pack) in res.items():
        assert cmp["code"] == 0, (side, r.err)
        assert "You appear to have cloned an empty repository." in r.err, side
        assert pack == b"", side
    assert res["module"][0] == res["reference"][0]
    # the unborn HEAD's branch name came from the server
    assert res["module"][0]["state"]["head"] == "refs/heads/main"


def test_clone_empty_repository_bare(git, server, tmp_path):
    res = clone_both(git, server, tmp_path, "empty.git", "--bare")
    assert res["module"][0] == res["reference"][0]
    assert res["module"][0]["code"] == 0


@pytest.mark.parametrize("path", ["small.git", "multipack.git"])
def test_clone_progress(git, server, tmp_path, path):
    """With --progress the server's progress reaches the client's stderr as
    "remote: ..." lines. git's own server prints "Enumerating objects: N,
    done." and "Total ..." and, when it cannot send a pack it has as it is
    (multipack.git), also "Counting objects" and "Compressing objects"; the
    module must at least print "Enumerating objects"."""
    res = clone_both(git, server, tmp_path, path, "--progress", "--bare")
    assert_same_clone(res)
    ref_lines = remote_lines(res["reference"][1].err)
    assert any(s.startswith("remote: Enumerating objects") for s in ref_lines)
    assert any(s.startswith("remote: Total ") for s in ref_lines)
    if path == "multipack.git":
        assert any(s.startswith("remote: Counting objects")
                   for s in ref_lines)
    mod_lines = remote_lines(res["module"][1].err)
    assert any(s.startswith("remote: Enumerating objects: ")
               for s in mod_lines), res["module"][1].err


@pytest.mark.parametrize("path", ["small.git", "multipack.git"])
@pytest.mark.parametrize("flag", ["--quiet", "--no-progress"])
def test_clone_without_progress(git, server, tmp_path, flag, path):
    res = clone_both(git, server, tmp_path, path, flag, "--bare")
    assert_same_clone(res)
    for side, (_, r, _) in res.items():
        assert remote_lines(r.err) == [], (side, r.err)


def incremental_fetch_both(git, server, tmp_path, protocol=2):
    """A client that has only release/1.0 of small.git (no tags) fetches
    every branch and tag from both sides."""
    template = tmp_path / "template.git"
    git("clone", "-q", "--bare", "--no-local", "--single-branch",
        "--no-tags", "--branch", "release/1.0",
        "file://%s" % (server.root / "small.git"), template)

    def run(url, side):
        repo = tmp_path / side
        git("clone", "-q", "--bare", "--no-local", "file://%s" % template,
            repo)
        return fetch(git, repo, "%s/small.git" % url,
                     "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                     protocol=protocol)

    return on_both(server, run)


def test_incremental_fetch_small(git, server, tmp_path):
    """The server must send what the client is missing, the result is the
    same."""
    res = incremental_fetch_both(git, server, tmp_path)
    assert res["reference"][0]["code"] == 0, res["reference"][1].err
    assert res["module"][0] == res["reference"][0], res["module"][1].err
    assert check_pack(res["module"][2], thin=True) > 0


def test_fetch_up_to_date(git, server, tmp_path):
    """Fetching again when everything is there transfers no pack."""
    def run(url, side):
        repo = tmp_path / side
        git("clone", "-q", "--bare", "%s/small.git" % server.ref_url, repo)
        return fetch(git, repo, "%s/small.git" % url,
                     "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")

    res = on_both(server, run)
    assert res["reference"][0]["code"] == 0, res["reference"][1].err
    assert res["module"][0] == res["reference"][0], res["module"][1].err
    assert res["reference"][2] == b""
    assert res["module"][2] == b""


@pytest.mark.parametrize("protocol", [0, 1])
@pytest.mark.parametrize("path", ["small.git", "multipack.git", "empty.git",
                                  "group/sub/project"])
def test_clone_older_protocols(git, server, tmp_path, path, protocol):
    """Protocol v0 and v1 clones: the same result as the reference."""
    res = clone_both(git, server, tmp_path, path, "--bare",
                     protocol=protocol)
    ref, mod = res["reference"], res["module"]
    assert ref[0]["code"] == 0, ref[1].err
    assert mod[0] == ref[0], mod[1].err


@pytest.mark.parametrize("protocol", [0, 1])
def test_incremental_fetch_older_protocols(git, server, tmp_path, protocol):
    res = incremental_fetch_both(git, server, tmp_path, protocol)
    assert res["reference"][0]["code"] == 0, res["reference"][1].err
    assert res["module"][0] == res["reference"][0], res["module"][1].err

"""Serving a repository with a split commit-graph, and one whose graph is
damaged, against git http-backend on the same repository: a full clone,
an incremental fetch from a client 60 commits behind with the newest tags
missing, and shallow clones by depth and by date. The commit walks answer
from the graph where it has the commit, parse the object where it does not
(master's last commits are left out of it) or where its layer is damaged;
either way the answer must be git's, and nothing may crash."""

import shutil
import subprocess

import pytest

import helpers
import repos
from helpers import assert_same, clone


def _build(git, dest):
    git("clone", "-q", "--mirror", helpers.CORPUS_BUNDLE, dest)
    # no bitmap (a bare repository gets one by default): the walks parse commits
    git("-c", "repack.writeBitmaps=false", "repack", "-q", "-a", "-d", cwd=dest)
    # Three layers, base first; master's newest 40 commits in none.
    for tip in ("release-1.0.0", "release-1.20.0", "master~40"):
        git("commit-graph", "write", "--split=no-merge", "--stdin-commits",
            cwd=dest, input=git("rev-parse", tip, cwd=dest) + "\n")
    repos.export(dest)


@pytest.fixture(scope="module")
def graph_repos(git, server):
    if not helpers.CORPUS_BUNDLE.is_file():
        pytest.fail("corpus bundle not found: %s" % helpers.CORPUS_BUNDLE,
                    pytrace=False)
    good = server.root / "cgraph.git"
    if not good.exists():
        _build(git, good)
    chain = good / "objects/info/commit-graphs/commit-graph-chain"
    assert len(chain.read_text().split()) == 3
    bad = server.root / "cgraph-bad.git"
    if not bad.exists():
        shutil.copytree(good, bad)
        top = chain.read_text().split()[-1]
        layer = bad / "objects/info/commit-graphs" / ("graph-%s.graph" % top)
        layer.chmod(0o644)
        with open(layer, "r+b") as f:  # cut in the middle of its data
            f.truncate(layer.stat().st_size // 2)
        # git keeps the layers below and says so
        assert b"unable to find all commit-graph files" in subprocess.run(
            ["git", "commit-graph", "verify"], cwd=bad,
            capture_output=True).stderr
    return {"good": "cgraph.git", "bad": "cgraph-bad.git"}


@pytest.fixture(scope="module")
def behind(git, graph_repos, server, tmp_path_factory):
    """A mirror of the repository rewound: master 60 commits back, the 20
    newest tags gone."""
    d = tmp_path_factory.mktemp("cg") / "behind.git"
    git("clone", "-q", "--mirror", "--no-local",
        "file://%s" % (server.root / graph_repos["good"]), d)
    git("update-ref", "refs/heads/master", "master~60", cwd=d)
    tags = git("for-each-ref", "--sort=-creatordate", "--count=20",
               "--format=%(refname)", "refs/tags/", cwd=d).split()
    for t in tags:
        git("update-ref", "-d", t, cwd=d)
    git("gc", "-q", "--prune=now", cwd=d)
    return d


def test_full_clone(git, server, graph_repos, tmp_path):
    res = {}
    for side, url, _ in server.sides:
        cmp, r, _ = clone(git, "%s/%s" % (url, graph_repos["good"]),
                          tmp_path / side, "--mirror")
        assert cmp["code"] == 0, r.err
        res[side] = cmp
    assert_same(res["module"], res["reference"], "full clone")


@pytest.mark.parametrize("which", ["good", "bad"])
def test_incremental_fetch(git, server, graph_repos, behind, tmp_path, which):
    res = {}
    for side, url, _ in server.sides:
        client = tmp_path / side
        shutil.copytree(behind, client)
        r = git.run("fetch", "%s/%s" % (url, graph_repos[which]),
                    "+refs/*:refs/*", cwd=client)
        assert r.code == 0, r.err
        # rev-list fails when an object the refs reach is missing
        res[side] = (git("for-each-ref", cwd=client),
                     git("rev-list", "--objects", "--all", cwd=client))
        assert git("rev-parse", "master", cwd=client) == git(
            "rev-parse", "master", cwd=server.root / graph_repos[which])
    assert_same(res["module"], res["reference"], "incremental fetch")


@pytest.mark.parametrize("which", ["good", "bad"])
@pytest.mark.parametrize("opts", [["--depth", "3"],
                                  ["--shallow-since", "2022-01-01"]],
                         ids=" ".join)
def test_shallow_clone(git, server, graph_repos, tmp_path, which, opts):
    res = {}
    for side, url, _ in server.sides:
        cmp, r, _ = clone(git, "%s/%s" % (url, graph_repos[which]),
                          tmp_path / side, "--bare", *opts)
        assert cmp["code"] == 0, r.err
        shallow = (tmp_path / side / "shallow").read_text().split()
        res[side] = (cmp["state"], sorted(shallow))
    assert_same(res["module"], res["reference"], " ".join(opts))

"""Shallow clones and fetches through the module and the reference, over
protocol v2 and v0: --depth, --deepen, --unshallow, --shallow-since,
--shallow-exclude, on clone and on fetch, a fetch into a shallow clone
after the server got new commits, and depth 10 / deepen 25 on the nginx
corpus. Each side clones and fetches from its own URL; the exit codes,
refs, objects, fsck and the shallow file must be the same."""

import shutil
from pathlib import Path

import pytest

import repos
from helpers import clone, pkt, repo_state, v2_request

PROTOCOLS = [2, 0]


def shallow_list(path):
    path = Path(path)
    f = path / ".git" / "shallow" if (path / ".git").is_dir() \
        else path / "shallow"
    return sorted(f.read_text().split()) if f.exists() else []


def state(git, path):
    s = repo_state(git, path)
    s["shallow"] = shallow_list(path)
    return s


def run_both(git, server, tmp_path, repo, clone_opts, fetches=(),
             protocol=2, between=None):
    """Clones repo with clone_opts from each side, then (after between(),
    a change of the server's repository) runs each `git fetch OPTS origin`
    of fetches in the clone. Returns {side: (exit codes, final state,
    stderr of the last command)}."""
    out = {}
    for side, url, _ in server.sides:
        cmp, r, _ = clone(git, "%s/%s" % (url, repo), tmp_path / side,
                          *clone_opts, worktree=False, protocol=protocol)
        out[side] = [[cmp["code"]], r.err]
    if between:
        between()
    for side, _, _ in server.sides:
        codes, err = out[side]
        for opts in fetches:
            if codes[-1] != 0:
                break
            r = git.run("fetch", *opts, "origin", cwd=tmp_path / side,
                        protocol=protocol)
            codes.append(r.code)
            err = r.err
        final = state(git, tmp_path / side) if codes[-1] == 0 else None
        out[side] = (codes, final, err)
    return out


def assert_same(res, shallow_expected=None):
    mod, ref = res["module"], res["reference"]
    assert all(c == 0 for c in ref[0]), ref[2]
    assert ref[1]["fsck"][0] == 0, ref[1]["fsck"]
    assert mod[0] == ref[0], mod[2]
    for key in ref[1]:
        assert mod[1][key] == ref[1][key], "%s differs:\n%s" % (key, mod[2])
    if shallow_expected is not None:
        assert bool(ref[1]["shallow"]) == shallow_expected


# --------------------------------------------------------------------------
# clone

CLONE_OPTIONS = [["--depth", "1"], ["--depth", "3"], ["--depth", "10"],
                 ["--shallow-exclude", "v1.0"],
                 ["--shallow-since", "@1700000600"],
                 ["--depth", "2", "--no-single-branch"]]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("options", CLONE_OPTIONS, ids=" ".join)
def test_clone(git, server, tmp_path, options, protocol):
    res = run_both(git, server, tmp_path, "small.git", ["--mirror"] + options,
                   protocol=protocol)
    assert_same(res, shallow_expected=True)


# --------------------------------------------------------------------------
# fetch into a shallow clone

FETCHES = {
    "deepen 3": [["--deepen", "3"]],
    "deepen 25": [["--deepen", "25"]],          # past the first commit
    "depth 5": [["--depth", "5"]],
    "unshallow": [["--unshallow"]],
    "deepen twice": [["--deepen", "2"], ["--deepen", "2"]],
    "shallow-since": [["--shallow-since", "@1700000600"]],
    "shallow-exclude": [["--shallow-exclude", "v1.0"]],
    "same depth": [["--depth", "1"]],
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("clone_opts", [["--mirror"], ["--no-checkout"]],
                         ids=["mirror", "single branch"])
@pytest.mark.parametrize("case", list(FETCHES))
def test_fetch_into_shallow_clone(git, server, tmp_path, case, clone_opts,
                                  protocol):
    res = run_both(git, server, tmp_path, "small.git",
                   clone_opts + ["--depth", "1"], FETCHES[case],
                   protocol=protocol)
    assert_same(res)


@pytest.fixture
def growing(git, server, tmp_path):
    """A copy of small.git in the root that gets new commits when called:
    returns (repository name, grow())."""
    name = "grow-%s.git" % tmp_path.name
    dest = server.root / name
    shutil.copytree(server.root / "small.git", dest, symlinks=True)
    work = tmp_path / "grow-work"
    git("clone", "-q", "file://%s" % dest, work)

    def grow():
        for i in range(3):
            repos.commit(git, work, "grown %d" % i, {
                "big.txt": repos._big_file(20 + i),
                "grown/g%d.txt" % i: "grown %d\n" % i})
        git.tick()
        git("tag", "-a", "v3.0", "-m", "release 3.0", cwd=work)
        git("checkout", "-q", "-b", "newbranch", "HEAD~1", cwd=work)
        repos.commit(git, work, "new branch", {"nb.txt": "nb\n"})
        git("push", "-q", "origin", "main", "newbranch", "v3.0", cwd=work)

    yield name, grow
    shutil.rmtree(dest, ignore_errors=True)


GROWN_FETCHES = {
    "plain": [[]],
    "depth 1": [["--depth", "1"]],
    "deepen 2": [["--deepen", "2"]],
    "shallow-exclude": [["--shallow-exclude", "v2.0"]],
    "plain then unshallow": [[], ["--unshallow"]],
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("clone_opts", [["--mirror"], ["--no-checkout"]],
                         ids=["mirror", "single branch"])
@pytest.mark.parametrize("case", list(GROWN_FETCHES))
def test_fetch_after_server_got_new_commits(git, server, tmp_path, growing,
                                            case, clone_opts, protocol):
    name, grow = growing
    res = run_both(git, server, tmp_path, name, clone_opts + ["--depth", "2"],
                   GROWN_FETCHES[case], protocol=protocol, between=grow)
    assert_same(res)
    assert "refs/tags/v3.0" in res["reference"][1]["refs"] or \
        "--no-checkout" in clone_opts


# --------------------------------------------------------------------------
# the nginx corpus: long history, many merges and tags

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_corpus_depth_10_then_deepen_25(git, server, corpus, tmp_path,
                                        protocol):
    res = run_both(git, server, tmp_path, "nginx.git",
                   ["--no-checkout", "--depth", "10"], [["--deepen", "25"]],
                   protocol=protocol)
    assert_same(res, shallow_expected=True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_corpus_clone_depth_10(git, server, corpus, tmp_path, protocol):
    res = run_both(git, server, tmp_path, "nginx.git",
                   ["--bare", "--depth", "10"], protocol=protocol)
    assert_same(res, shallow_expected=True)


# --------------------------------------------------------------------------
# the bytes of the shallow lines (git writes them without '\n')

RPC_V2 = {"Git-Protocol": "version=2",
          "Content-Type": "application/x-git-upload-pack-request"}
RPC_V0 = {"Content-Type": "application/x-git-upload-pack-request"}


def post_both(server, repo, headers, body):
    return {name: server.http("POST", "%s/%s/git-upload-pack" % (prefix, repo),
                              headers, body)
            for name, _, prefix in server.sides}


@pytest.mark.parametrize("lines", [["deepen 1"], ["deepen 2"],
                                   ["shallow {old}", "deepen 2147483647"]],
                         ids=["deepen 1", "deepen 2", "unshallow"])
def test_shallow_info_bytes_same_as_reference(git, server, lines):
    path = server.root / "small.git"
    tip = git("rev-parse", "main", cwd=path)
    old = git("rev-parse", "main~1", cwd=path)
    args = ["ofs-delta", "no-progress", "want " + tip] + \
        [l.format(old=old) for l in lines] + ["done"]
    res = post_both(server, "small.git", RPC_V2, v2_request("fetch", args))
    ref = res["reference"].body
    head = ref[:ref.index(b"packfile\n") + 9]
    assert b"shallow" in head
    assert res["module"].body[:len(head)] == head


def test_v0_shallow_list_bytes_same_as_reference(git, server):
    tip = git("rev-parse", "main", cwd=server.root / "small.git")
    body = pkt("want %s multi_ack_detailed side-band-64k ofs-delta\n" % tip) \
        + pkt("deepen 1\n") + b"0000" + pkt("done\n")
    res = post_both(server, "small.git", RPC_V0, body)
    ref = res["reference"].body
    head = ref[:ref.index(b"0000") + 4]
    assert head == pkt("shallow " + tip) + b"0000"
    assert res["module"].body[:len(head)] == head

"""The nginx history (shared corpus, 73k objects, 617 refs) through the
module and the reference: ls-remote, clones, and an incremental fetch of a
client that is 150 commits behind.

Pack sizes: the client runs with GIT_TRACE_PACKFILE=<file>, so git writes
there exactly the packfile bytes it received (no HTTP, pkt-line or side-band
framing, no progress messages, no agent strings). That measures the pack
itself, independently of chunked encoding, header sizes or how verbose the
server's progress is, and the trailer check proves it was captured whole.
"""

import shutil

import pytest

from helpers import check_pack, clone, fetch, on_both

BEHIND = 150
PACK_RATIO = 1.5


@pytest.fixture(scope="session")
def behind_template(corpus, git, tmp_path_factory):
    """A bare client repository with the corpus as it was BEHIND commits ago
    on master: master at master~BEHIND (first parent), only the tags that
    point into that history, no other branch, and none of the newer objects
    (it is made by a real clone over file://, which transfers only what is
    reachable)."""
    tmp = tmp_path_factory.mktemp("behind")
    old = tmp / "old-server.git"
    git("clone", "-q", "--mirror", corpus, old)
    head = git("symbolic-ref", "--short", "HEAD", cwd=old)
    x = git("rev-parse", "%s~%d" % (head, BEHIND), cwd=old)
    keep = set(git("for-each-ref", "--merged", x, "--format=%(refname)",
                   "refs/tags", cwd=old).splitlines())
    assert keep, "no tag before %s~%d" % (head, BEHIND)
    commands = []
    for ref in git("for-each-ref", "--format=%(refname)", cwd=old).splitlines():
        if ref == "refs/heads/" + head:
            commands.append("update %s %s" % (ref, x))
        elif ref not in keep:
            commands.append("delete %s" % ref)
    git("update-ref", "--stdin", cwd=old, input="\n".join(commands) + "\n")
    template = tmp / "client.git"
    git("clone", "-q", "--bare", "--no-local", "file://%s" % old, template)
    assert git("rev-parse", head, cwd=template) == x
    missing = git("rev-parse", "%s^{commit}" % head, cwd=corpus)
    assert git.run("cat-file", "-e", missing, cwd=template).code != 0
    return {"path": template, "branch": head, "old_tip": x}


def assert_pack_not_larger(module_pack, reference_pack, thin=False):
    ref_size = len(reference_pack)
    mod_size = len(module_pack)
    assert ref_size > 0
    check_pack(reference_pack, thin=thin)
    check_pack(module_pack, thin=thin)
    assert mod_size <= PACK_RATIO * ref_size, \
        "module pack %d bytes > %.1f x reference pack %d bytes" % (
            mod_size, PACK_RATIO, ref_size)


def test_corpus_ls_remote(git, server, corpus):
    res = on_both(server, lambda url, _: git.run(
        "ls-remote", "--symref", "%s/nginx.git" % url)[:2])
    assert res["reference"][0] == 0
    assert len(res["reference"][1].splitlines()) > 617
    assert res["module"] == res["reference"]


@pytest.mark.parametrize("kind", ["bare", "worktree"])
def test_corpus_clone(git, server, corpus, tmp_path, kind):
    opts = ["--bare"] if kind == "bare" else []
    res = on_both(server, lambda url, side: clone(
        git, "%s/nginx.git" % url, tmp_path / side, *opts))
    mod, ref = res["module"], res["reference"]
    assert ref[0]["code"] == 0, ref[1].err
    assert ref[0]["state"]["fsck"][0] == 0
    assert mod[0]["code"] == 0, mod[1].err
    assert mod[0] == ref[0]
    assert_pack_not_larger(mod[2], ref[2])


@pytest.mark.parametrize("what", ["branch", "all"])
def test_corpus_incremental_fetch(git, server, behind_template, tmp_path,
                                  what):
    """branch: fetch only the default branch (the 150 commits it is behind);
    all: every branch and tag."""
    branch = behind_template["branch"]
    if what == "branch":
        refspecs = ["+refs/heads/%s:refs/heads/%s" % (branch, branch)]
        opts = ["--no-tags"]
    else:
        refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        opts = []

    def run(url, side):
        repo = tmp_path / side
        shutil.copytree(behind_template["path"], repo, symlinks=True)
        return fetch(git, repo, "%s/nginx.git" % url, *refspecs, opts=opts)

    res = on_both(server, run)
    mod, ref = res["module"], res["reference"]
    assert ref[0]["code"] == 0, ref[1].err
    assert ref[0]["state"]["fsck"][0] == 0
    new_tip = git("rev-parse", branch, cwd=tmp_path / "reference")
    assert new_tip != behind_template["old_tip"]
    assert mod[0]["code"] == 0, mod[1].err
    assert mod[0] == ref[0]
    assert_pack_not_larger(mod[2], ref[2], thin=True)

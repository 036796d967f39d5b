"""The fixture repositories have the shapes the other tests rely on (so that
a passing comparison means something), and the harness really runs both
implementations."""

from helpers import remote_lines


def count_packs(path):
    return len(list((path / "objects" / "pack").glob("*.pack")))


def loose_objects(path):
    return [p for p in (path / "objects").glob("[0-9a-f][0-9a-f]/*")]


def test_small_repository_dates_are_fixed(git, repos_root):
    """The fixtures' dates do not depend on which test ran first (one that
    ticked the session's clock before the root was made moved them all,
    and test_shallow's --shallow-since @1700000600 then cut nothing)."""
    dates = git("log", "--format=%ct", "--reverse", "main",
                cwd=repos_root / "small.git").split()
    assert dates[0] == "1700000060"
    assert int(dates[0]) < 1700000600 < int(dates[-1])


def test_small_repository_shape(git, repos_root):
    path = repos_root / "small.git"
    assert git("symbolic-ref", "HEAD", cwd=path) == "refs/heads/main"
    heads = git("for-each-ref", "--format=%(refname)", "refs/heads",
                cwd=path).split()
    assert heads == ["refs/heads/feature", "refs/heads/main",
                     "refs/heads/release/1.0", "refs/heads/topic"]
    types = dict(line.split() for line in git(
        "for-each-ref", "--format=%(refname) %(objecttype)", "refs/tags",
        cwd=path).splitlines())
    assert types == {"refs/tags/blob-tag": "tag", "refs/tags/v0.1": "commit",
                     "refs/tags/v1.0": "tag", "refs/tags/v1.0-meta": "tag",
                     "refs/tags/v2.0": "tag"}
    # the tag of a tag
    assert git("cat-file", "-p", "v1.0-meta", cwd=path).startswith(
        "object %s\ntype tag\n" % git("rev-parse", "v1.0", cwd=path))
    merges = git("rev-list", "--merges", "main", cwd=path).split()
    assert len(merges) == 2
    # one pack, with deltas
    assert count_packs(path) == 1
    pack = next((path / "objects" / "pack").glob("*.idx"))
    verify = git("verify-pack", "-v", pack, cwd=path)
    assert "chain length = 1:" in verify


def test_multipack_shape(git, repos_root):
    path = repos_root / "multipack.git"
    assert count_packs(path) == 3
    assert len(loose_objects(path)) > 0
    assert git.run("fsck", "--strict", cwd=path).code == 0


def test_other_shapes(git, repos_root):
    empty = repos_root / "empty.git"
    assert git("symbolic-ref", "HEAD", cwd=empty) == "refs/heads/main"
    assert git("for-each-ref", cwd=empty) == ""
    hidden = repos_root / "hidden.git"
    assert git("config", "uploadpack.hideRefs", cwd=hidden) == "refs/hidden"
    assert git("config", "transfer.hideRefs", cwd=hidden) == "refs/private"
    for ref in ("refs/hidden/secret", "refs/private/stuff"):
        tip = git("rev-parse", ref, cwd=hidden)
        # not reachable from any visible ref
        assert git("for-each-ref", "--contains", tip, "refs/heads",
                   "refs/tags", cwd=hidden) == ""
    assert git("config", "uploadpack.allowReachableSHA1InWant",
               cwd=repos_root / "reachable.git") == "true"
    assert git("config", "uploadpack.allowAnySHA1InWant",
               cwd=repos_root / "anysha.git") == "true"
    assert not (repos_root / "noexport.git" / "git-daemon-export-ok").exists()
    for name in ("small.git", "multipack.git", "empty.git", "hidden.git",
                 "group/sub/project.git", "plain/.git"):
        assert (repos_root / name / "git-daemon-export-ok").exists(), name
    assert (repos_root / "plain" / "p.txt").exists()
    assert (repos_root / "escape.git").is_symlink()


def test_corpus_shape(git, corpus):
    assert count_packs(corpus) == 1
    assert len(list((corpus / "objects" / "pack").glob("*.bitmap"))) == 1
    assert len(git("for-each-ref", cwd=corpus).splitlines()) >= 617


def test_reference_really_serves(git, server, tmp_path):
    """The /ref/ side is git http-backend behind fcgiwrap, for real: a
    clone works and its stderr carries the remote's progress."""
    r = git.run("clone", "--progress", "--bare",
                server.ref_url + "/multipack.git", tmp_path / "c")
    assert r.code == 0, r.err
    assert any(l.startswith("remote: Enumerating objects")
               for l in remote_lines(r.err))
    assert git.run("fsck", "--strict", cwd=tmp_path / "c").code == 0
    # and /ref/ does not need the module: the nginx access log has both
    log = server.nginx.access_log.read_text()
    assert "POST /ref/multipack.git/git-upload-pack 200" in log

"""A repository laid out as `git maintenance` and forges leave it: history
pushed in stages (a pack each), then `git repack --geometric=2 -d
--write-midx --write-bitmap-index` (several packs under a multi-pack-index
with a bitmap, no pack bitmap), then more pushes (loose objects), one of
which restores an old version of a file.

Full clone, incremental fetch and blobless clone through the module and
through git http-backend: the same refs, objects and fsck, and the module's
packs checked strictly (helpers.check_pack: every delta after its base).

That the module counts with the MIDX bitmap shows in the incremental fetch:
the restored file is an object the client already has (reachable from its
history, not from the commits at the edge of the walk). Counting with a
bitmap leaves it out, as git does with the same bitmap; a walk sends it."""

import pytest

import pack_check
import repos
from helpers import assert_same, clone, fetch, on_both

REPO = "midx.git"


def _big(version, name):
    lines = ["%s line %04d, a file that changes a little each time" % (name, i)
             for i in range(300)]
    for k in range(version + 1):
        lines[(k * 41) % 300] = "%s line edited in version %d" % (name, k)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def midx_repo(git, server, tmp_path_factory):
    """(name, old commit the client starts from, the restored blob)."""
    tmp = tmp_path_factory.mktemp("midx")
    work = tmp / "work"
    dest = server.root / REPO
    git("init", "-q", "-b", "main", work)
    git("init", "-q", "--bare", "-b", "main", dest)
    git("config", "uploadpack.allowFilter", "true", cwd=dest)
    n = 0
    # Stages of shrinking size, each pushed and packed on its own: the
    # geometric repack keeps the large ones as they are.
    for stage, commits in enumerate((24, 8, 3, 1)):
        for _ in range(commits):
            n += 1
            repos.commit(git, work, "commit %d" % n, {
                "src/big.c": _big(n, "big"),
                "docs/doc%d.txt" % (n % 4): _big(n, "doc"),
                "stage%d/f%d.txt" % (stage, n): "file %d\n" % n})
        git("push", "-q", dest, "main", cwd=work)
        if stage == 0:
            git("tag", "-a", "-m", "first release", "v1", cwd=work)
            git("branch", "old", "HEAD~5", cwd=work)
            git("push", "-q", dest, "v1", "old", cwd=work)
        git("-c", "repack.writeBitmaps=false", "repack", "-q", "-d", cwd=dest)
    git("repack", "-q", "--geometric=2", "-d", "--write-midx",
        "--write-bitmap-index", cwd=dest)
    pack_dir = dest / "objects" / "pack"
    assert (pack_dir / "multi-pack-index").exists()
    assert len(list(pack_dir.glob("multi-pack-index-*.bitmap"))) == 1
    assert not list(pack_dir.glob("pack-*.bitmap"))
    assert len(list(pack_dir.glob("pack-*.pack"))) >= 2
    old = git("rev-parse", "HEAD", cwd=work)
    # Pushed since: loose objects, one of them a commit that brings back
    # the version of src/big.c of commit 3.
    restored = git("rev-parse", "HEAD~33:src/big.c", cwd=work)
    (work / "src" / "big.c").write_text(_big(3, "big"))
    repos.commit(git, work, "restore big.c", {"new.txt": "new\n"})
    repos.commit(git, work, "one more", {"new.txt": "newer\n"})
    git("tag", "-a", "-m", "second release", "v2", cwd=work)
    git("push", "-q", dest, "main", "v2", cwd=work)
    count = dict(line.split(": ") for line in
                 git("count-objects", "-v", cwd=dest).splitlines())
    assert int(count["count"]) > 0, "the last pushes should be loose"
    repos.export(dest)
    return REPO, old, restored


def test_full_clone(git, server, tmp_path, midx_repo):
    name, _, _ = midx_repo
    res = on_both(server, lambda url, side: clone(
        git, "%s/%s" % (url, name), tmp_path / side, "--mirror"))
    assert res["reference"][0]["code"] == 0, res["reference"][1].err
    assert_same(res["module"][0], res["reference"][0], "full clone")
    assert res["module"][0]["state"]["fsck"][0] == 0


def test_incremental_fetch_counts_with_the_midx_bitmap(git, server, tmp_path,
                                                      midx_repo):
    name, old, restored = midx_repo

    def scenario(url, side):
        client = tmp_path / side
        git("init", "-q", "--bare", "-b", "main", client)
        git("fetch", "-q", server.root / name, "%s:refs/heads/main" % old,
            "refs/tags/v1:refs/tags/v1", "refs/heads/old:refs/heads/old",
            cwd=client)
        out, r, pack = fetch(git, client, "%s/%s" % (url, name),
                             "+refs/heads/*:refs/heads/*",
                             "+refs/tags/*:refs/tags/*")
        assert pack, (side, r.code, r.err)
        with pack_check.GitObjectSource(client, git.env) as source:
            ids = pack_check.pack_ids(pack, source)
        return out, r, ids

    res = on_both(server, scenario)
    assert res["reference"][0]["code"] == 0, res["reference"][1].err
    assert_same(res["module"][0], res["reference"][0], "fetch")
    assert res["module"][0]["state"]["fsck"][0] == 0
    assert restored not in res["reference"][2], "git sent what the client has"
    assert res["module"][2] == res["reference"][2]


def test_blobless_clone(git, server, tmp_path, midx_repo):
    name, _, _ = midx_repo

    def scenario(url, side):
        dest = tmp_path / side
        r = git.run("clone", "--bare", "--filter=blob:none",
                    "%s/%s" % (url, name), dest)
        if r.code != 0:
            return (r.code, r.err)
        return (0, git("for-each-ref", cwd=dest),
                sorted(git("cat-file", "--batch-all-objects", "--batch-check",
                           cwd=dest).splitlines()),
                git.run("fsck", "--connectivity-only", cwd=dest).code)

    res = on_both(server, scenario)
    assert res["reference"][0] == 0, res["reference"]
    assert res["module"] == res["reference"]

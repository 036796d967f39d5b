"""The packs that real pushes leave in the repository index as git's own
index-pack indexes them (issue 17): for every pack the module wrote, `git
index-pack` of the .pack gives the same (offset, id, CRC-32) entries as the
module's .idx (`git show-index` of both), the .idx files are the same
bytes, and so is the .rev when the module wrote one.

Pushes: a generated history (several branches, files edited over many
commits, so that the client sends deltas) into an empty repository, then a
thin push of new commits onto it. The repository sets
receive.unpackLimit=1 so that every push stays a pack.

Uses test_push's nginx (module and http-backend side by side)."""

import subprocess
from pathlib import Path

import pytest

from test_push import commit_file, push_env, seed  # noqa: F401

CONFIG = [("receive.unpackLimit", "1")]


def make_history(push_env, name):
    """A work repository: main with 12 commits editing two text files line
    by line (deltas), and three branches off it with commits of their
    own."""
    git = push_env.git
    work = push_env.work_dir(name)
    git("init", "-q", "-b", "main", work)
    lines = ["line %d of a text file that is edited a little each time\n" % i
             for i in range(300)]
    for i in range(12):
        lines[(i * 37) % len(lines)] = "main edit %d\n" % i
        commit_file(git, work, "a.txt", "".join(lines), "main %d" % i)
        commit_file(git, work, "dir/b.txt", "".join(reversed(lines)),
                    "main b %d" % i)
    for b in range(3):
        git("checkout", "-q", "-b", "topic%d" % b, "main~%d" % (b * 3),
            cwd=work)
        for i in range(3):
            lines[(b * 50 + i) % len(lines)] = "topic %d edit %d\n" % (b, i)
            commit_file(git, work, "a.txt", "".join(lines),
                        "topic %d.%d" % (b, i))
    git("checkout", "-q", "main", cwd=work)
    return work, lines


def packs(repo):
    return sorted((Path(repo) / "objects" / "pack").glob("*.pack"))


def show_index(git, idx):
    """{(offset, id, crc)} of an .idx, as git show-index reads it."""
    with open(idx, "rb") as f:
        out = subprocess.run(["git", "show-index"], stdin=f, check=True,
                             stdout=subprocess.PIPE, env=git.env,
                             text=True).stdout
    entries = set()
    for line in out.splitlines():
        offset, oid, crc = line.split()
        entries.add((int(offset), oid, crc.strip("()")))
    return entries


def git_index(git, pack, dest):
    """git index-pack's .idx (and .rev when the module wrote one) of pack,
    written under dest. Returns (idx, rev or None)."""
    dest.mkdir(parents=True, exist_ok=True)
    idx = dest / (pack.stem + ".idx")
    rev = pack.with_suffix(".rev").is_file()
    args = ["index-pack"] + (["--rev-index"] if rev else []) + \
        ["-o", str(idx), str(pack)]
    git(*args, cwd=pack.parent)
    return idx, (idx.with_suffix(".rev") if rev else None)


def deltas(git, pack):
    """How many entries of pack are deltas (git verify-pack -v)."""
    out = git("verify-pack", "-v", str(pack.with_suffix(".idx")),
              cwd=pack.parent)
    return sum(1 for line in out.splitlines()
               if len(line.split()) == 7 and line.split()[1] in
               ("commit", "tree", "blob", "tag"))


@pytest.fixture(scope="module")
def pushed(push_env):
    """Two pushes to the module: the history, then new commits (a thin
    pack). Returns {push: the pack it left}."""
    git = push_env.git
    work, lines = make_history(push_env, "idx-history")
    repo = push_env.new_repo("idx-module", None, CONFIG)
    url = push_env.url("git", repo)
    git("push", "-q", url, "refs/heads/*:refs/heads/*", cwd=work)
    first = packs(repo)
    assert len(first) == 1, first
    for i in range(4):
        lines[(i * 11 + 5) % len(lines)] = "second push edit %d\n" % i
        commit_file(git, work, "a.txt", "".join(lines), "second %d" % i)
    res = git.run("push", "--thin", url, "main", cwd=work)
    assert res.code == 0, res.err
    second = [p for p in packs(repo) if p not in first]
    assert len(second) == 1, packs(repo)
    assert git("rev-parse", "main", cwd=repo) == \
        git("rev-parse", "main", cwd=work)
    r = git.run("fsck", "--strict", "--no-progress", cwd=repo)
    assert r.code == 0, r.err
    # Thin: its deltas' bases were appended to complete it, so it holds
    # more than the 12 new objects.
    sent = git("rev-list", "--objects", "main~4..main", cwd=repo)
    assert len(sent.splitlines()) == 12
    assert len(show_index(git, second[0].with_suffix(".idx"))) > 12
    return {"history": first[0], "thin": second[0],
            "tmp": push_env.tmp / "idx", "git": git}


@pytest.mark.parametrize("which", ["history", "thin"])
def test_pushed_pack_indexes_as_git_does(pushed, which):
    git, pack = pushed["git"], pushed[which]
    assert deltas(git, pack) > 0, pack
    idx, rev = git_index(git, pack, pushed["tmp"] / which)
    ours = show_index(git, pack.with_suffix(".idx"))
    assert ours, pack
    assert ours == show_index(git, idx)
    if rev is not None:
        assert pack.with_suffix(".rev").read_bytes() == rev.read_bytes()


@pytest.mark.parametrize("which", ["history", "thin"])
def test_pushed_pack_idx_is_byte_identical(pushed, which):
    """An .idx v2 is fully determined by the pack (sorted ids, CRCs,
    offsets, the pack's checksum): git's and the module's are the same
    bytes."""
    git, pack = pushed["git"], pushed[which]
    idx, _rev = git_index(git, pack, pushed["tmp"] / ("bytes-" + which))
    assert pack.with_suffix(".idx").read_bytes() == idx.read_bytes()

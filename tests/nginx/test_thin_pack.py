"""Thin packs: an incremental fetch sends no more bytes than git
http-backend (within 10%), on a repository where the newest version of each
file is stored whole in the pack (git packs older versions as deltas against
newer ones) and the last commits are loose objects: the module must send
those as deltas against what the client has (or what it sends), not whole.
Each side fetches into its own copy of the same client; refs, objects and
fsck must be the same, and the pack bytes received (GIT_TRACE_PACKFILE)
compared."""

import random
import shutil
import zlib

import pytest

import repos
from helpers import assert_same, fetch

BEHIND = 20     # commits the client lacks
LOOSE = 6       # of which the last ones are loose objects on the server
MAX_RATIO = 1.10


def _text(rng, lines):
    words = ["alpha", "beta", "gamma", "delta", "server", "request", "buffer",
             "upstream", "location", "module", "header", "status", "chain"]
    return ["%s %s(%d, %s);" % (rng.choice(words), rng.choice(words),
                                rng.randrange(100000), rng.choice(words))
            for _ in range(lines)]


def _build(git, tmp, dest, bitmap):
    """dest: a bare repository whose history edits a few large files;
    packed with -f after all but the last LOOSE commits, which are pushed
    afterwards and stay loose. Returns the commit the client stops at."""
    rng = random.Random(6)
    work = tmp / "work"
    git("init", "-q", "-b", "main", work)
    files = {"src/core/big_%d.c" % i: _text(rng, 1500) for i in range(3)}
    files["docs/changes.xml"] = _text(rng, 2500)
    commits = []
    for n in range(40):
        for name in rng.sample(sorted(files), 2):
            lines = files[name]
            for _ in range(3):
                lines[rng.randrange(len(lines))] = "edited in %d: %s" % (
                    n, " ".join(_text(rng, 1)))
            lines.insert(rng.randrange(len(lines)), "added in %d" % n)
        tree = {name: "\n".join(lines) + "\n" for name, lines in files.items()}
        tree["small/%d.txt" % (n % 5)] = "small file, version %d\n" % n
        commits.append(repos.commit(git, work, "commit %d" % n, tree))
    git("init", "-q", "--bare", "-b", "main", dest)
    git("push", "-q", dest, "%s:refs/heads/main" % commits[-LOOSE - 1],
        cwd=work)
    # A bare repository gets a bitmap unless told otherwise.
    git("-c", "repack.writeBitmaps=%s" % ("true" if bitmap else "false"),
        "repack", "-q", "-a", "-d", "-f", cwd=dest)
    assert any(dest.glob("objects/pack/*.bitmap")) == bitmap
    git("push", "-q", dest, "main:main", cwd=work)
    count = dict(line.split(": ") for line in
                 git("count-objects", "-v", cwd=dest).splitlines())
    assert int(count["count"]) > 0, "the last commits should be loose"
    repos.export(dest)
    return commits[-BEHIND - 1]


@pytest.fixture(scope="module", params=["nobitmap", "bitmap"])
def thin_repo(request, git, server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("thin-" + request.param)
    name = "thin-%s.git" % request.param
    old = _build(git, tmp, server.root / name, request.param == "bitmap")
    client = tmp / "client.git"
    git("init", "-q", "--bare", "-b", "main", client)
    git("fetch", "-q", server.root / name, "%s:refs/heads/main" % old,
        cwd=client)
    return name, client, old


def pack_entry_kinds(pack):
    """How many entries of a pack are whole objects and how many deltas,
    from the entry headers (git verify-pack cannot read a thin pack)."""
    whole = deltas = 0
    pos = 12
    for _ in range(int.from_bytes(pack[8:12], "big")):
        c = pack[pos]
        pos += 1
        kind = (c >> 4) & 7
        while c & 0x80:
            c = pack[pos]
            pos += 1
        if kind == 6:
            while pack[pos] & 0x80:
                pos += 1
            pos += 1
        elif kind == 7:
            pos += 20
        z = zlib.decompressobj()
        z.decompress(pack[pos:])
        pos = len(pack) - len(z.unused_data)
        if kind in (6, 7):
            deltas += 1
        else:
            whole += 1
    return whole, deltas


def test_incremental_fetch_sends_no_more_than_reference(git, server,
                                                        thin_repo, tmp_path):
    name, client, old = thin_repo
    results, packs = {}, {}
    for side, url, _ in server.sides:
        dest = tmp_path / side / "client.git"
        shutil.copytree(client, dest)
        results[side], r, packs[side] = fetch(
            git, dest, "%s/%s" % (url, name), "+refs/heads/*:refs/heads/*")
        assert r.code == 0, "%s: %s" % (side, r.err)
        assert packs[side], "%s: no pack traced" % side
    assert_same(results["module"], results["reference"], "fetch")
    assert results["module"]["state"]["fsck"][0] == 0
    module, reference = len(packs["module"]), len(packs["reference"])
    assert module <= MAX_RATIO * reference, (
        "module sent %d pack bytes, git http-backend %d (%.2fx); entries "
        "(whole, deltas): module %s, reference %s" % (
            module, reference, module / reference,
            pack_entry_kinds(packs["module"]),
            pack_entry_kinds(packs["reference"])))

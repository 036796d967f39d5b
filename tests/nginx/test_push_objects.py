"""Pushed objects checked as git's index-pack and connectivity check do
(issue 13): packs crafted byte by byte are posted to the module and to git
http-backend, and what the client sees (HTTP status, the unpack line, the
per-ref lines, side-band 2) must be the same. After every refusal the
repository is as before: refs, the files under objects/, `git fsck
--strict` clean, no quarantine left.

The reference repositories set receive.unpackLimit=1: git's receive-pack
then hands every pack to index-pack, whose words the module uses (with
fewer than 100 objects git would use unpack-objects and word its refusals
otherwise). The module reads that setting too, but indexes and checks every
pack before it writes a small one out as loose objects, so it words a
refusal as index-pack does either way.

Uses test_push's nginx (module and http-backend side by side)."""

import zlib
from pathlib import Path

import pytest

import helpers
from pack_build import (commit, entry, entry_header, oid, pack, tag,  # noqa: F401
                        tree)
from test_push import (RPC, RPC_HEADERS, SIDES, ZERO,  # noqa: F401
                       assert_clean, basic_auth, client_of, commit_with_bad_author,
                       push_body, push_both, push_env, report, rev, seed, server_refs,
                       server_state, vm_hwm_kb)

# No progress from either side: the comparison is of what is said.
CAPS = "report-status side-band-64k quiet agent=git/test"
REFERENCE_CONFIG = [("receive.unpackLimit", "1")]


def objects_listing(repo):
    top = Path(repo) / "objects"
    return sorted(str(p.relative_to(top)) for p in top.rglob("*"))


def post_both(push_env, name, seed, pack_bytes, ref, new, config=()):
    """Posts one command (ref: ZERO -> new) and pack_bytes to a fresh
    NAME-<side>.git on both sides; returns {side: (status, (unpack, ref
    lines, band 2, band 3))}. Asserts the repository unchanged after."""
    git = push_env.git
    out = {}
    for side, location in SIDES:
        extra = REFERENCE_CONFIG if side == "reference" else []
        repo = push_env.new_repo("%s-%s" % (name, side), seed,
                                 list(config) + extra)
        refs, objects = server_refs(git, repo), objects_listing(repo)
        res = helpers.http_request(
            push_env.port, "POST", push_env.path(location, repo) + RPC,
            dict(RPC_HEADERS, Authorization=basic_auth()),
            push_body([(ZERO, new, ref)], pack_bytes, caps=CAPS))
        out[side] = (res.status, report(res) if res.status == 200 else None)
        state = server_state(git, repo)
        assert state["refs"] == refs, (side, out[side])
        assert objects_listing(repo) == objects, (side, out[side])
        assert_clean(state)
    helpers.assert_same(out["module"], out["reference"], name)
    return out["module"]


BLOB = b"content\n"
BLOB_ID = oid("blob", BLOB)
TREE = tree(("100644", "f", BLOB_ID))
TREE_ID = oid("tree", TREE)


def test_commit_whose_tree_is_a_blob(push_env, seed):
    c = commit(BLOB_ID)
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "tree-is-blob", seed,
        pack([entry("blob", BLOB), entry("commit", c)]),
        "refs/heads/x", oid("commit", c))
    assert unpack == "unpack ok"
    assert lines == ["ng refs/heads/x missing necessary objects"]
    assert "not a tree" in band2


def test_commit_whose_parent_is_a_blob(push_env, seed):
    c = commit(TREE_ID, [BLOB_ID])
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "parent-is-blob", seed,
        pack([entry("blob", BLOB), entry("tree", TREE), entry("commit", c)]),
        "refs/heads/x", oid("commit", c))
    assert lines == ["ng refs/heads/x missing necessary objects"]
    assert "not a commit" in band2


def test_directory_entry_naming_a_blob(push_env, seed):
    t = tree(("40000", "d", BLOB_ID))
    c = commit(oid("tree", t))
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "dir-is-blob", seed,
        pack([entry("blob", BLOB), entry("tree", t), entry("commit", c)]),
        "refs/heads/x", oid("commit", c))
    assert lines == ["ng refs/heads/x missing necessary objects"]
    assert "not a tree" in band2


def test_tag_whose_target_is_not_of_its_type(push_env, seed):
    t = tag(TREE_ID, "commit")
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "tag-type", seed,
        pack([entry("blob", BLOB), entry("tree", TREE), entry("tag", t)]),
        "refs/tags/t", oid("tag", t))
    assert lines == ["ng refs/tags/t missing necessary objects"]
    assert "is a commit, not a tree" in band2


def test_declared_size_larger_than_the_data(push_env, seed):
    """The issue's case: 100 bytes declared over 12 bytes of zlib data."""
    c = commit(TREE_ID)
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "corrupt-size", seed,
        pack([entry("blob", BLOB, declared=100), entry("tree", TREE),
              entry("commit", c)]),
        "refs/heads/x", oid("commit", c))
    assert unpack == "unpack index-pack abnormal exit"
    assert lines == ["ng refs/heads/x unpacker error"]
    assert band2 == "fatal: pack has bad object at offset 12: " \
        "inflate returned 1\n"


def test_bad_trailer_checksum(push_env, seed):
    c = commit(TREE_ID)
    data = bytearray(pack([entry("blob", BLOB), entry("tree", TREE),
                           entry("commit", c)]))
    data[-1] ^= 1
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "bad-trailer", seed, bytes(data), "refs/heads/x",
        oid("commit", c))
    assert unpack == "unpack index-pack abnormal exit"
    assert band2 == "fatal: pack is corrupted (SHA1 mismatch)\n"


def test_delta_against_a_base_of_another_size(push_env, seed):
    """An OFS delta that wants a base of 7 bytes against a blob of 8: git's
    words on both sides. (A copy past the base's end or a wrong result size
    are refused with the same fatal line, but git's patch_delta() prints
    "error: delta replay has gone wild" before it, which the module does not:
    the unit tests cover those.)"""
    base_entry = entry("blob", BLOB)
    delta = bytes([7, 5, 0x91, 0, 5])
    bad = entry_header(6, len(delta)) + bytes([len(base_entry)]) + \
        zlib.compress(delta)
    c = commit(TREE_ID)
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "bad-delta-base-size", seed,
        pack([base_entry, bad, entry("tree", TREE), entry("commit", c)]),
        "refs/heads/x", oid("commit", c))
    assert unpack == "unpack index-pack abnormal exit"
    assert lines == ["ng refs/heads/x unpacker error"]
    assert band2 == "fatal: pack has bad object at offset %d: " \
        "failed to apply delta\n" % (12 + len(base_entry))


def test_receive_max_input_size(push_env, seed):
    c = commit(TREE_ID)
    data = pack([entry("blob", BLOB), entry("tree", TREE), entry("commit", c)])
    _status, (unpack, lines, band2, _e) = post_both(
        push_env, "max-input", seed, data, "refs/heads/x", oid("commit", c),
        config=[("receive.maxInputSize", str(len(data) - 1))])
    assert unpack == "unpack index-pack abnormal exit"
    assert band2 == "fatal: pack exceeds maximum allowed size (%d bytes)\n" \
        % (len(data) - 1)


def test_receive_max_input_size_not_reached(push_env, seed):
    git = push_env.git
    c = commit(TREE_ID)
    data = pack([entry("blob", BLOB), entry("tree", TREE), entry("commit", c)])
    for side, location in SIDES:
        repo = push_env.new_repo("max-input-ok-%s" % side, seed,
                                 [("receive.maxInputSize", str(len(data)))])
        res = helpers.http_request(
            push_env.port, "POST", push_env.path(location, repo) + RPC,
            dict(RPC_HEADERS, Authorization=basic_auth()),
            push_body([(ZERO, oid("commit", c), "refs/heads/x")], data,
                      caps=CAPS))
        assert report(res)[:2] == ("unpack ok", ["ok refs/heads/x"]), side
        assert_clean(server_state(git, repo))


# --------------------------------------------------------------------------
# a delta bomb, module only (git's index-pack, outside any web server,
# would allocate the gigabyte)

def delta_bomb():
    """A pack under 64 KB: a 64 KiB blob of zeros, and a delta against it
    of 16384 copies of the whole base: 1 GiB once resolved. The commit
    names the base's tree only."""
    base = bytes(65536)
    delta = bytearray()
    for v in (len(base), 1 << 30):
        while True:
            c, v = v & 0x7f, v >> 7
            delta.append(c | 0x80 if v else c)
            if not v:
                break
    delta += b"\x80" * 16384  # copy 0x10000 bytes from offset 0
    base_entry = entry("blob", base)
    bomb = entry_header(7, len(delta)) + bytes.fromhex(oid("blob", base)) + \
        zlib.compress(bytes(delta), 9)
    t = tree(("100644", "zeros", oid("blob", base)))
    c = commit(oid("tree", t))
    data = pack([base_entry, bomb, entry("tree", t), entry("commit", c)])
    return data, oid("commit", c), 12 + len(base_entry)


def test_delta_bomb_refused_before_it_is_resolved(push_env, seed):
    git = push_env.git
    data, new, bomb_offset = delta_bomb()
    assert len(data) < 64 * 1024
    repo = push_env.new_repo("bomb", seed)
    refs, objects = server_refs(git, repo), objects_listing(repo)
    workers = push_env.workers()
    before = {pid: vm_hwm_kb(pid) for pid in workers}
    res = helpers.http_request(
        push_env.port, "POST", push_env.path("git", repo) + RPC,
        dict(RPC_HEADERS, Authorization=basic_auth()),
        push_body([(ZERO, new, "refs/heads/x")], data, caps=CAPS))
    after = {pid: vm_hwm_kb(pid) for pid in workers}
    growth = {pid: after[pid] - before[pid] for pid in workers}
    assert max(growth.values()) < 64 * 1024, \
        "worker peak RSS grew by %r kB" % growth
    unpack, lines, band2, _e = report(res)
    assert unpack == "unpack index-pack abnormal exit", (unpack, band2)
    assert lines == ["ng refs/heads/x unpacker error"]
    assert band2 == "fatal: pack has bad object at offset %d: delta result " \
        "of 1024.00 MiB exceeds the maximum object size (128.00 MiB)\n" \
        % bomb_offset
    state = server_state(git, repo)
    assert state["refs"] == refs and objects_listing(repo) == objects
    assert_clean(state)


# --------------------------------------------------------------------------
# receive.fsck.<msg-id> and receive.fsck.skipList, passed to index-pack
# --strict as git's receive-pack passes them

@pytest.mark.parametrize("how", ["severity", "skiplist"])
def test_receive_fsck_settings_let_a_known_problem_in(push_env, seed, how):
    """receive.fsckObjects refuses a commit without an author e-mail
    (test_push.test_receive_fsck_objects); receive.fsck.missingEmail=ignore,
    or the commit on receive.fsck.skipList, lets it in on both sides."""
    git = push_env.git
    client = client_of(push_env, seed, "fsck-" + how)
    bad = commit_with_bad_author(git, client)
    config = [("receive.fsckObjects", "true")]
    if how == "severity":
        config.append(("receive.fsck.missingEmail", "ignore"))
    else:
        skip = push_env.tmp / "skiplist"
        skip.write_text(bad + "\n")
        config.append(("receive.fsck.skipList", str(skip)))
    out = push_both(push_env, "fsck-" + how, client, ["bad"], seed=seed,
                    config=config, ignore=("fsck",), clean=False)
    for side, o in out.items():
        assert o["code"] == 0, (side, o)
        assert rev(git, o["repo"], "bad") == bad, side
        assert o["stray"] == [], (side, o)


def test_bad_link_beside_a_deletion_leaves_no_object(push_env, seed):
    """Module only: a deletion goes through beside a refused creation, and
    the refused pack is dropped (git would move it in, unreferenced)."""
    git = push_env.git
    repo = push_env.new_repo("bad-link-delete", seed)
    objects = objects_listing(repo)
    lt = rev(git, repo, "refs/tags/lt")
    c = commit(BLOB_ID)
    commands = [(lt, ZERO, "refs/tags/lt"), (ZERO, oid("commit", c), "refs/heads/x")]
    res = helpers.http_request(
        push_env.port, "POST", push_env.path("git", repo) + RPC,
        dict(RPC_HEADERS, Authorization=basic_auth()),
        push_body(commands, pack([entry("blob", BLOB), entry("commit", c)]),
                  caps=CAPS))
    unpack, lines, band2, _e = report(res)
    assert (unpack, lines) == ("unpack ok", [
        "ok refs/tags/lt", "ng refs/heads/x missing necessary objects"]), band2
    assert "refs/tags/lt" not in server_refs(git, repo)
    assert objects_listing(repo) == objects
    assert_clean(server_state(git, repo))

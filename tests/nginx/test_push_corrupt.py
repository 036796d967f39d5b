"""Every kind of corrupt pack a push can carry is refused (issue 17), by
the module as by git http-backend: the unpack status is not "unpack ok",
the ref does not move, and the repository is as before (the same refs, the
same files under objects/: no new pack, no loose object, no incoming-*
quarantine left; `git fsck --strict` clean). The module's message names
the entry at fault (its offset, or the missing base's id).

The packs are made entry by entry (pack_build.py): a blob, the entry at
fault, then a tree and a commit, pushed as a new branch. Both repositories
set receive.unpackLimit=1, so that git hands every pack to index-pack
(whose words the module uses) and the module keeps it as a pack.

A REF_DELTA whose base comes later in the same pack is legal: both accept
it. One kind is checked on the module's side only (GIT_UNCHECKED): bytes
after the trailer, which git refuses or not depending on timing.

Where the module does not name the entry yet (libgit2's indexer), the
naming test is an expected failure (strict): the indexer of our own must
make it pass.

Uses test_push's nginx (module and http-backend side by side)."""

import re
import zlib

import pytest

import helpers
from pack_build import (commit, delta, entry,
                        entry_header, offsets, oid, ofs_delta_entry, pack,
                        pack_header, ref_delta_entry, tree, with_trailer)
from test_push import (RPC, RPC_HEADERS, SIDES, ZERO,  # noqa: F401
                       assert_clean, basic_auth, push_body, push_env, report,
                       rev, seed, server_refs, server_state)
from test_push_objects import objects_listing

CAPS = "report-status side-band-64k quiet agent=git/test"
CONFIG = [("receive.unpackLimit", "1")]
REF = "refs/heads/x"

# A blob long enough for the deltas to copy from, and what they make of it.
BASE = b"".join(b"line %d of the base blob\n" % i for i in range(40))
TARGET = BASE + b"one more line\n"
OTHER = b"".join(b"other %d\n" % i for i in range(40))
BASE_ID, TARGET_ID = oid("blob", BASE), oid("blob", TARGET)
ABSENT = b"a blob that is neither in the pack nor in the repository\n"


def with_commit(middle, blobs):
    """The entries: the base blob, middle (the entries at fault), a tree of
    the named blobs ((name, data), ...) and its commit. Returns (entries,
    commit id)."""
    t = tree(*[("100644", name, oid("blob", data))
               for name, data in sorted(blobs)])
    c = commit(oid("tree", t), message="corrupt")
    return [entry("blob", BASE)] + middle + [entry("tree", t),
                                             entry("commit", c)], \
        oid("commit", c)


def at(entries, i):
    return offsets(entries)[i]


def entry_named(offset):
    return re.compile(r"\boffset %d\b" % offset)


# Each kind: () -> (pack bytes, commit id, what names the entry in the
# module's message (a regex)).

def bad_signature():
    entries, new = with_commit([], [("f", BASE)])
    data = pack(entries)
    body = b"PACX" + data[4:-20]
    return with_trailer(body), new, re.compile("pack signature mismatch")


def version_4():
    entries, new = with_commit([], [("f", BASE)])
    body = pack_header(len(entries), version=4) + b"".join(entries)
    return with_trailer(body), new, \
        re.compile("pack version 4 unsupported")


def unknown_type_5():
    bad = entry_header(5, len(OTHER)) + zlib.compress(OTHER)
    entries, new = with_commit([bad], [("f", BASE)])
    return pack(entries), new, entry_named(at(entries, 1))


def declared_size(delta_bytes):
    def make():
        bad = entry("blob", OTHER, declared=len(OTHER) + delta_bytes)
        entries, new = with_commit([bad], [("f", BASE), ("o", OTHER)])
        return pack(entries), new, entry_named(at(entries, 1))
    return make


def truncated_zlib(last):
    """The zlib stream of the blob OTHER lacks its last 4 bytes (the
    Adler-32): in the middle of the pack, the next entry's bytes are read
    as its end; as the last entry, the trailer is."""
    def make():
        full = entry("blob", OTHER)
        bad = full[:-4]
        t = tree(("100644", "f", BASE_ID), ("100644", "o", oid("blob", OTHER)))
        c = commit(oid("tree", t), message="corrupt")
        if last:
            entries = [entry("blob", BASE), entry("tree", t),
                       entry("commit", c), bad]
            i = 3
        else:
            entries = [entry("blob", BASE), bad, entry("tree", t),
                       entry("commit", c)]
            i = 1
        return pack(entries), oid("commit", c), entry_named(at(entries, i))
    return make


def trailing_bytes():
    entries, new = with_commit([], [("f", BASE)])
    return pack(entries) + b"junk after the trailer", new, \
        re.compile("pack has junk at the end")


def bad_trailer():
    entries, new = with_commit([], [("f", BASE)])
    data = bytearray(pack(entries))
    data[-1] ^= 1
    return bytes(data), new, \
        re.compile(re.escape("pack is corrupted (SHA1 mismatch)"))


def ofs_delta(distance_of):
    """An OFS_DELTA (BASE -> TARGET) whose distance back is
    distance_of(its offset, the base blob's end)."""
    def make():
        d = delta(BASE, TARGET)
        base_end = 12 + len(entry("blob", BASE))

        def bad(offset):
            return ofs_delta_entry(d, distance_of(offset, base_end))
        entries, new = with_commit([bad], [("f", BASE), ("t", TARGET)])
        return pack(entries), new, entry_named(at(entries, 1))
    return make



def ofs_into_an_entry():
    return ofs_delta(lambda offset, end: offset - 14)()



def missing_base():
    """A REF_DELTA on a blob that is neither in the pack nor in the
    repository: the thin pack cannot be completed."""
    absent = oid("blob", ABSENT)
    bad = ref_delta_entry(delta(ABSENT, TARGET), absent)
    entries, new = with_commit([bad], [("f", BASE), ("t", TARGET)])
    return pack(entries), new, re.compile(absent)



def delta_cycle():
    """Two REF_DELTAs, each on the other's result: TARGET made from OTHER
    and OTHER made from TARGET. The ids are right; neither can be
    resolved."""
    one = ref_delta_entry(delta(OTHER, TARGET), oid("blob", OTHER))
    two = ref_delta_entry(delta(TARGET, OTHER), TARGET_ID)
    entries, new = with_commit([one, two], [("f", BASE), ("o", OTHER),
                                            ("t", TARGET)])
    first, second = offsets(entries)[1:3]
    return pack(entries), new, re.compile(
        r"\boffset (%d|%d)\b|%s|%s" % (first, second, TARGET_ID,
                                       oid("blob", OTHER)))



def base_size_mismatch():
    """An OFS_DELTA on the base blob that declares a base one byte
    longer."""
    d = delta(BASE, TARGET, base_size=len(BASE) + 1)

    def bad(offset):
        return ofs_delta_entry(d, offset - 12)
    entries, new = with_commit([bad], [("f", BASE), ("t", TARGET)])
    return pack(entries), new, entry_named(at(entries, 1))


KINDS = {
    "bad-signature": bad_signature,
    "version-4": version_4,
    "unknown-type-5": unknown_type_5,
    "size-larger": declared_size(+7),
    "size-smaller": declared_size(-7),
    "truncated-zlib": truncated_zlib(last=False),
    "truncated-zlib-last": truncated_zlib(last=True),
    "trailing-bytes": trailing_bytes,
    "bad-trailer": bad_trailer,
    # the pack encodes a distance back from the delta's own offset
    "ofs-base-0": ofs_delta(lambda offset, end: 0),
    "ofs-base-before-the-pack": ofs_delta(lambda offset, end: offset + 5),
    "ofs-base-mid-entry": ofs_into_an_entry,
    "ref-base-missing": missing_base,
    "delta-cycle": delta_cycle,
    "delta-base-size-mismatch": base_size_mismatch,
}


# Not checked on git's side: its receive-pack runs index-pack --stdin,
# which looks for junk after the trailer only when its input is a file.
# Through http-backend the outcome depends on timing: the push goes through
# in some runs, index-pack exits abnormally (without a message) in others.
# The module refuses it ("pack has junk at the end", as index-pack says of
# a pack file longer than its trailer).
GIT_UNCHECKED = {"trailing-bytes"}


def post(push_env, location, repo, data, new):
    res = helpers.http_request(
        push_env.port, "POST", push_env.path(location, repo) + RPC,
        dict(RPC_HEADERS, Authorization=basic_auth()),
        push_body([(ZERO, new, REF)], data, caps=CAPS))
    assert res.status == 200, res
    return report(res)


def refused_unchanged(push_env, seed, name, location, data, new):
    """Posts data to a fresh repository at location; asserts the refusal
    and the repository unchanged. Returns the report."""
    git = push_env.git
    repo = push_env.new_repo(name, seed, CONFIG)
    refs, objects = server_refs(git, repo), objects_listing(repo)
    rep = post(push_env, location, repo, data, new)
    unpack, lines, band2, _band3 = rep
    assert unpack is not None and unpack.startswith("unpack ") \
        and unpack != "unpack ok", rep
    assert lines == ["ng %s unpacker error" % REF], rep
    state = server_state(git, repo)
    assert REF not in state["refs"]
    assert state["refs"] == refs, rep
    assert objects_listing(repo) == objects, rep
    assert_clean(state)
    return rep


@pytest.mark.parametrize("kind", list(KINDS))
def test_corrupt_pack_is_refused_and_changes_nothing(push_env, seed, kind):
    data, new, _named = KINDS[kind]()
    for side, location in SIDES:
        if side == "reference" and kind in GIT_UNCHECKED:
            continue
        refused_unchanged(push_env, seed, "%s-%s" % (kind, side), location,
                          data, new)


@pytest.mark.parametrize("kind", list(KINDS))
def test_corrupt_pack_refusal_names_the_entry(push_env, seed, kind):
    """The module's side-band message names the entry at fault (or says
    what is wrong with the pack's header or trailer, which are not
    entries)."""
    data, new, named = KINDS[kind]()
    _unpack, _lines, band2, _band3 = refused_unchanged(
        push_env, seed, "named-%s" % kind, "git", data, new)
    assert named.search(band2), band2


def test_ref_delta_before_its_base_is_accepted(push_env, seed):
    """Legal, and git accepts it: a REF_DELTA whose base is a later entry
    of the same pack."""
    git = push_env.git
    t = tree(("100644", "f", BASE_ID), ("100644", "t", TARGET_ID))
    c = commit(oid("tree", t), message="forward")
    entries = [ref_delta_entry(delta(BASE, TARGET), BASE_ID),
               entry("blob", BASE), entry("tree", t), entry("commit", c)]
    for side, location in SIDES:
        repo = push_env.new_repo("forward-%s" % side, seed, CONFIG)
        rep = post(push_env, location, repo, pack(entries), oid("commit", c))
        assert rep[:2] == ("unpack ok", ["ok %s" % REF]), (side, rep)
        assert rev(git, repo, REF) == oid("commit", c), side
        assert git("cat-file", "-p", "%s:t" % REF, cwd=repo).encode() \
            == TARGET.rstrip(b"\n"), side
        assert_clean(server_state(git, repo))

"""The strict pack checker itself (pack_check.py), on packs made here entry
by entry: it must accept bases written before their deltas and thin bases in
a thin pack, and refuse a delta before its base, a thin base in a pack that
is not thin, and a malformed entry. No server, no git."""

import hashlib
import zlib

import pytest

import pack_build
import pack_check
from pack_build import entry_header, ofs
from pack_check import OBJ_BLOB, OFS_DELTA, REF_DELTA, PackError

BASE = b"base text, long enough to copy from\n" * 4
TARGET = BASE + b"one more line\n"


def oid(data):
    return bytes.fromhex(pack_build.oid("blob", data))


def delta(base, target):
    """Copies all of base, then inserts the rest of target."""
    assert target.startswith(base) and 0 < len(target) - len(base) < 128
    return pack_build.delta(base, target)


def pack(entries):
    """entries: (kind, payload, extra header bytes or a callable of the
    entry's offset giving them)."""
    def one(kind, payload, extra):
        def at(offset):
            head = extra(offset) if callable(extra) else extra
            return entry_header(kind, len(payload)) + head + \
                zlib.compress(payload)
        return at
    return pack_build.pack([one(*e) for e in entries])


def test_base_before_its_ref_delta():
    data = pack([(OBJ_BLOB, BASE, b""),
                 (REF_DELTA, delta(BASE, TARGET), oid(BASE))])
    assert pack_check.check_pack(data) == 2
    assert pack_check.pack_ids(data) == {oid(BASE).hex(), oid(TARGET).hex()}


def test_base_before_its_ofs_delta():
    data = pack([(OBJ_BLOB, BASE, b""),
                 (OFS_DELTA, delta(BASE, TARGET), lambda at: ofs(at - 12))])
    assert pack_check.check_pack(data) == 2
    assert pack_check.pack_ids(data) == {oid(BASE).hex(), oid(TARGET).hex()}


def test_ref_delta_before_its_base_is_refused():
    data = pack([(REF_DELTA, delta(BASE, TARGET), oid(BASE)),
                 (OBJ_BLOB, BASE, b"")])
    with pytest.raises(PackError, match="not before them"):
        pack_check.check_pack(data)
    with pytest.raises(PackError, match="not before them"):
        pack_check.check_pack(data, thin=True)


def test_thin_base_only_in_a_thin_pack():
    data = pack([(REF_DELTA, delta(BASE, TARGET), oid(BASE))])
    assert pack_check.check_pack(data, thin=True) == 1
    with pytest.raises(PackError, match="not thin"):
        pack_check.check_pack(data)
    # resolved with the client's copy of the base
    assert pack_check.pack_ids(
        data, lambda h: (OBJ_BLOB, BASE) if h == oid(BASE).hex() else None) \
        == {oid(TARGET).hex()}


def test_ofs_delta_to_no_entry_is_refused():
    data = pack([(OBJ_BLOB, BASE, b""),
                 (OFS_DELTA, delta(BASE, TARGET), lambda at: ofs(at - 13))])
    with pytest.raises(PackError, match="not the start of an entry"):
        pack_check.check_pack(data)


def test_wrong_size_and_trailer_are_refused():
    good = pack([(OBJ_BLOB, BASE, b"")])
    bad_size = bytearray(good)
    bad_size[12] ^= 1  # the size in the entry header
    bad_size[-20:] = hashlib.sha1(bytes(bad_size[:-20])).digest()
    with pytest.raises(PackError, match="header says"):
        pack_check.check_pack(bytes(bad_size))
    with pytest.raises(PackError, match="trailer"):
        pack_check.check_pack(good[:-1] + bytes([good[-1] ^ 1]))

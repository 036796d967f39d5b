"""Packs made entry by entry, in Python (no git), for the tests that post
crafted packs: object ids, trees, commits, entry headers, OFS_DELTA
offsets, deltas, and whole packs with their trailer. Shared by
test_pack_check.py, test_push_objects.py and test_push_corrupt.py."""

import hashlib
import struct
import zlib

TYPES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
OFS_DELTA, REF_DELTA = 6, 7


def oid(kind, data):
    """The object id (hex) of an object of type kind ("blob", ...)."""
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)) + data) \
        .hexdigest()


def tree(*entries):
    """(mode, name, hex id), ... already in git's order."""
    return b"".join(b"%s %s\0" % (mode.encode(), name.encode())
                    + bytes.fromhex(target) for mode, name, target in entries)


def commit(tree_id, parents=(), message="m"):
    return ("tree %s\n%sauthor A <a@b> 1700000000 +0000\n"
            "committer A <a@b> 1700000000 +0000\n\n%s\n" % (
                tree_id, "".join("parent %s\n" % p for p in parents),
                message)).encode()


def tag(target, kind):
    return ("object %s\ntype %s\ntag t\ntagger A <a@b> 1700000000 +0000\n\n"
            "t\n" % (target, kind)).encode()


def entry_header(code, size):
    """An entry's type and size varint (code: 1-7)."""
    c, size = (code << 4) | (size & 15), size >> 4
    out = b""
    while size:
        out += bytes([c | 0x80])
        c, size = size & 0x7f, size >> 7
    return out + bytes([c])


def entry(kind, data, declared=None):
    """A whole (non-delta) entry; declared: a size other than the data's."""
    return entry_header(TYPES[kind], len(data) if declared is None
                        else declared) + zlib.compress(data)


def varint(n):
    """The little-endian base-128 sizes at the start of a delta."""
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ofs(n):
    """An OFS_DELTA's distance back to its base, as the pack encodes it."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        n -= 1
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def delta(base, target, base_size=None):
    """A delta that copies base's longest common prefix with target (up to
    64 KiB) and inserts the rest of target. base_size: the base size the
    delta declares, if not len(base)."""
    common = 0
    limit = min(len(base), len(target), 0xFFFF)
    while common < limit and base[common] == target[common]:
        common += 1
    out = bytearray(varint(len(base) if base_size is None else base_size))
    out += varint(len(target))
    if common:
        out += bytes([0x80 | 0x10 | 0x20, common & 0xFF, (common >> 8) & 0xFF])
    rest = target[common:]
    for i in range(0, len(rest), 127):
        piece = rest[i:i + 127]
        out += bytes([len(piece)]) + piece
    return bytes(out)


def ofs_delta_entry(delta_data, distance, declared=None):
    return entry_header(OFS_DELTA, len(delta_data) if declared is None
                        else declared) + ofs(distance) + \
        zlib.compress(delta_data)


def ref_delta_entry(delta_data, base_id, declared=None):
    return entry_header(REF_DELTA, len(delta_data) if declared is None
                        else declared) + bytes.fromhex(base_id) + \
        zlib.compress(delta_data)


def with_trailer(body):
    return body + hashlib.sha1(body).digest()


def pack_header(count, version=2, signature=b"PACK"):
    return signature + struct.pack(">II", version, count)


def pack(entries, version=2):
    """A pack of entries: bytes, or callables given the offset the entry
    starts at and returning its bytes (for OFS_DELTA distances)."""
    body = pack_header(len(entries), version)
    for e in entries:
        body += e(len(body)) if callable(e) else e
    return with_trailer(body)


def offsets(entries):
    """The offset of every entry of pack(entries)."""
    out, at = [], 12
    for e in entries:
        out.append(at)
        at += len(e(at) if callable(e) else e)
    return out

"""A strict reader of the packs the suite receives, in Python (no git).

git's index-pack accepts a pack whose delta names a base that comes later in
the pack, and hides it; a client that indexes in one pass (libgit2's indexer
streaming, a proxy that verifies as it forwards) drops such objects. So the
suite reads every pack it receives the way such a client would: entry by
entry, each base known before its delta.

parse_pack() reads every entry: the type and size varint, the OFS_DELTA
negative offset or REF_DELTA base id, and the zlib stream (inflated to find
where the next entry starts, and to check the size). It resolves deltas to
learn every object's id, keeping a resolved object only while a later entry
may still use it as a base.
"""

import hashlib
import zlib
from collections import namedtuple

OBJ_COMMIT, OBJ_TREE, OBJ_BLOB, OBJ_TAG = 1, 2, 3, 4
OFS_DELTA, REF_DELTA = 6, 7
TYPE_NAMES = {OBJ_COMMIT: b"commit", OBJ_TREE: b"tree", OBJ_BLOB: b"blob",
              OBJ_TAG: b"tag"}

# offset: where the entry starts; kind: its type in the pack (1-4, 6, 7);
# base: the base's offset (OFS_DELTA) or id in hex (REF_DELTA), else None;
# oid: the object's id in hex, None when it is built on a thin base.
Entry = namedtuple("Entry", "offset kind size base oid")


class PackError(AssertionError):
    pass


def _varint_size(data, pos):
    c = data[pos]
    kind = (c >> 4) & 7
    size = c & 15
    shift = 4
    pos += 1
    while c & 0x80:
        c = data[pos]
        size |= (c & 0x7F) << shift
        shift += 7
        pos += 1
    return kind, size, pos


def _ofs(data, pos):
    c = data[pos]
    ofs = c & 0x7F
    pos += 1
    while c & 0x80:
        c = data[pos]
        ofs = ((ofs + 1) << 7) | (c & 0x7F)
        pos += 1
    return ofs, pos


def _inflate(view, pos, end):
    """Inflates the zlib stream at pos; returns (data, position after it)."""
    d = zlib.decompressobj()
    out = []
    chunk = 4096
    at = pos
    while not d.eof:
        if at >= end:
            raise PackError("entry at %d: zlib stream runs past the entries"
                            % pos)
        piece = view[at:min(end, at + chunk)]
        out.append(d.decompress(piece))
        at += len(piece)
        chunk = min(chunk * 2, 1 << 20)
    return b"".join(out), at - len(d.unused_data)


def _delta_size(delta, pos):
    size = shift = 0
    while True:
        c = delta[pos]
        pos += 1
        size |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return size, pos


def apply_delta(base, delta):
    src_size, pos = _delta_size(delta, 0)
    if src_size != len(base):
        raise PackError("delta for a base of %d bytes applied to %d bytes"
                        % (src_size, len(base)))
    dst_size, pos = _delta_size(delta, pos)
    out = []
    n = len(delta)
    while pos < n:
        op = delta[pos]
        pos += 1
        if op & 0x80:
            off = size = 0
            for i in range(4):
                if op & (1 << i):
                    off |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (0x10 << i):
                    size |= delta[pos] << (8 * i)
                    pos += 1
            size = size or 0x10000
            if off + size > len(base):
                raise PackError("delta copies past the end of its base")
            out.append(base[off:off + size])
        elif op:
            out.append(delta[pos:pos + op])
            pos += op
        else:
            raise PackError("delta opcode 0")
    result = b"".join(out)
    if len(result) != dst_size:
        raise PackError("delta result is %d bytes, header says %d"
                        % (len(result), dst_size))
    return result


def _object_id(kind, data):
    return hashlib.sha1(b"%s %d\0" % (TYPE_NAMES[kind], len(data))
                        + data).hexdigest()


def parse_pack(data, resolve=None, base_source=None):
    """Every entry of a pack, in pack order, checked as a one-pass reader
    would check it. Raises PackError on a malformed pack. Forward references
    are not an error here; check_pack() decides what is allowed. Object ids
    are computed (deltas resolved) when resolve is true, or when it is None
    and the pack has a REF_DELTA (whose base is named by id); else every
    Entry's oid is None. base_source(hex id) gives (type, data) of a thin
    base (one the client has), or None; objects built on a thin base it
    does not give have no oid."""
    view = memoryview(data)
    if bytes(view[:4]) != b"PACK":
        raise PackError("pack does not start with PACK: %r" % bytes(data[:12]))
    if len(data) < 32:
        raise PackError("pack too short (%d bytes)" % len(data))
    version = int.from_bytes(data[4:8], "big")
    if version not in (2, 3):
        raise PackError("pack version %d" % version)
    if hashlib.sha1(view[:-20]).digest() != bytes(view[-20:]):
        raise PackError("pack trailer is not the SHA-1 of the pack (%d bytes)"
                        % len(data))
    count = int.from_bytes(data[8:12], "big")
    end = len(data) - 20

    # Pass 1: headers and raw (inflated) contents' lengths; which entries
    # are used as bases, so that pass 2 keeps only those.
    raw = []  # (offset, kind, size, base, data start, data end)
    pos = 12
    for _ in range(count):
        if pos >= end:
            raise PackError("pack says %d objects, holds %d" % (count,
                                                                len(raw)))
        start = pos
        kind, size, pos = _varint_size(data, pos)
        base = None
        if kind == OFS_DELTA:
            ofs, pos = _ofs(data, pos)
            if ofs <= 0 or ofs > start:
                raise PackError("entry at %d: OFS_DELTA distance %d points "
                                "outside the pack" % (start, ofs))
            base = start - ofs
        elif kind == REF_DELTA:
            base = bytes(view[pos:pos + 20]).hex()
            pos += 20
        elif kind not in TYPE_NAMES:
            raise PackError("entry at %d: bad type %d" % (start, kind))
        zstart = pos
        content, pos = _inflate(view, pos, end)
        if len(content) != size:
            raise PackError("entry at %d: inflates to %d bytes, header says "
                            "%d" % (start, len(content), size))
        raw.append((start, kind, size, base, zstart, pos))
    if pos != end:
        raise PackError("%d bytes between the last entry and the trailer"
                        % (end - pos))

    by_offset = {r[0]: i for i, r in enumerate(raw)}
    uses = [0] * len(raw)          # OFS_DELTA dependents, by entry index
    ref_bases = {}                 # REF_DELTA base id -> dependents
    for r in raw:
        if r[1] == OFS_DELTA:
            if r[3] not in by_offset:
                raise PackError("entry at %d: OFS_DELTA base offset %d is "
                                "not the start of an entry" % (r[0], r[3]))
            uses[by_offset[r[3]]] += 1
        elif r[1] == REF_DELTA:
            ref_bases[r[3]] = ref_bases.get(r[3], 0) + 1

    if not resolve and (resolve is not None or not ref_bases):
        # No REF_DELTA: OFS_DELTA bases are checked by offset, no id needed.
        return [Entry(r[0], r[1], r[2], r[3], None) for r in raw]

    # Pass 2, in pack order: resolve each entry from bases already read.
    kept = {}        # entry index -> (kind, data), while something needs it
    kept_by_id = {}  # REF_DELTA base id -> (kind, data)
    ids_in_pack = set()
    entries = []
    for i, (start, kind, size, base, zstart, zend) in enumerate(raw):
        content, _ = _inflate(view, zstart, zend)
        obj = None
        if kind in TYPE_NAMES:
            obj = (kind, content)
        elif kind == OFS_DELTA:
            b = by_offset[base]
            if b < i and b in kept:
                bkind, bdata = kept[b]
                obj = (bkind, apply_delta(bdata, content))
            if b < i:
                uses[b] -= 1
                if uses[b] == 0:
                    kept.pop(b, None)
        else:
            b = kept_by_id.get(base)
            if b is None and base_source and base not in ids_in_pack:
                b = base_source(base)
            if b is not None:
                obj = (b[0], apply_delta(b[1], content))
        oid = _object_id(*obj) if obj else None
        if obj and (uses[i] > 0):
            kept[i] = obj
        if oid and oid in ref_bases:
            kept_by_id[oid] = obj
        if oid:
            ids_in_pack.add(oid)
        entries.append(Entry(start, kind, size, base, oid))
    return entries


def forward_references(entries):
    """Descriptions of the deltas whose base is not an earlier entry of the
    pack, and the REF_DELTA bases that are in no entry (thin bases)."""
    position = {e.offset: i for i, e in enumerate(entries)}
    first = {}
    for i, e in enumerate(entries):
        if e.oid:
            first.setdefault(e.oid, i)
    forward, thin = [], set()
    for i, e in enumerate(entries):
        if e.kind == OFS_DELTA and position[e.base] >= i:
            forward.append("entry %d (at %d): OFS_DELTA base is entry %d"
                           % (i, e.offset, position[e.base]))
        elif e.kind == REF_DELTA:
            at = first.get(e.base)
            if at is None:
                thin.add(e.base)
            elif at > i:
                forward.append("entry %d (at %d): REF_DELTA base %s is entry "
                               "%d, later in the pack" % (i, e.offset, e.base,
                                                          at))
    return forward, thin


def check_pack(data, thin=False, base_source=None):
    """Validates a pack the way a one-pass reader needs it: header, every
    entry, the trailer, and every delta's base before the delta. A REF_DELTA
    to an object not in the pack (a thin base) is allowed only when thin.
    In a thin pack, an entry built on a thin base has an id only when
    base_source (see parse_pack()) gives that base: without it, a REF_DELTA
    naming such an entry further on passes for thin. Returns the object
    count."""
    entries = parse_pack(data, None, base_source if thin else None)
    forward, thin_bases = forward_references(entries)
    if forward:
        raise PackError("%d delta(s) whose base is not before them: %s"
                        % (len(forward), "; ".join(forward[:5])))
    if thin_bases and not thin:
        raise PackError("%d REF_DELTA base(s) not in a pack that is not thin,"
                        " e.g. %s" % (len(thin_bases), sorted(thin_bases)[0]))
    unresolved = sum(1 for e in entries if e.oid is None)
    if unresolved and not thin and any(e.kind == REF_DELTA for e in entries):
        raise PackError("%d entries could not be resolved" % unresolved)
    return len(entries)


def pack_ids(data, base_source=None):
    """The ids of the objects a pack holds (hex); those built on thin bases
    that base_source does not give are left out."""
    return {e.oid for e in parse_pack(data, True, base_source) if e.oid}


class GitObjectSource:
    """base_source for parse_pack(): objects read from a repository with
    git cat-file --batch (the client's, after a fetch; the server's)."""

    KINDS = {b"commit": OBJ_COMMIT, b"tree": OBJ_TREE, b"blob": OBJ_BLOB,
             b"tag": OBJ_TAG}

    def __init__(self, repo, env=None):
        import subprocess
        self.proc = subprocess.Popen(
            ["git", "cat-file", "--batch"], cwd=repo, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def __call__(self, oid):
        self.proc.stdin.write(oid.encode() + b"\n")
        self.proc.stdin.flush()
        head = self.proc.stdout.readline().split()
        if len(head) < 3:
            return None  # "<oid> missing"
        data = self.proc.stdout.read(int(head[2]))
        self.proc.stdout.read(1)
        return self.KINDS[head[1]], data

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

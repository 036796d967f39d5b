// The pack entry format (man gitformat-pack): entry headers and deltas.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gsh::pack {

// Entry types as stored in a pack.
enum PackType : uint8_t {
    kCommit = 1,
    kTree = 2,
    kBlob = 3,
    kTag = 4,
    kOfsDelta = 6,
    kRefDelta = 7,
};

inline bool is_delta(int type) {
    return type == kOfsDelta || type == kRefDelta;
}

// The name git gives an object type in object headers and messages:
// "commit", "tree", "blob", "tag"; "" for anything else.
inline const char *type_name(int type) {
    static constexpr const char *kNames[] = {"", "commit", "tree", "blob", "tag"};
    return type >= kCommit && type <= kTag ? kNames[type] : "";
}

class Sha1;

// An object's id is the SHA-1 of "<type name> <size>\0" then its data.
// The caller's Sha1 is reused rather than one made per object: making one
// allocates libcrypto's context, which pushes and reads pay per object.
//
// Resets sha and feeds it the header, for data fed in pieces afterwards.
void start_object_hash(Sha1 &sha, int type, uint64_t size);
// The id of the object of type whose data is data[0, len), hashed with sha.
git_oid object_hash(Sha1 &sha, int type, const uint8_t *data, size_t len);

// Enough for any entry header: 10 bytes of type and size, then at most 20
// bytes of base reference.
constexpr size_t kMaxEntryHeader = 32;

struct EntryHeader {
    uint8_t type = 0;
    uint8_t length = 0;       // bytes before the compressed data
    uint64_t size = 0;        // inflated size (of the delta, for deltas)
    uint64_t base_offset = 0; // kOfsDelta: absolute offset of the base
    git_oid base_oid{};       // kRefDelta
};

// Parses the header of the entry at entry_offset from p (avail bytes there).
// False when the bytes are not a valid header or it does not fit in avail.
inline bool parse_entry_header(const uint8_t *p, size_t avail, uint64_t entry_offset,
                               EntryHeader *h) {
    size_t i = 0;
    if (avail < 1)
        return false;
    uint8_t c = p[i++];
    h->type = (c >> 4) & 7;
    uint64_t size = c & 15;
    int shift = 4;
    while (c & 0x80) {
        if (i >= avail || shift > 57)
            return false;
        c = p[i++];
        size |= uint64_t(c & 0x7f) << shift;
        shift += 7;
    }
    h->size = size;
    switch (h->type) {
    case kCommit:
    case kTree:
    case kBlob:
    case kTag:
        break;
    case kOfsDelta: {
        if (i >= avail)
            return false;
        c = p[i++];
        uint64_t rel = c & 0x7f;
        while (c & 0x80) {
            if (i >= avail || rel > (UINT64_MAX >> 8))
                return false;
            c = p[i++];
            rel = ((rel + 1) << 7) | (c & 0x7f);
        }
        if (rel == 0 || rel > entry_offset)
            return false;
        h->base_offset = entry_offset - rel;
        break;
    }
    case kRefDelta:
        if (avail - i < GIT_OID_RAWSZ)
            return false;
        std::memcpy(h->base_oid.id, p + i, GIT_OID_RAWSZ);
        i += GIT_OID_RAWSZ;
        break;
    default:
        return false;
    }
    h->length = uint8_t(i);
    return true;
}

// Writes the type-and-size varint; returns its length (at most 10).
inline size_t encode_type_size(uint8_t *out, int type, uint64_t size) {
    size_t n = 0;
    uint8_t c = uint8_t((type << 4) | (size & 15));
    size >>= 4;
    while (size) {
        out[n++] = c | 0x80;
        c = size & 0x7f;
        size >>= 7;
    }
    out[n++] = c;
    return n;
}

// Writes an OFS_DELTA's distance to its base; returns its length (at most 10).
inline size_t encode_ofs(uint8_t *out, uint64_t rel) {
    uint8_t tmp[10];
    size_t pos = sizeof tmp - 1;
    tmp[pos] = rel & 0x7f;
    while (rel >>= 7) {
        --rel;
        tmp[--pos] = uint8_t(0x80 | (rel & 0x7f));
    }
    const size_t n = sizeof tmp - pos;
    std::memcpy(out, tmp + pos, n);
    return n;
}

// Reads a delta's size varint at *p (before end); false when malformed.
inline bool delta_varint(const uint8_t *&p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    int shift = 0;
    uint8_t c;
    do {
        if (p >= end || shift > 63)
            return false;
        c = *p++;
        v |= uint64_t(c & 0x7f) << shift;
        shift += 7;
    } while (c & 0x80);
    *out = v;
    return true;
}

// Target size of a delta (its second varint); false when malformed.
inline bool delta_sizes(const uint8_t *delta, size_t len, uint64_t *base_size,
                        uint64_t *result_size) {
    const uint8_t *p = delta, *end = delta + len;
    return delta_varint(p, end, base_size) && delta_varint(p, end, result_size);
}

// One op of a delta: a copy of size bytes at offset in the base, or an
// insert of the size bytes at data.
struct DeltaOp {
    bool copy;
    uint64_t offset;
    uint64_t size;
    const uint8_t *data;
};

// Reads the op at p (before end) and moves p past it; false when malformed.
inline bool next_delta_op(const uint8_t *&p, const uint8_t *end, DeltaOp *op) {
    const uint8_t cmd = *p++;
    if (cmd & 0x80) {
        uint64_t off = 0, n = 0;
        for (int b = 0; b < 4; b++)
            if (cmd & (1 << b)) {
                if (p >= end)
                    return false;
                off |= uint64_t(*p++) << (8 * b);
            }
        for (int b = 0; b < 3; b++)
            if (cmd & (0x10 << b)) {
                if (p >= end)
                    return false;
                n |= uint64_t(*p++) << (8 * b);
            }
        *op = {true, off, n ? n : 0x10000, nullptr}; // size 0 means 0x10000
        return true;
    }
    if (cmd == 0 || cmd > size_t(end - p))
        return false; // 0 is reserved
    *op = {false, 0, cmd, p};
    p += cmd;
    return true;
}

// Applies delta to base into out, which must hold the delta's result size
// (see delta_sizes). False when the delta is malformed or does not fit.
inline bool apply_delta(const uint8_t *base, size_t base_len, const uint8_t *delta,
                        size_t delta_len, uint8_t *out, size_t out_len) {
    const uint8_t *p = delta, *end = delta + delta_len;
    uint64_t src_size, dst_size;
    if (!delta_varint(p, end, &src_size) || !delta_varint(p, end, &dst_size) ||
        src_size != base_len || dst_size != out_len)
        return false;
    uint8_t *o = out, *oend = out + out_len;
    DeltaOp op;
    while (p < end) {
        if (!next_delta_op(p, end, &op) || op.size > uint64_t(oend - o))
            return false;
        if (op.copy) {
            if (op.offset > base_len || op.size > base_len - op.offset)
                return false;
            std::memcpy(o, base + op.offset, op.size);
        } else {
            std::memcpy(o, op.data, op.size);
        }
        o += op.size;
    }
    return o == oend;
}

} // namespace gsh::pack

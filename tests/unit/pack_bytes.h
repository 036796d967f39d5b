// Packs written by hand: entries, deflated data, deltas and their varints.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "odb/pack_format.h"
#include "util/sha1.h"

namespace gsh::test {

// A zlib stream of data, as a pack entry holds it.
inline std::string deflate(const std::string &data) {
    uLongf len = compressBound(uLong(data.size()));
    std::string out(len, '\0');
    compress(reinterpret_cast<Bytef *>(out.data()), &len,
             reinterpret_cast<const Bytef *>(data.data()), uLong(data.size()));
    out.resize(len);
    return out;
}

// A delta's size varint: 7 bits a byte, least significant first.
inline std::string varint(uint64_t v) {
    std::string out;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        out.push_back(char(v ? c | 0x80 : c));
    } while (v);
    return out;
}

inline std::string type_size(int type, uint64_t size) {
    uint8_t buf[16];
    return std::string(reinterpret_cast<char *>(buf), gsh::pack::encode_type_size(buf, type, size));
}

inline std::string whole(int type, const std::string &data, int64_t declared = -1) {
    return type_size(type, declared < 0 ? data.size() : uint64_t(declared)) + deflate(data);
}

inline std::string ofs_delta(uint64_t rel, const std::string &delta) {
    uint8_t buf[16];
    return type_size(gsh::pack::kOfsDelta, delta.size()) +
           std::string(reinterpret_cast<char *>(buf), gsh::pack::encode_ofs(buf, rel)) +
           deflate(delta);
}

inline std::string ref_delta(const std::string &base_oid, const std::string &delta) {
    return type_size(gsh::pack::kRefDelta, delta.size()) + base_oid + deflate(delta);
}

// A delta: sizes, then a copy of (off, len) from the base and an insert.
inline std::string delta(uint64_t base_size, uint64_t result_size, uint8_t off, uint8_t len,
                         const std::string &insert) {
    std::string d = varint(base_size) + varint(result_size);
    d += char(0x80 | 0x01 | 0x10);
    d += char(off);
    d += char(len);
    if (!insert.empty())
        d += char(insert.size()) + insert;
    return d;
}

inline std::string blob_oid(const std::string &data) {
    const std::string obj = "blob " + std::to_string(data.size()) + std::string(1, '\0') + data;
    const auto d = gsh::pack::Sha1::of(obj.data(), obj.size());
    return std::string(reinterpret_cast<const char *>(d.data()), d.size());
}

// A pack of the entries, its header claiming count (default: as many), and
// its trailer.
inline std::string make_pack(const std::vector<std::string> &entries, int64_t count = -1) {
    std::string p = "PACK";
    p += std::string("\0\0\0\2", 4);
    const uint32_t n = count < 0 ? uint32_t(entries.size()) : uint32_t(count);
    for (int shift = 24; shift >= 0; shift -= 8)
        p.push_back(char(n >> shift));
    for (const std::string &e : entries)
        p += e;
    const auto digest = gsh::pack::Sha1::of(p.data(), p.size());
    return p + std::string(reinterpret_cast<const char *>(digest.data()), digest.size());
}

} // namespace gsh::test

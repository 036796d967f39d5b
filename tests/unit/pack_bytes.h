// Pieces of pack entries written by hand: deflated data and delta varints.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>

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

} // namespace gsh::test

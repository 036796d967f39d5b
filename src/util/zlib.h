// zlib streams owned by an object: ended by the destructor on every path,
// a throw included, and one cap on what a single zlib call is handed.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>

#include "util/error.h"

namespace gsh::zlib {

// zlib counts in uInt; a larger buffer is handed over in calls of at most
// this much, so a count never wraps.
inline constexpr size_t kMaxChunk = size_t(1) << 30;

inline uInt chunk(size_t n) {
    return uInt(std::min(n, kMaxChunk));
}

// An inflate stream, initialised on construction. window_bits as
// inflateInit2's (16 + MAX_WBITS reads a gzip member).
class Inflater {
  public:
    explicit Inflater(int window_bits = MAX_WBITS) {
        if (inflateInit2(&zs_, window_bits) != Z_OK)
            throw Error("zlib: inflateInit failed");
    }
    ~Inflater() { inflateEnd(&zs_); }
    Inflater(const Inflater &) = delete;
    Inflater &operator=(const Inflater &) = delete;

    // Ready for a new stream, keeping the allocated window.
    void reset() {
        if (inflateReset(&zs_) != Z_OK)
            throw Error("zlib: inflateReset failed");
    }
    z_stream &z() { return zs_; }
    z_stream *operator->() { return &zs_; }

  private:
    z_stream zs_{};
};

class Deflater {
  public:
    explicit Deflater(int level) {
        if (deflateInit(&zs_, level) != Z_OK)
            throw Error("zlib: deflateInit failed");
    }
    ~Deflater() { deflateEnd(&zs_); }
    Deflater(const Deflater &) = delete;
    Deflater &operator=(const Deflater &) = delete;

    void reset() {
        if (deflateReset(&zs_) != Z_OK)
            throw Error("zlib: deflateReset failed");
    }
    z_stream &z() { return zs_; }
    z_stream *operator->() { return &zs_; }

  private:
    z_stream zs_{};
};

} // namespace gsh::zlib

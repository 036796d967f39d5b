// The request body as nginx handed it over: memory pieces and temp-file ranges.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gsh {

class RequestBody {
  public:
    void add_memory(const void *data, size_t len);
    void add_file(int fd, off_t offset, size_t len);

    // The whole body, inflated when content_encoding is gzip (or x-gzip).
    // Throws gsh::Error: 413 past max_size (after inflation), 400 for a
    // corrupt gzip stream, 415 for an unknown encoding, 500 on a read error.
    std::string read(std::string_view content_encoding, size_t max_size) const;
    size_t size() const { return total_; }
    // Throws gsh::Error(413) when the body as sent is larger than max_size,
    // as read() does before it reads anything.
    void check_size(size_t max_size) const;
    // Whether a piece is in a file (read() then does I/O).
    bool in_file() const;

  private:
    friend class BodyReader;
    struct Piece {
        std::string data; // memory piece, or empty for a file range
        int fd = -1;
        off_t offset = 0;
        size_t len = 0;
    };
    std::vector<Piece> pieces_;
    size_t total_ = 0;
};

// Reads a RequestBody from the start in pieces of the caller's size, so that
// a large body (a pushed pack) is never held whole in memory. A gzip body is
// inflated as it goes, and its inflated size is bounded by max_inflated; an
// identity body is not bounded here (nginx's client_max_body_size is).
namespace zlib {
class Inflater; // zlib kept out of this header
}

class BodyReader {
  public:
    // Throws gsh::Error(415) for an unknown encoding.
    BodyReader(const RequestBody &body, std::string_view content_encoding, size_t max_inflated);
    ~BodyReader();
    BodyReader(const BodyReader &) = delete;
    BodyReader &operator=(const BodyReader &) = delete;

    // Up to cap bytes; 0 only at the end of the body. Throws gsh::Error: 413
    // past max_inflated, 400 for a corrupt or truncated gzip stream, 500 on a
    // read error.
    size_t read(void *buf, size_t cap);
    // Bytes returned by read() so far.
    unsigned long long delivered() const { return delivered_; }

  private:
    size_t read_raw(void *buf, size_t cap);

    const RequestBody &body_;
    size_t piece_ = 0, piece_pos_ = 0;
    bool gzip_ = false, gzip_end_ = false;
    size_t max_inflated_;
    unsigned long long delivered_ = 0;
    std::unique_ptr<zlib::Inflater> gz_; // null unless gzip
    std::string in_;                     // raw bytes waiting for inflate
};

} // namespace gsh

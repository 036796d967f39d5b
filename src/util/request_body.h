// The request body as nginx handed it over: memory pieces and temp-file ranges.
#pragma once

#include <sys/types.h>

#include <cstddef>
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
    // Whether a piece is in a file (read() then does I/O).
    bool in_file() const;

  private:
    struct Piece {
        std::string data; // memory piece, or empty for a file range
        int fd = -1;
        off_t offset = 0;
        size_t len = 0;
    };
    std::vector<Piece> pieces_;
    size_t total_ = 0;
};

} // namespace gsh

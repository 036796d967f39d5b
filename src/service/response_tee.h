// A copy of a response, as it is read, into a file of the caller's: the
// module's pack cache writes an answer while it is sent. Written on the
// reading thread; a failure (a full disk) ends the copy, not the response.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "git_smart_http.h"

namespace gsh {

class ResponseTee {
  public:
    // fd stays the caller's: it is never closed here.
    void start(int fd) { fd_ = fd; }
    bool active() const { return fd_ >= 0 && error_.empty(); }
    // A read's output: the buffer's bytes, or its pieces in order (a file
    // piece is copied from that file).
    void add(const uint8_t *buf, size_t len);
    void add(const uint8_t *buf, const gsh_piece *pieces, size_t n);
    uint64_t bytes() const { return bytes_; }
    // Why the copy ended, or "".
    const std::string &error() const { return error_; }

  private:
    void copy_file(int fd, off_t offset, size_t len);
    void fail(const char *what);

    int fd_ = -1;
    uint64_t bytes_ = 0;
    std::string error_;
};

} // namespace gsh

// A read's output as the caller takes it (gsh_session_read_pieces): the
// bytes written into its buffer, split where ranges of pack files go out
// between them as they are on disk.
#pragma once

#include <cstddef>
#include <cstdint>

#include "git_smart_http.h"
#include "pack/pack_writer.h"

namespace gsh {

class ResponsePieces {
  public:
    // out holds max >= 4 pieces; buf is the caller's buffer.
    ResponsePieces(const uint8_t *buf, gsh_piece *out, size_t max)
        : buf_(buf), out_(out), max_(max) {}

    // Room for one more file range, with the buffer's bytes before it and
    // after it.
    bool room() const { return n_ + 3 <= max_; }
    // The buffer's bytes up to mem_end go out before the range.
    void add_file(const uint8_t *mem_end, const pack::FileRange &r) {
        add_memory(mem_end);
        out_[n_++] = gsh_piece{r.fd, off_t(r.offset), r.len};
    }
    // The read ends with the buffer's bytes up to mem_end; how many pieces
    // it made.
    size_t finish(const uint8_t *mem_end) {
        add_memory(mem_end);
        return n_;
    }

  private:
    void add_memory(const uint8_t *mem_end) {
        const size_t len = size_t(mem_end - buf_) - taken_;
        if (len == 0)
            return;
        out_[n_++] = gsh_piece{-1, 0, len};
        taken_ += len;
    }

    const uint8_t *buf_;
    gsh_piece *out_;
    size_t max_;
    size_t n_ = 0;
    size_t taken_ = 0; // buffer bytes already in a piece
};

} // namespace gsh

// pkt-line framing (gitprotocol-common): reading a request, writing a response.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace gsh::proto {

// Largest pkt-line, header included (LARGE_PACKET_MAX in git).
constexpr size_t kMaxPktLen = 65520;
// Largest side-band payload: a pkt-line minus its header and the band byte.
constexpr size_t kMaxSidebandData = kMaxPktLen - 5;

enum class PktKind { Data, Flush, Delim, ResponseEnd, End };

struct Pkt {
    PktKind kind;
    std::string_view data; // payload of a Data pkt, without a trailing '\n'
};

// Reads pkt-lines from a request body. A malformed length or a body that
// ends inside a pkt-line throws gsh::Error with HTTP status 400.
class PktReader {
  public:
    // Fills buf with up to cap bytes; 0 only at the end. May throw.
    using Source = std::function<size_t(char *buf, size_t cap)>;

    // A complete body, read in place.
    explicit PktReader(std::string_view buf) : buf_(buf) {}
    // A body read from source as the lines are asked for (a gzip body is
    // inflated no further than that): a parser that stops early does not
    // pay for the rest. The data of a Pkt is valid until the next call.
    explicit PktReader(Source source) : source_(std::move(source)) {}
    // PktKind::End once the body is exhausted.
    Pkt next();
    bool at_end() {
        fill(1);
        return pos_ == buf_.size();
    }
    // Bytes of the body taken from the source (or the buffer) so far,
    // including what is buffered and not yet returned.
    size_t bytes_read() const { return dropped_ + buf_.size(); }

  private:
    // Makes at least need unread bytes available when the body has them.
    void fill(size_t need);

    std::string_view buf_;
    size_t pos_ = 0;
    Source source_;
    std::string own_; // what came from source_ and is not consumed yet
    size_t dropped_ = 0;
    bool eof_ = false;
};

void pkt_write(std::string &out, std::string_view payload);
// Appends payload + '\n'.
void pkt_write_line(std::string &out, std::string_view line);
// A line written in place: pkt_begin_line() leaves room for the header and
// returns where; the caller appends the payload without its newline, and
// pkt_end_line() adds the newline and the header (throws gsh::Error when
// the line is too long).
size_t pkt_begin_line(std::string &out);
void pkt_end_line(std::string &out, size_t start);
inline void pkt_flush(std::string &out) {
    out.append("0000", 4);
}
inline void pkt_delim(std::string &out) {
    out.append("0001", 4);
}
// Data on side-band 1, 2 or 3, in pkt-lines of at most max_pkt bytes.
void sideband_write(std::string &out, int band, std::string_view data, size_t max_pkt = kMaxPktLen);
// Writes the 4 hex digits of a pkt-line length at dst.
void pkt_header(char *dst, size_t len);

} // namespace gsh::proto

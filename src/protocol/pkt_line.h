// pkt-line framing (gitprotocol-common): reading a request, writing a response.
#pragma once

#include <cstddef>
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

// Reads pkt-lines from a complete request body. A malformed length or a body
// that ends inside a pkt-line throws gsh::Error with HTTP status 400.
class PktReader {
  public:
    explicit PktReader(std::string_view buf) : buf_(buf) {}
    // PktKind::End once the body is exhausted.
    Pkt next();
    bool at_end() const { return pos_ == buf_.size(); }

  private:
    std::string_view buf_;
    size_t pos_ = 0;
};

void pkt_write(std::string &out, std::string_view payload);
// Appends payload + '\n'.
void pkt_write_line(std::string &out, std::string_view line);
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

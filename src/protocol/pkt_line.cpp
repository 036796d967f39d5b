#include "protocol/pkt_line.h"

#include <algorithm>

#include "util/error.h"
#include "util/hex.h"

namespace gsh::proto {

namespace {

// What a source is asked for at least each time: pkt-lines are small, and
// a parser that stops early leaves at most this much read for nothing.
constexpr size_t kSourceChunk = 64 * 1024;

} // namespace

void PktReader::fill(size_t need) {
    if (!source_ || eof_ || buf_.size() - pos_ >= need)
        return;
    own_.erase(0, pos_);
    dropped_ += pos_;
    pos_ = 0;
    while (own_.size() < need && !eof_) {
        const size_t have = own_.size();
        own_.resize(have + std::max(need - have, kSourceChunk));
        const size_t got = source_(own_.data() + have, own_.size() - have);
        own_.resize(have + got);
        eof_ = got == 0;
    }
    buf_ = own_;
}

Pkt PktReader::next() {
    fill(4);
    if (pos_ == buf_.size())
        return {PktKind::End, {}};
    if (buf_.size() - pos_ < 4)
        throw Error("protocol error: the request ends inside a pkt-line length", 400);
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        int v = hex_value(buf_[pos_ + i]);
        if (v < 0)
            throw Error("protocol error: bad line length character: " +
                            std::string(buf_.substr(pos_, 4)),
                        400);
        len = len * 16 + static_cast<size_t>(v);
    }
    switch (len) {
    case 0:
        pos_ += 4;
        return {PktKind::Flush, {}};
    case 1:
        pos_ += 4;
        return {PktKind::Delim, {}};
    case 2:
        pos_ += 4;
        return {PktKind::ResponseEnd, {}};
    default:
        break;
    }
    if (len < 4 || len > kMaxPktLen)
        throw Error("protocol error: bad line length " + std::to_string(len), 400);
    fill(len);
    if (buf_.size() - pos_ < len)
        throw Error("protocol error: the request ends inside a pkt-line", 400);
    std::string_view data = buf_.substr(pos_ + 4, len - 4);
    pos_ += len;
    if (!data.empty() && data.back() == '\n')
        data.remove_suffix(1);
    return {PktKind::Data, data};
}

void pkt_header(char *dst, size_t len) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 3; i >= 0; i--) {
        dst[i] = hex[len & 0xf];
        len >>= 4;
    }
}

// A longer line would wrap its 4-digit length and corrupt the stream; git
// dies there too.
static void check_length(size_t payload) {
    if (payload + 4 > kMaxPktLen)
        throw Error("protocol error: impossibly long line", 500);
}

void pkt_write(std::string &out, std::string_view payload) {
    check_length(payload.size());
    char hdr[4];
    pkt_header(hdr, payload.size() + 4);
    out.append(hdr, 4);
    out.append(payload);
}

void pkt_write_line(std::string &out, std::string_view line) {
    check_length(line.size() + 1);
    char hdr[4];
    pkt_header(hdr, line.size() + 5);
    out.append(hdr, 4);
    out.append(line);
    out.push_back('\n');
}

size_t pkt_begin_line(std::string &out) {
    const size_t start = out.size();
    out.append(4, '0');
    return start;
}

void pkt_end_line(std::string &out, size_t start) {
    out.push_back('\n');
    const size_t len = out.size() - start;
    check_length(len - 4);
    pkt_header(out.data() + start, len);
}

void sideband_write(std::string &out, int band, std::string_view data, size_t max_pkt) {
    do {
        std::string_view piece = data.substr(0, max_pkt - 5);
        data.remove_prefix(piece.size());
        char hdr[5];
        pkt_header(hdr, piece.size() + 5);
        hdr[4] = static_cast<char>(band);
        out.append(hdr, 5);
        out.append(piece);
    } while (!data.empty());
}

} // namespace gsh::proto

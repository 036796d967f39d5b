#include "util/request_body.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"
#include "util/zlib.h"

namespace gsh {

void RequestBody::add_memory(const void *data, size_t len) {
    pieces_.push_back({std::string(static_cast<const char *>(data), len), -1, 0, len});
    total_ += len;
}

void RequestBody::add_file(int fd, off_t offset, size_t len) {
    pieces_.push_back({std::string(), fd, offset, len});
    total_ += len;
}

namespace {

// inflateInit2's window bits for a gzip member.
constexpr int kGzipWindow = 16 + MAX_WBITS;

[[noreturn]] void too_large(size_t max_size) {
    throw Error("request body is larger than " + std::to_string(max_size) + " bytes", 413);
}

std::string inflate_gzip(const std::string &in, size_t max_size) {
    zlib::Inflater gz(kGzipWindow);
    z_stream &zs = gz.z();
    // Reserved once (untouched pages cost nothing), so that growing never
    // holds two copies of a body near the limit.
    std::string out;
    out.reserve(max_size);
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    size_t in_left = in.size(); // not yet handed to zlib
    char buf[65536];
    int rc;
    do {
        if (zs.avail_in == 0) {
            zs.avail_in = zlib::chunk(in_left);
            in_left -= zs.avail_in;
        }
        zs.next_out = reinterpret_cast<Bytef *>(buf);
        zs.avail_out = sizeof(buf);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            throw Error("corrupt gzip request body", 400);
        const size_t produced = sizeof(buf) - zs.avail_out;
        if (out.size() + produced > max_size)
            too_large(max_size);
        out.append(buf, produced);
        if (rc == Z_OK && zs.avail_in == 0 && in_left == 0 && zs.avail_out != 0)
            throw Error("truncated gzip request body", 400);
    } while (rc != Z_STREAM_END);
    return out;
}

} // namespace

void RequestBody::check_size(size_t max_size) const {
    if (total_ > max_size)
        too_large(max_size);
}

bool RequestBody::in_file() const {
    for (const Piece &p : pieces_)
        if (p.fd >= 0)
            return true;
    return false;
}

std::string RequestBody::read(std::string_view content_encoding, size_t max_size) const {
    bool gzip = content_encoding == "gzip" || content_encoding == "x-gzip";
    if (!content_encoding.empty() && !gzip && content_encoding != "identity")
        throw Error("unsupported Content-Encoding '" + std::string(content_encoding) + "'", 415);
    check_size(max_size);
    std::string raw;
    raw.reserve(total_);
    for (const Piece &p : pieces_) {
        if (p.fd < 0) {
            raw += p.data;
            continue;
        }
        size_t start = raw.size();
        raw.resize(start + p.len);
        size_t done = 0;
        while (done < p.len) {
            ssize_t n = pread(p.fd, raw.data() + start + done, p.len - done,
                              p.offset + static_cast<off_t>(done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw Error(std::string("reading the buffered request body: ") +
                                (n < 0 ? strerror(errno) : "unexpected end of file"),
                            500);
            done += static_cast<size_t>(n);
        }
    }
    return gzip ? inflate_gzip(raw, max_size) : raw;
}

namespace {

constexpr size_t kRawChunk = 64 * 1024;

bool is_gzip(std::string_view content_encoding) {
    const bool gzip = content_encoding == "gzip" || content_encoding == "x-gzip";
    if (!content_encoding.empty() && !gzip && content_encoding != "identity")
        throw Error("unsupported Content-Encoding '" + std::string(content_encoding) + "'", 415);
    return gzip;
}

} // namespace

BodyReader::BodyReader(const RequestBody &body, std::string_view content_encoding,
                       size_t max_inflated)
    : body_(body), gzip_(is_gzip(content_encoding)), max_inflated_(max_inflated) {
    if (!gzip_)
        return;
    gz_ = std::make_unique<zlib::Inflater>(kGzipWindow);
}

BodyReader::~BodyReader() = default;

size_t BodyReader::read_raw(void *buf, size_t cap) {
    size_t n = 0;
    auto *out = static_cast<char *>(buf);
    while (n < cap && piece_ < body_.pieces_.size()) {
        const RequestBody::Piece &p = body_.pieces_[piece_];
        if (piece_pos_ == p.len) {
            piece_++;
            piece_pos_ = 0;
            continue;
        }
        const size_t want = std::min(cap - n, p.len - piece_pos_);
        if (p.fd < 0) {
            std::memcpy(out + n, p.data.data() + piece_pos_, want);
            piece_pos_ += want;
            n += want;
            continue;
        }
        ssize_t got = pread(p.fd, out + n, want, p.offset + static_cast<off_t>(piece_pos_));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            throw Error(std::string("reading the buffered request body: ") +
                            (got < 0 ? strerror(errno) : "unexpected end of file"),
                        500);
        piece_pos_ += static_cast<size_t>(got);
        n += static_cast<size_t>(got);
    }
    return n;
}

size_t BodyReader::read(void *buf, size_t cap) {
    if (cap == 0)
        return 0;
    if (!gzip_) {
        const size_t n = read_raw(buf, cap);
        delivered_ += n;
        return n;
    }
    z_stream *zs = &gz_->z();
    for (;;) {
        if (gzip_end_)
            return 0;
        if (zs->avail_in == 0) {
            in_.resize(kRawChunk);
            const size_t got = read_raw(in_.data(), in_.size());
            in_.resize(got);
            zs->next_in = reinterpret_cast<Bytef *>(in_.data());
            zs->avail_in = static_cast<uInt>(got);
            if (got == 0)
                throw Error("truncated gzip request body", 400);
        }
        // Nothing past the limit is inflated but one byte, to learn whether
        // there is more: a reader that reads ahead (PktReader) for a parser
        // that stops within the limit gets no 413 for what follows.
        const size_t left = max_inflated_ - delivered_;
        char probe;
        const size_t room = left == 0 ? 1 : std::min<size_t>(zlib::chunk(cap), left);
        zs->next_out = reinterpret_cast<Bytef *>(left == 0 ? &probe : static_cast<char *>(buf));
        zs->avail_out = static_cast<uInt>(room);
        const int rc = inflate(zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            throw Error("corrupt gzip request body", 400);
        const size_t produced = room - zs->avail_out;
        if (rc == Z_STREAM_END)
            gzip_end_ = true;
        if (produced > left)
            too_large(max_inflated_);
        delivered_ += produced;
        if (produced > 0)
            return produced;
    }
}

} // namespace gsh

#include "odb/loose_object.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace gsh {

namespace {

// git's header buffer is 32 bytes; a longer one is not a loose object.
constexpr size_t kMaxHeader = 32;
// deflate cannot shrink data more than 1032:1, so a declared size beyond
// that is a lie, which must not become an allocation.
constexpr uint64_t kMaxRatio = 1032;

git_object_t parse_type(std::string_view t) {
    if (t == "blob")
        return GIT_OBJECT_BLOB;
    if (t == "tree")
        return GIT_OBJECT_TREE;
    if (t == "commit")
        return GIT_OBJECT_COMMIT;
    if (t == "tag")
        return GIT_OBJECT_TAG;
    return GIT_OBJECT_INVALID;
}

// "<type> <decimal size>", no sign, no leading zero, as git accepts.
bool parse_header(std::string_view h, git_object_t *type, size_t *size) {
    const size_t sp = h.find(' ');
    if (sp == std::string_view::npos)
        return false;
    *type = parse_type(h.substr(0, sp));
    if (*type == GIT_OBJECT_INVALID)
        return false;
    std::string_view digits = h.substr(sp + 1);
    if (digits.empty() || (digits.size() > 1 && digits[0] == '0'))
        return false;
    size_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return false;
        const size_t d = static_cast<size_t>(c - '0');
        if (n > (std::numeric_limits<size_t>::max() - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *size = n;
    return true;
}

} // namespace

std::string loose_path(const std::string &objects_dir, const git_oid &id) {
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &id);
    return objects_dir + "/" + std::string(hex, 2) + "/" + std::string(hex + 2);
}

LooseObject::~LooseObject() {
    if (fd_ >= 0)
        ::close(fd_);
}

int LooseObject::corrupt(const char *why) {
    git_error_set(GIT_ERROR_ODB, "loose object %s is corrupt: %s", hex_.c_str(), why);
    return GIT_ERROR;
}

// Refills the input when it is used up; false at the end of the file or on
// a read error (read_failed_).
bool LooseObject::fill() {
    if (z().avail_in > 0)
        return true;
    if (eof_)
        return false;
    ssize_t n;
    do
        n = ::read(fd_, in_, sizeof in_);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        eof_ = true;
        read_failed_ = n < 0;
        return false;
    }
    z().next_in = in_;
    z().avail_in = static_cast<uInt>(n);
    return true;
}

int LooseObject::open(const std::string &objects_dir, const git_oid &id) {
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &id);
    hex_ = hex;
    const std::string path = loose_path(objects_dir, id);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return GIT_ENOTFOUND;
        git_error_set(GIT_ERROR_OS, "loose object %s: cannot open %s: %s", hex, path.c_str(),
                      std::strerror(errno));
        return GIT_ERROR;
    }
    struct stat st;
    if (::fstat(fd_, &st) < 0)
        return corrupt("cannot stat its file");
    if (!S_ISREG(st.st_mode))
        return S_ISDIR(st.st_mode) ? GIT_ENOTFOUND : corrupt("not a regular file");
    file_size_ = static_cast<uint64_t>(st.st_size);
    try {
        zs_.emplace();
    } catch (const Error &) {
        return corrupt("cannot start inflate");
    }

    // Inflates just past the header's NUL.
    unsigned char head[sizeof early_];
    size_t got = 0;
    const unsigned char *nul = nullptr;
    while (!nul) {
        if (got >= kMaxHeader)
            return corrupt("header too long");
        if (!fill())
            return corrupt(read_failed_ ? "read error" : "truncated header");
        z().next_out = head + got;
        z().avail_out = static_cast<uInt>(sizeof head - got);
        const unsigned in_before = z().avail_in;
        const size_t got_before = got;
        const int rc = inflate(&z(), Z_NO_FLUSH);
        got = sizeof head - z().avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return corrupt("bad zlib data");
        if (rc != Z_STREAM_END && got == got_before && z().avail_in == in_before)
            return corrupt("bad zlib data");
        nul = static_cast<const unsigned char *>(std::memchr(head, 0, got));
        if (rc == Z_STREAM_END) {
            ended_early_ = true;
            if (!nul)
                return corrupt("truncated header");
        }
    }
    const size_t hlen = static_cast<size_t>(nul - head);
    if (hlen >= kMaxHeader ||
        !parse_header(std::string_view(reinterpret_cast<const char *>(head), hlen), &type_, &size_))
        return corrupt("bad header");
    if (size_ > file_size_ * kMaxRatio + kMaxHeader)
        return corrupt("declared size larger than its file can hold");
    early_len_ = got - hlen - 1;
    if (early_len_ > size_)
        return corrupt("data longer than its declared size");
    std::memcpy(early_, nul + 1, early_len_);
    produced_ = early_len_;
    return 0;
}

// With all the declared data produced: the stream must end here, and the
// file with it.
int LooseObject::finish() {
    if (!ended_early_) {
        unsigned char extra;
        for (;;) {
            if (!fill())
                return corrupt(read_failed_ ? "read error" : "truncated data");
            z().next_out = &extra;
            z().avail_out = 1;
            const unsigned in_before = z().avail_in;
            const int rc = inflate(&z(), Z_NO_FLUSH);
            if (rc == Z_STREAM_END && z().avail_out == 1)
                break;
            if (z().avail_out == 0)
                return corrupt("data longer than its declared size");
            if (rc != Z_OK && rc != Z_BUF_ERROR)
                return corrupt("bad zlib data");
            if (z().avail_in == in_before && z().avail_in > 0)
                return corrupt("bad zlib data");
        }
    }
    if (z().avail_in > 0 || fill() || read_failed_)
        return corrupt(read_failed_ ? "read error" : "garbage at end");
    done_ = true;
    return 0;
}

int LooseObject::read(char *out, size_t len) {
    if (done_)
        return 0;
    const size_t already = produced_ - (early_len_ - early_pos_);
    // One zlib call's worth at most, which also fits the int returned.
    static_assert(zlib::kMaxChunk <= size_t(std::numeric_limits<int>::max()));
    const size_t want = std::min({size_ - already, len, zlib::kMaxChunk});
    if (want == 0)
        return already == size_ ? finish() : 0;
    size_t n = 0;
    if (early_pos_ < early_len_) {
        n = std::min(want, early_len_ - early_pos_);
        std::memcpy(out, early_ + early_pos_, n);
        early_pos_ += n;
        return static_cast<int>(n);
    }
    if (ended_early_)
        return corrupt("data shorter than its declared size");
    while (n == 0) {
        if (!fill())
            return corrupt(read_failed_ ? "read error" : "truncated data");
        z().next_out = reinterpret_cast<unsigned char *>(out);
        z().avail_out = static_cast<uInt>(want);
        const unsigned in_before = z().avail_in;
        const int rc = inflate(&z(), Z_NO_FLUSH);
        n = want - z().avail_out;
        produced_ += n;
        if (rc == Z_STREAM_END) {
            ended_early_ = true;
            if (produced_ < size_)
                return corrupt("data shorter than its declared size");
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return corrupt("bad zlib data");
        } else if (n == 0 && z().avail_in == in_before && z().avail_in > 0) {
            return corrupt("bad zlib data");
        }
    }
    return static_cast<int>(n);
}

int LooseObject::read_all(char *out) {
    size_t at = 0;
    for (;;) {
        const int n = read(out + at, size_ - at);
        if (n < 0)
            return n;
        if (n == 0)
            return at == size_ ? 0 : corrupt("data shorter than its declared size");
        at += static_cast<size_t>(n);
    }
}

} // namespace gsh

#include "service/response_tee.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gsh {

void ResponseTee::fail(const char *what) {
    error_ = std::string(what) + ": " + std::strerror(errno);
}

void ResponseTee::add(const uint8_t *buf, size_t len) {
    while (active() && len > 0) {
        const ssize_t n = ::write(fd_, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fail("writing the pack cache file");
            return;
        }
        buf += n;
        len -= size_t(n);
        bytes_ += uint64_t(n);
    }
}

void ResponseTee::add(const uint8_t *buf, const gsh_piece *pieces, size_t n) {
    for (size_t i = 0; i < n && active(); ++i) {
        if (pieces[i].fd < 0) {
            add(buf, pieces[i].len);
            buf += pieces[i].len;
        } else {
            copy_file(pieces[i].fd, pieces[i].offset, pieces[i].len);
        }
    }
}

// In the kernel where it can (copy_file_range), else through a buffer.
void ResponseTee::copy_file(int fd, off_t offset, size_t len) {
    while (active() && len > 0) {
        ssize_t n = ::copy_file_range(fd, &offset, fd_, nullptr, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
            uint8_t chunk[32768];
            n = ::pread(fd, chunk, len < sizeof chunk ? len : sizeof chunk, offset);
            if (n > 0) {
                offset += n;
                len -= size_t(n);
                add(chunk, size_t(n));
                continue;
            }
        }
        if (n <= 0) {
            fail("copying into the pack cache file");
            return;
        }
        len -= size_t(n);
        bytes_ += uint64_t(n);
    }
}

} // namespace gsh

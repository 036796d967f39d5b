#include "repo/lock_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

namespace gsh {

namespace {

// git seeds rand() once per process with its pid; each thread here draws
// from its own generator so that two workers' retries do not march in step.
unsigned random_below(unsigned n) {
    thread_local std::minstd_rand gen(
        static_cast<unsigned>(getpid()) ^
        static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id())));
    return static_cast<unsigned>(gen() % n);
}

} // namespace

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

LockFile::LockFile(LockFile &&other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
    other.path_.clear();
    other.fd_ = -1;
}

LockFile &LockFile::operator=(LockFile &&other) noexcept {
    if (this != &other) {
        rollback();
        path_ = std::move(other.path_);
        fd_ = other.fd_;
        other.path_.clear();
        other.fd_ = -1;
    }
    return *this;
}

bool LockFile::create(const std::string &path) {
    rollback();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return false;
    fd_ = fd;
    path_ = path;
    return true;
}

bool LockFile::lock(const std::string &target, long timeout_ms) {
    const std::string path = target + ".lock";
    if (timeout_ms == 0)
        return create(path);
    // lockfile.c's lock_file_timeout(): the n-th wait is about n*n ms,
    // capped at a second.
    long remaining_ms = timeout_ms;
    long multiplier = 1;
    long n = 1;
    for (;;) {
        if (create(path))
            return true;
        if (errno != EEXIST)
            return false;
        if (timeout_ms > 0 && remaining_ms <= 0)
            return false;
        const long wait_ms = (750 + static_cast<long>(random_below(500))) * multiplier / 1000;
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
        remaining_ms -= wait_ms;
        multiplier += 2 * n + 1;
        if (multiplier > 1000)
            multiplier = 1000;
        else
            n++;
    }
}

bool LockFile::write_and_close(std::string_view data, bool fsync) {
    if (fd_ < 0) {
        errno = EBADF;
        return false;
    }
    if (!write_all(fd_, data) || (fsync && ::fsync(fd_) < 0)) {
        const int err = errno;
        close();
        errno = err;
        return false;
    }
    return close();
}

bool LockFile::close() {
    if (fd_ < 0)
        return true;
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
}

bool LockFile::commit(const std::string &dest) {
    if (!close() || ::rename(path_.c_str(), dest.c_str()) < 0) {
        const int err = errno;
        rollback();
        errno = err;
        return false;
    }
    path_.clear();
    return true;
}

void LockFile::rollback() {
    const int err = errno;
    close();
    if (!path_.empty())
        ::unlink(path_.c_str());
    path_.clear();
    errno = err;
}

std::string unable_to_lock_message(const std::string &shown_path, int err) {
    std::string msg = "Unable to create '" + shown_path + ".lock': " + std::strerror(err);
    if (err == EEXIST)
        msg += ".\n\n"
               "Another git process seems to be running in this repository, e.g.\n"
               "an editor opened by 'git commit'. Please make sure all processes\n"
               "are terminated then try again. If it still fails, a git process\n"
               "may have crashed in this repository earlier:\n"
               "remove the file manually to continue.";
    return msg;
}

} // namespace gsh

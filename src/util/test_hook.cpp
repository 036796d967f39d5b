#include "util/test_hook.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/fd.h"

namespace gsh {

void test_stall_hook(const char *variable, const std::string &repo_path,
                     const std::function<void()> &checkpoint) {
    const char *name = std::getenv(variable);
    if (!name || !*name || std::strchr(name, '/'))
        return;
    std::string fifo = repo_path + "/" + name;
    struct stat st;
    if (lstat(fifo.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode))
        return;
    // Non-blocking, so that the open does not wait for a writer; Linux
    // reports POLLHUP on it only once a writer has come and gone.
    const Fd fd(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd)
        return;
    for (;;) {
        if (checkpoint)
            checkpoint();
        struct pollfd p = {fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0)
            continue;
        char buf[64];
        const ssize_t k = ::read(fd.get(), buf, sizeof(buf));
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
            return;
    }
}

} // namespace gsh

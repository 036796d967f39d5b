#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/fd.h"

extern char **environ;

namespace gsh {

namespace {

// A descriptor numbered 3 or more, so that the child's dup2 onto 0, 1 or 2
// always makes a new descriptor without FD_CLOEXEC.
bool above_stdio(Fd &fd) {
    if (fd.get() > 2)
        return true;
    int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return false;
    fd.reset(moved);
    return true;
}

bool make_pipe(Fd &read_end, Fd &write_end) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return false;
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
    return above_stdio(read_end) && above_stdio(write_end);
}

bool open_devnull(Fd &fd) {
    fd.reset(open("/dev/null", O_RDWR | O_CLOEXEC));
    return fd && above_stdio(fd);
}

bool set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// Writes to a pipe whose reader is gone fail with EPIPE instead of killing
// the process: SIGPIPE is blocked in this thread while the program runs, and
// one that our writes raised is taken off before the mask is restored.
class SigpipeBlock {
  public:
    SigpipeBlock() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeBlock() {
        if (raised_ && !was_pending_) {
            struct timespec zero = {0, 0};
            while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeBlock(const SigpipeBlock &) = delete;
    SigpipeBlock &operator=(const SigpipeBlock &) = delete;
    void raised() { raised_ = true; }

  private:
    sigset_t pipe_;
    sigset_t old_;
    bool was_pending_ = false;
    bool raised_ = false;
};

// What the waiter writes into the report pipe, once, when the program has
// ended (or could not start).
struct Report {
    int start_errno; // why the program could not be started, 0 when it was
    int pid;         // the program's
    int waited;      // 1 once wait_status holds the program's status
    int wait_status;
    int timed_out; // 1 when the waiter killed it
};

// What the waiter and the program are to do, prepared by the parent: the
// processes made from a copy of the multi-threaded worker make only
// async-signal-safe calls and allocate nothing.
struct ChildPlan {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *dir; // nullptr: stay
    int stdin_fd, stdout_fd, stderr_fd;
    int report_fd;
    int max_fd;
    long long timeout_ms; // 0: none
    void *program_stack;  // the top of the program's stack until execve
    int start_errno;      // set in the waiter's memory when execve fails
};

__attribute__((no_sanitize("address", "undefined"))) void close_from(int first, int max_fd) {
    if (close_range(static_cast<unsigned>(first), ~0U, 0) < 0)
        for (int fd = first; fd < max_fd; ++fd)
            close(fd);
}

__attribute__((no_sanitize("address", "undefined"))) void close_all_but(int keep, int max_fd) {
    if (keep > 0 && close_range(0, static_cast<unsigned>(keep - 1), 0) < 0)
        for (int fd = 0; fd < keep; ++fd)
            close(fd);
    close_from(keep + 1, max_fd);
}

// The program's process, between clone and execve.
__attribute__((no_sanitize("address", "undefined"))) int exec_program(void *arg) {
    ChildPlan *plan = static_cast<ChildPlan *>(arg);
    if (dup2(plan->stdin_fd, 0) < 0 || dup2(plan->stdout_fd, 1) < 0 ||
        dup2(plan->stderr_fd, 2) < 0 || (plan->dir && chdir(plan->dir) < 0) ||
        (plan->timeout_ms > 0 && setpgid(0, 0) < 0)) {
        plan->start_errno = errno;
        _exit(127);
    }
    // nginx's own descriptors (sockets, logs) are mostly not close-on-exec.
    close_from(3, plan->max_fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(plan->path, plan->argv, plan->envp);
    plan->start_errno = errno;
    _exit(127);
}

__attribute__((no_sanitize("address", "undefined"))) long long
ms_until(const struct timespec &deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline.tv_sec - now.tv_sec) * 1000LL + (deadline.tv_nsec - now.tv_nsec) / 1000000;
}

// Waits for the program until its deadline, then kills its process group
// (its children with it, which could hold our pipes open). Every signal is
// blocked in the waiter, so the program's SIGCHLD stays pending until
// sigtimedwait takes it, whenever it came.
__attribute__((no_sanitize("address", "undefined"))) void
wait_until_deadline(pid_t pid, long long timeout_ms, Report &report) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += static_cast<time_t>(timeout_ms / 1000);
    deadline.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        int status = 0;
        const pid_t got = waitpid(pid, &status, __WALL | WNOHANG);
        if (got == pid) {
            report.wait_status = status;
            report.waited = 1;
            return;
        }
        if (got < 0 && errno != EINTR)
            return;
        const long long left = ms_until(deadline);
        if (left <= 0)
            break;
        struct timespec wait = {static_cast<time_t>(left / 1000),
                                static_cast<long>(left % 1000) * 1000000L};
        sigtimedwait(&chld, nullptr, &wait);
    }
    // Not reaped yet: its pid and group cannot have gone to another.
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    report.timed_out = 1;
}

// The waiter: a copy of the worker that starts the program, waits for it and
// reports its status. nginx's worker reaps every child with waitpid(-1)
// when SIGCHLD comes, which would take the program's status from us; the
// waiter is a child without an exit signal, which that waitpid (without
// __WCLONE) neither sees nor reaps, and the program is the waiter's child.
// (execve would make the program itself a plain child again.)
__attribute__((no_sanitize("address", "undefined"))) int waiter_main(void *arg) {
    ChildPlan *plan = static_cast<ChildPlan *>(arg);
    // Every signal is blocked (the parent blocked them before clone): make
    // every disposition the default (nginx ignores SIGPIPE, which execve
    // would keep, and its handlers must not run here). The program unblocks.
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig)
        sigaction(sig, &dfl, nullptr);
    Report report;
    std::memset(&report, 0, sizeof report);
    // As vfork would (whose ASan interceptor fails on this stack).
    const pid_t pid =
        clone(exec_program, plan->program_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, plan);
    report.pid = pid;
    report.start_errno = pid < 0 ? errno : plan->start_errno;
    // Our copies of the pipes' ends would keep them open.
    close_all_but(plan->report_fd, plan->max_fd);
    if (pid > 0 && plan->timeout_ms > 0 && report.start_errno == 0)
        wait_until_deadline(pid, plan->timeout_ms, report);
    if (pid > 0 && !report.waited) {
        int status = 0;
        pid_t got;
        while ((got = waitpid(pid, &status, __WALL)) < 0 && errno == EINTR) {
        }
        report.wait_status = status;
        report.waited = got == pid;
    }
    // Less than PIPE_BUF: written whole or not at all.
    while (write(plan->report_fd, &report, sizeof report) < 0 && errno == EINTR) {
    }
    _exit(0);
}

// The stacks of the waiter and of the program until its execve.
class Stacks {
  public:
    static constexpr size_t kStack = 64 * 1024;
    Stacks() {
        void *p = mmap(nullptr, 2 * kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        base_ = p == MAP_FAILED ? nullptr : static_cast<char *>(p);
    }
    ~Stacks() {
        if (base_)
            munmap(base_, 2 * kStack);
    }
    Stacks(const Stacks &) = delete;
    Stacks &operator=(const Stacks &) = delete;
    explicit operator bool() const { return base_ != nullptr; }
    // The program's below, the waiter's above (each in the waiter's copy).
    void *program_top() const { return base_ + kStack; }
    void *waiter_top() const { return base_ + 2 * kStack; }

  private:
    char *base_ = nullptr;
};

// Starts the waiter (no CLONE_VM: it outlives this call's stack frame and
// runs beside this thread). -1 when it could not be started.
pid_t start_waiter(ChildPlan &plan) {
    Stacks stacks;
    if (!stacks)
        return -1;
    plan.program_stack = stacks.program_top();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    // The low byte of the flags is the exit signal: none.
    pid_t pid = clone(waiter_main, stacks.waiter_top(), 0, &plan);
    const int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return pid;
}

void wait_waiter(pid_t pid) {
    int status;
    while (waitpid(pid, &status, __WCLONE) < 0 && errno == EINTR) {
    }
}

bool executable_file(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// program as execvp finds it; "" when it is nowhere in PATH.
std::string resolve_program(const std::string &program) {
    if (program.find('/') != std::string::npos)
        return program;
    const char *env_path = getenv("PATH");
    std::string_view path = env_path ? env_path : "/bin:/usr/bin";
    for (;;) {
        const size_t colon = path.find(':');
        const std::string_view dir = path.substr(0, colon);
        const std::string candidate =
            (dir.empty() ? std::string(".") : std::string(dir)) + "/" + program;
        if (executable_file(candidate))
            return candidate;
        if (colon == std::string_view::npos)
            return std::string();
        path.remove_prefix(colon + 1);
    }
}

int descriptor_limit() {
    struct rlimit nofile;
    return getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
               ? static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20))
               : 1 << 16;
}

// NULL-terminated pointers into strings that outlive them.
std::vector<char *> pointers(std::vector<std::string> &strings) {
    std::vector<char *> out;
    for (std::string &s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Our ends of the program's standard streams, and its ends until it starts.
struct Streams {
    Fd in_read, in_write;   // its input
    Fd out_read, out_write; // its output, when it is read
    Fd err_read, err_write; // its error, when it is read apart
    Fd devnull;             // for what is not read

    bool open(const Subprocess &cmd) {
        const bool err_apart = !cmd.merge_stderr && cmd.on_stderr;
        const bool unread = !cmd.on_stdout || (!cmd.merge_stderr && !cmd.on_stderr);
        return make_pipe(in_read, in_write) && (!cmd.on_stdout || make_pipe(out_read, out_write)) &&
               (!err_apart || make_pipe(err_read, err_write)) && (!unread || open_devnull(devnull));
    }
    int stdout_fd() const { return out_write ? out_write.get() : devnull.get(); }
    int stderr_fd(bool merged) const {
        return merged ? stdout_fd() : err_write ? err_write.get() : devnull.get();
    }
    void close_child_ends() {
        in_read.reset();
        out_write.reset();
        err_write.reset();
        devnull.reset();
    }
    void close_all() {
        close_child_ends();
        in_write.reset();
        out_read.reset();
        err_read.reset();
    }
};

// Hands what is readable on fd to on_data; closes fd at its end.
void drain(Fd &fd, std::string &buf, const OutputFn &on_data) {
    const ssize_t r = read(fd.get(), buf.data(), buf.size());
    if (r > 0)
        on_data(std::string_view(buf.data(), static_cast<size_t>(r)));
    else if (r == 0 || (errno != EAGAIN && errno != EINTR))
        fd.reset();
}

// Feeds the input and hands over the output until every stream is done: a
// program may close its output and go on reading (its end makes our writes
// fail with EPIPE at the latest).
void pump(Streams &s, const Subprocess &cmd, SigpipeBlock &sigpipe) {
    if (cmd.input.empty() || !set_nonblocking(s.in_write.get()))
        s.in_write.reset();
    for (Fd *fd : {&s.out_read, &s.err_read})
        if (*fd)
            set_nonblocking(fd->get());
    std::string buf(64 * 1024, '\0');
    size_t written = 0;
    while (s.out_read || s.err_read || s.in_write) {
        struct pollfd fds[3] = {{s.out_read.get(), POLLIN, 0},
                                {s.in_write.get(), POLLOUT, 0},
                                {s.err_read.get(), POLLIN, 0}};
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents) {
            const ssize_t w =
                write(s.in_write.get(), cmd.input.data() + written, cmd.input.size() - written);
            if (w > 0) {
                written += static_cast<size_t>(w);
                if (written == cmd.input.size())
                    s.in_write.reset();
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                // EPIPE: the program does not read its input, which is its right.
                if (errno == EPIPE)
                    sigpipe.raised();
                s.in_write.reset();
            }
        }
        if (fds[0].revents)
            drain(s.out_read, buf, cmd.on_stdout);
        if (fds[2].revents)
            drain(s.err_read, buf, cmd.on_stderr);
    }
}

// The waiter's report, read to its end (the waiter's exit); false when it
// ended without one.
bool read_report(int fd, Report &report) {
    size_t have = 0;
    char *p = reinterpret_cast<char *>(&report);
    while (have < sizeof report) {
        const ssize_t r = read(fd, p + have, sizeof report - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        have += static_cast<size_t>(r);
    }
    return true;
}

SubprocessResult result_of(const Report &report) {
    SubprocessResult result;
    result.start_errno = report.start_errno;
    result.pid = report.pid;
    result.ended = report.waited == 1;
    result.wait_status = report.wait_status;
    result.timed_out = report.timed_out == 1;
    return result;
}

} // namespace

int SubprocessResult::status() const {
    if (start_errno != 0 || !ended)
        return -1;
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return -1;
}

SubprocessResult run_subprocess(const Subprocess &cmd) {
    SubprocessResult failed;
    std::string path = resolve_program(cmd.program);
    if (path.empty()) {
        failed.start_errno = ENOENT;
        return failed;
    }
    std::vector<std::string> argv_store{cmd.program};
    argv_store.insert(argv_store.end(), cmd.args.begin(), cmd.args.end());
    std::vector<std::string> env_store = cmd.env;
    std::vector<char *> argv = pointers(argv_store), envp = pointers(env_store);

    Streams streams;
    Fd report_read, report_write;
    if (!streams.open(cmd) || !make_pipe(report_read, report_write)) {
        failed.start_errno = errno ? errno : EMFILE;
        return failed;
    }
    ChildPlan plan{path.c_str(),
                   argv.data(),
                   envp.data(),
                   cmd.dir.empty() ? nullptr : cmd.dir.c_str(),
                   streams.in_read.get(),
                   streams.stdout_fd(),
                   streams.stderr_fd(cmd.merge_stderr),
                   report_write.get(),
                   descriptor_limit(),
                   cmd.timeout.count() > 0 ? static_cast<long long>(cmd.timeout.count()) : 0,
                   nullptr,
                   0};

    SigpipeBlock sigpipe;
    const pid_t waiter = start_waiter(plan);
    if (waiter < 0) {
        failed.start_errno = errno;
        return failed;
    }
    streams.close_child_ends();
    report_write.reset();

    // From here the waiter must be reaped whatever happens, on_stdout
    // throwing included: closing our ends lets the program run to its end.
    try {
        pump(streams, cmd, sigpipe);
    } catch (...) {
        streams.close_all();
        wait_waiter(waiter);
        throw;
    }
    streams.close_all();
    Report report;
    std::memset(&report, 0, sizeof report);
    const bool reported = read_report(report_read.get(), report);
    wait_waiter(waiter);
    // A waiter that ended without a report leaves the status unknown.
    return reported ? result_of(report) : failed;
}

std::vector<std::string>
environment_with(const std::vector<std::pair<std::string, std::string>> &vars,
                 const std::function<bool(std::string_view name)> &drop) {
    std::vector<std::string> out;
    for (char **e = environ; e && *e; ++e) {
        const std::string_view entry = *e;
        const std::string_view name = entry.substr(0, entry.find('='));
        if (drop && drop(name))
            continue;
        if (std::any_of(vars.begin(), vars.end(), [&](const auto &kv) { return kv.first == name; }))
            continue;
        out.emplace_back(entry);
    }
    for (const auto &[name, value] : vars)
        out.push_back(name + "=" + value);
    return out;
}

} // namespace gsh

#include "push/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "util/git_ptr.h"

extern char **environ;

namespace gsh {

namespace {

// What a shell hook needs to find git and coreutils when nginx has cleared
// the worker's environment.
constexpr const char *kDefaultPath = "PATH=/usr/local/bin:/usr/bin:/bin";

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset(int fd = -1) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

// A pipe end numbered 3 or more, so that the child's dup2 onto 0, 1 or 2
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

bool set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

bool is_git_var(std::string_view entry) {
    return entry.starts_with("GIT_");
}

std::string_view var_name(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

std::vector<std::string> hook_environment(const HookEnv &env) {
    std::vector<std::string> out;
    bool has_path = false;
    for (char **e = environ; e && *e; ++e) {
        std::string_view entry = *e;
        std::string_view name = var_name(entry);
        if (is_git_var(name))
            continue;
        bool replaced = false;
        for (const auto &[k, v] : env.vars)
            replaced = replaced || k == name;
        if (replaced)
            continue;
        has_path = has_path || name == "PATH";
        out.emplace_back(entry);
    }
    for (const auto &[k, v] : env.vars) {
        has_path = has_path || k == "PATH";
        out.push_back(k + "=" + v);
    }
    if (!has_path)
        out.emplace_back(kDefaultPath);
    return out;
}

// Writes to a pipe whose reader is gone fail with EPIPE instead of killing
// the process: SIGPIPE is blocked in this thread while the hook runs, and
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

// What the hook's process is to be, prepared by the parent: the processes
// made from a copy of the multi-threaded worker make only
// async-signal-safe calls and allocate nothing.
struct ChildPlan {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *dir;
    int stdin_fd;
    int output_fd;
    int max_fd;
    struct Report *report;
    void *hook_stack; // the top of the hook's stack until execve
};

// Written by the waiter process into memory shared with the parent.
struct Report {
    int start_errno; // why the hook could not be started, 0 when it was
    int waited;      // 1 once wait_status holds the hook's status
    int wait_status;
};

__attribute__((no_sanitize("address", "undefined"))) void close_from(int first, int max_fd) {
    if (close_range(static_cast<unsigned>(first), ~0U, 0) < 0)
        for (int fd = first; fd < max_fd; ++fd)
            close(fd);
}

// The hook's process, between clone and execve.
__attribute__((no_sanitize("address", "undefined"))) int exec_hook(void *arg) {
    const ChildPlan *plan = static_cast<const ChildPlan *>(arg);
    if (dup2(plan->stdin_fd, 0) < 0 || dup2(plan->output_fd, 1) < 0 ||
        dup2(plan->output_fd, 2) < 0 || chdir(plan->dir) < 0) {
        plan->report->start_errno = errno;
        _exit(127);
    }
    // nginx's own descriptors (sockets, logs) are mostly not close-on-exec.
    close_from(3, plan->max_fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(plan->path, plan->argv, plan->envp);
    plan->report->start_errno = errno;
    _exit(127);
}

// The waiter: a copy of the worker that starts the hook, waits for it and
// reports its status. nginx's worker reaps every child with waitpid(-1)
// when SIGCHLD comes, which would take the hook's status from us; the
// waiter is a child without an exit signal, which that waitpid (without
// __WCLONE) neither sees nor reaps, and the hook is the waiter's child.
// (execve would make the hook itself a plain child again.)
__attribute__((no_sanitize("address", "undefined"))) int waiter_main(void *arg) {
    const ChildPlan *plan = static_cast<const ChildPlan *>(arg);
    // Every signal is blocked (the parent blocked them before clone): make
    // every disposition the default (nginx ignores SIGPIPE, which execve
    // would keep, and its handlers must not run here). The hook unblocks.
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig)
        sigaction(sig, &dfl, nullptr);
    // As vfork would (whose ASan interceptor fails on this stack).
    pid_t pid = clone(exec_hook, plan->hook_stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                      const_cast<ChildPlan *>(plan));
    if (pid < 0) {
        plan->report->start_errno = errno;
        _exit(1);
    }
    // Our copies of both pipes' ends would keep them open.
    close_from(0, plan->max_fd);
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0)
        if (errno != EINTR)
            _exit(1);
    plan->report->wait_status = status;
    plan->report->waited = 1;
    _exit(0);
}

// An anonymous mapping: the waiter's stack, or the shared report.
class Mapping {
  public:
    Mapping(size_t size, int flags) : size_(size) {
        void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
        base_ = p == MAP_FAILED ? nullptr : p;
    }
    ~Mapping() {
        if (base_)
            munmap(base_, size_);
    }
    Mapping(const Mapping &) = delete;
    Mapping &operator=(const Mapping &) = delete;
    void *base() const { return base_; }
    void *end() const { return base_ ? static_cast<char *>(base_) + size_ : nullptr; }

  private:
    size_t size_;
    void *base_ = nullptr;
};

// Starts the waiter (no CLONE_VM: it outlives this call's stack frame and
// runs beside this thread). -1 when it could not be started.
pid_t start_waiter(ChildPlan &plan) {
    // The hook's stack below, the waiter's above (each in the waiter's copy).
    constexpr size_t kStack = 64 * 1024;
    Mapping stack(2 * kStack, MAP_PRIVATE | MAP_STACK);
    if (!stack.base())
        return -1;
    plan.hook_stack = static_cast<char *>(stack.base()) + kStack;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    // The low byte of the flags is the exit signal: none.
    pid_t pid = clone(waiter_main, stack.end(), 0, &plan);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return pid;
}

void wait_waiter(pid_t pid) {
    int status;
    while (waitpid(pid, &status, __WCLONE) < 0 && errno == EINTR) {
    }
}

int hook_status(const Report &report) {
    if (report.start_errno != 0 || !report.waited)
        return -1;
    if (WIFEXITED(report.wait_status))
        return WEXITSTATUS(report.wait_status);
    if (WIFSIGNALED(report.wait_status))
        return 128 + WTERMSIG(report.wait_status);
    return -1;
}

} // namespace

std::string find_hook(const std::string &git_dir, const std::string &name) {
    std::string dir = git_dir + "/hooks";
    git_repository *raw_repo = nullptr;
    if (git_repository_open_ext(&raw_repo, git_dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH,
                                nullptr) == 0) {
        RepoPtr repo(raw_repo);
        git_config *raw_cfg = nullptr;
        if (git_repository_config_snapshot(&raw_cfg, repo.get()) == 0) {
            ConfigPtr cfg(raw_cfg);
            git_buf buf = GIT_BUF_INIT;
            // git_config_get_path expands "~/" as git does.
            if (git_config_get_path(&buf, cfg.get(), "core.hookspath") == 0) {
                std::string configured(buf.ptr, buf.size);
                if (!configured.empty())
                    dir = configured.front() == '/' ? configured : git_dir + "/" + configured;
            }
            git_buf_dispose(&buf);
        }
    }
    git_error_clear();
    std::string path = dir + "/" + name;
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0)
        return std::string();
    return path;
}

int run_hook(const std::string &path, const std::vector<std::string> &args,
             const std::string &git_dir, const HookEnv &env, std::string_view stdin_data,
             const std::function<void(std::string_view)> &on_output) {
    std::vector<std::string> argv_store;
    argv_store.push_back(path);
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (std::string &a : argv_store)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_store = hook_environment(env);
    std::vector<char *> envp;
    for (std::string &e : env_store)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    Fd in_read, in_write, out_read, out_write;
    if (!make_pipe(in_read, in_write) || !make_pipe(out_read, out_write))
        return -1;
    struct rlimit nofile;
    int max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                     ? static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20))
                     : 1 << 16;
    Mapping shared(sizeof(Report), MAP_SHARED);
    if (!shared.base())
        return -1;
    Report *report = new (shared.base()) Report{0, 0, 0};
    ChildPlan plan{path.c_str(),    argv.data(), envp.data(), git_dir.c_str(), in_read.get(),
                   out_write.get(), max_fd,      report,      nullptr};

    SigpipeBlock sigpipe;
    pid_t pid = start_waiter(plan);
    if (pid < 0)
        return -1;
    in_read.reset();
    out_write.reset();

    // From here the child must be reaped whatever happens, on_output throwing
    // included: closing our ends lets it run to its end.
    try {
        if (stdin_data.empty() || !set_nonblocking(in_write.get()))
            in_write.reset();
        set_nonblocking(out_read.get());
        std::string buf(64 * 1024, '\0');
        size_t written = 0;
        // Until both pipes are done: a hook may close its output and go on
        // reading (its exit makes our writes fail with EPIPE at the latest).
        while (out_read || in_write) {
            struct pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {in_write.get(), POLLOUT, 0}};
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            if (fds[1].revents) {
                ssize_t w =
                    write(in_write.get(), stdin_data.data() + written, stdin_data.size() - written);
                if (w > 0) {
                    written += static_cast<size_t>(w);
                    if (written == stdin_data.size())
                        in_write.reset();
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    // EPIPE: the hook does not read its input, which is its right.
                    if (errno == EPIPE)
                        sigpipe.raised();
                    in_write.reset();
                }
            }
            if (fds[0].revents) {
                ssize_t r = read(out_read.get(), buf.data(), buf.size());
                if (r > 0)
                    on_output(std::string_view(buf.data(), static_cast<size_t>(r)));
                else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                    out_read.reset();
            }
        }
    } catch (...) {
        in_write.reset();
        out_read.reset();
        wait_waiter(pid);
        throw;
    }
    in_write.reset();
    out_read.reset();
    wait_waiter(pid);
    return hook_status(*report);
}

} // namespace gsh

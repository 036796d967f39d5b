// Running a program as a child process from an nginx worker: a hook, git
// index-pack.
//
// It is called on a thread-pool thread of a multi-threaded worker whose
// SIGCHLD handler reaps every child with waitpid(-1), which would take the
// child's status from us. So the program is the child of a waiter process
// that has no exit signal, which that handler neither sees nor reaps: the
// waiter waits for the program and writes its real status into a pipe
// (subprocess.cpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gsh {

using OutputFn = std::function<void(std::string_view)>;

struct Subprocess {
    // A path, or a name without '/' looked up in the caller's PATH (as
    // execvp does; /bin:/usr/bin when there is none).
    std::string program;
    // Its arguments after argv[0], which is program.
    std::vector<std::string> args;
    // Its whole environment, "NAME=value" each (environment_with()).
    std::vector<std::string> env;
    // Where it starts; "": the caller's working directory.
    std::string dir;
    // Written to its standard input, which is closed after it (at once when
    // empty). The program may leave it unread: it is then dropped.
    std::string_view input;
    // Its standard output and error as they arrive, on the calling thread.
    // A stream without a function goes to /dev/null. With merge_stderr the
    // error goes where the output goes, in the order written.
    OutputFn on_stdout;
    OutputFn on_stderr;
    bool merge_stderr = false;
    // 0: none. Else it starts in a process group of its own, which is
    // killed (SIGKILL) when the program has not ended this long after it
    // started.
    std::chrono::milliseconds timeout{0};
};

struct SubprocessResult {
    // Why it could not be started (the program not found, not executable,
    // no pipe or process to be had); 0 when it was.
    int start_errno = 0;
    // Its status was had (then in wait_status, as waitpid gives it).
    bool ended = false;
    int wait_status = 0;
    // It was killed because it outlived the timeout.
    bool timed_out = false;
    pid_t pid = -1; // the program's, once started

    // The exit status; 128 + the signal's number when it was killed (as a
    // shell says); -1 when it was not started.
    int status() const;
};

// Runs cmd to its end: feeds its input, hands over its output, and returns
// once the program has ended and every stream is at its end. Nothing is left
// to reap, an on_stdout or on_stderr that throws included (the exception
// then leaves after the program ended). The program starts with every
// signal at its default disposition and unblocked, and with only the
// descriptors 0, 1 and 2 of the caller's.
SubprocessResult run_subprocess(const Subprocess &cmd);

// The caller's environment (environ) without the variables for which drop
// says true and those that vars sets, then vars, in their order.
std::vector<std::string>
environment_with(const std::vector<std::pair<std::string, std::string>> &vars,
                 const std::function<bool(std::string_view name)> &drop = {});

} // namespace gsh

// The repository hooks of a push (pre-receive, update, post-receive,
// post-update): where they are and running one as a child process
// (util/subprocess.h, whose waiter keeps the hook's status from nginx's
// SIGCHLD handler).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gsh {

struct HookEnv {
    // Added to the worker's environment, replacing variables of the same name.
    std::vector<std::pair<std::string, std::string>> vars;
};

// The path of the repository's executable hook called name, or "" when there
// is none (a hook file without the executable bit is ignored, as by git).
// git_dir is the git directory (".git" of a repository with a work tree).
// core.hooksPath replaces <git_dir>/hooks; git runs push hooks in $GIT_DIR,
// so a relative core.hooksPath is taken from git_dir.
std::string find_hook(const std::string &git_dir, const std::string &name);

// Runs the hook at path with args, in git_dir, feeding stdin_data to its
// standard input (a hook may leave it unread) and handing its standard output
// and error, merged, to on_output as they arrive. The hook's environment is
// the worker's without its GIT_* variables, plus env.vars, plus a default
// PATH when neither has one. Returns the exit status, 128 + the signal's
// number when it was killed, -1 when it could not be started.
int run_hook(const std::string &path, const std::vector<std::string> &args,
             const std::string &git_dir, const HookEnv &env, std::string_view stdin_data,
             const std::function<void(std::string_view)> &on_output);

} // namespace gsh

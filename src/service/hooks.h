// TEMPORARY STUB of the hook runner (the hooks helper writes the real one):
// the interface receive-pack calls, with no hook ever found.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gsh {

struct HookEnv {
    std::vector<std::pair<std::string, std::string>> vars;
};

// "" when the repository has no executable hook of that name (core.hooksPath honoured).
std::string find_hook(const std::string &git_dir, const std::string &name);

// Runs it with cwd git_dir, stdin_data on stdin, stdout+stderr merged and
// passed to on_output as it arrives; returns the exit status (0 ok; 128+signal
// when killed; -1 when it could not start).
int run_hook(const std::string &path, const std::vector<std::string> &args,
             const std::string &git_dir, const HookEnv &env, std::string_view stdin_data,
             const std::function<void(std::string_view)> &on_output);

} // namespace gsh

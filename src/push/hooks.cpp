#include "push/hooks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "util/git_ptr.h"
#include "util/subprocess.h"

namespace gsh {

namespace {

// What a shell hook needs to find git and coreutils when nginx has cleared
// the worker's environment.
constexpr const char *kDefaultPath = "PATH=/usr/local/bin:/usr/bin:/bin";

bool is_git_var(std::string_view name) {
    return name.starts_with("GIT_");
}

std::vector<std::string> hook_environment(const HookEnv &env) {
    std::vector<std::string> out = environment_with(env.vars, is_git_var);
    if (std::none_of(out.begin(), out.end(),
                     [](const std::string &e) { return e.starts_with("PATH="); }))
        out.emplace_back(kDefaultPath);
    return out;
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
    Subprocess cmd;
    cmd.program = path;
    cmd.args = args;
    cmd.env = hook_environment(env);
    cmd.dir = git_dir;
    cmd.input = stdin_data;
    cmd.on_stdout = on_output;
    cmd.merge_stderr = true;
    return run_subprocess(cmd).status();
}

} // namespace gsh

// Push hooks: found as git finds them, run with their arguments, input,
// environment and exit status, in a real bare repository.
#include <fcntl.h>
#include <git2.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fixture.h"
#include "push/hooks.h"

using namespace gsh;
using gsh::test::TempDir;

namespace {

class Hooks : public ::testing::Test {
  protected:
    void SetUp() override {
        git_libgit2_init();
        tmp_.run("git init -q --bare repo.git");
        git_dir_ = tmp_.str() + "/repo.git";
    }
    void TearDown() override { git_libgit2_shutdown(); }

    // Writes a hook script into dir (default: the repository's hooks folder).
    std::string write_hook(const std::string &name, const std::string &body, mode_t mode = 0755,
                           std::string dir = "") {
        if (dir.empty())
            dir = git_dir_ + "/hooks";
        std::filesystem::create_directories(dir);
        std::string path = dir + "/" + name;
        std::ofstream(path) << body;
        chmod(path.c_str(), mode);
        return path;
    }

    struct Result {
        int status;
        std::string output;
    };

    Result run(const std::string &path, const std::vector<std::string> &args = {},
               std::string_view input = {}, const HookEnv &env = {}) {
        Result r;
        r.status = run_hook(path, args, git_dir_, env, input,
                            [&](std::string_view piece) { r.output.append(piece); });
        return r;
    }

    TempDir tmp_;
    std::string git_dir_;
};

std::string big_input(size_t size) {
    std::string s;
    s.reserve(size);
    for (size_t i = 0; s.size() < size; ++i)
        s += std::to_string(i) + " abcdefghijklmnopqrstuvwxyz\n";
    s.resize(size);
    return s;
}

// Restores an environment variable of the test process when it goes away.
class EnvVar {
  public:
    explicit EnvVar(const char *name) : name_(name) {
        const char *v = getenv(name);
        had_ = v != nullptr;
        if (had_)
            old_ = v;
    }
    ~EnvVar() {
        if (had_)
            setenv(name_, old_.c_str(), 1);
        else
            unsetenv(name_);
    }

  private:
    const char *name_;
    bool had_;
    std::string old_;
};

} // namespace

TEST_F(Hooks, FindsOnlyExecutableHooks) {
    // git init's executable samples are not hooks.
    ASSERT_EQ(access((git_dir_ + "/hooks/pre-receive.sample").c_str(), X_OK), 0);
    EXPECT_EQ(find_hook(git_dir_, "pre-receive"), "");
    std::string path = write_hook("pre-receive", "#!/bin/sh\nexit 0\n");
    EXPECT_EQ(find_hook(git_dir_, "pre-receive"), path);
    write_hook("update", "#!/bin/sh\nexit 0\n", 0644);
    EXPECT_EQ(find_hook(git_dir_, "update"), "");
    EXPECT_EQ(find_hook(git_dir_, "post-update"), "");
    std::filesystem::create_directories(git_dir_ + "/hooks/post-receive");
    EXPECT_EQ(find_hook(git_dir_, "post-receive"), "");
}

TEST_F(Hooks, RelativeHooksPathIsTakenFromTheGitDir) {
    write_hook("pre-receive", "#!/bin/sh\n");
    tmp_.run("git --git-dir=repo.git config core.hooksPath myhooks");
    EXPECT_EQ(find_hook(git_dir_, "pre-receive"), "");
    std::string path = write_hook("pre-receive", "#!/bin/sh\n", 0755, git_dir_ + "/myhooks");
    EXPECT_EQ(find_hook(git_dir_, "pre-receive"), path);
}

TEST_F(Hooks, AbsoluteHooksPath) {
    TempDir other;
    std::string path = write_hook("update", "#!/bin/sh\n", 0755, other.str() + "/central");
    tmp_.run("git --git-dir=repo.git config core.hooksPath '" + other.str() + "/central'");
    EXPECT_EQ(find_hook(git_dir_, "update"), path);
    EXPECT_EQ(find_hook(git_dir_, "pre-receive"), "");
}

TEST_F(Hooks, ArgumentsAndWorkingDirectory) {
    std::string path = write_hook("update", "#!/bin/sh\nprintf '[%s]' \"$@\"; echo; pwd -P\n");
    Result r = run(path, {"refs/heads/main", std::string(40, '0'), "with space"});
    EXPECT_EQ(r.status, 0);
    std::string dir = std::filesystem::canonical(git_dir_).string();
    EXPECT_EQ(r.output,
              "[refs/heads/main][" + std::string(40, '0') + "][with space]\n" + dir + "\n");
}

TEST_F(Hooks, EnvironmentGivenAndGitVariablesDropped) {
    EnvVar keep("GSH_HOOK_TEST_KEEP"), leak("GIT_HOOK_TEST_LEAK"), gitdir("GIT_DIR"),
        replaced("GSH_HOOK_TEST_REPLACED");
    setenv("GSH_HOOK_TEST_KEEP", "kept", 1);
    setenv("GIT_HOOK_TEST_LEAK", "leaked", 1);
    setenv("GIT_DIR", "/wrong", 1);
    setenv("GSH_HOOK_TEST_REPLACED", "old", 1);
    std::string path = write_hook("pre-receive", "#!/bin/sh\nenv | grep -E '^(GIT|GSH)_' | sort\n");
    HookEnv env;
    env.vars = {{"GIT_DIR", "."}, {"GSH_HOOK_TEST_REPLACED", "new"}, {"REMOTE_USER", "alice"}};
    Result r = run(path, {}, {}, env);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.output, "GIT_DIR=.\nGSH_HOOK_TEST_KEEP=kept\nGSH_HOOK_TEST_REPLACED=new\n");
    std::string user = write_hook("update", "#!/bin/sh\necho \"$REMOTE_USER\"\n");
    EXPECT_EQ(run(user, {}, {}, env).output, "alice\n");
}

TEST_F(Hooks, DefaultPathWhenTheWorkerHasNone) {
    std::string path = write_hook("post-update", "#!/bin/sh\necho \"$PATH\"\n");
    {
        EnvVar saved("PATH");
        unsetenv("PATH");
        EXPECT_EQ(run(path).output, "/usr/local/bin:/usr/bin:/bin\n");
    }
    HookEnv env;
    env.vars = {{"PATH", "/opt/given"}};
    EXPECT_EQ(run(path, {}, {}, env).output, "/opt/given\n");
    EXPECT_EQ(run(path).output, std::string(getenv("PATH")) + "\n");
}

TEST_F(Hooks, LargeInputIsDeliveredWhileOutputFlows) {
    // The hook echoes its input: 1 MB each way, more than any pipe holds.
    std::string input = big_input(1 << 20);
    std::string path = write_hook("pre-receive", "#!/bin/sh\ncat\n");
    Result r = run(path, {}, input);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.output.size(), input.size());
    EXPECT_TRUE(r.output == input);
}

TEST_F(Hooks, InputCountedByTheHook) {
    std::string input = big_input(1 << 20);
    std::string path = write_hook("post-receive", "#!/bin/sh\nwc -c\n");
    Result r = run(path, {}, input);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.output, std::to_string(input.size()) + "\n");
}

TEST_F(Hooks, UnreadInputNeitherHangsNorKills) {
    std::string input = big_input(8 << 20);
    std::string path = write_hook("post-receive", "#!/bin/sh\necho done\nexit 4\n");
    Result r = run(path, {}, input);
    EXPECT_EQ(r.status, 4);
    EXPECT_EQ(r.output, "done\n");
    // The EPIPE's SIGPIPE was not left for the process.
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
    // A hook that reads part of its input and leaves.
    std::string head = write_hook("pre-receive", "#!/bin/sh\nhead -c 5\n");
    r = run(head, {}, input);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.output, input.substr(0, 5));
}

TEST_F(Hooks, OutputAndErrorMergedInOrder) {
    std::string path =
        write_hook("pre-receive", "#!/bin/sh\necho one\necho two >&2\necho three\necho four >&2\n");
    Result r = run(path);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.output, "one\ntwo\nthree\nfour\n");
}

TEST_F(Hooks, ExitStatus) {
    EXPECT_EQ(run(write_hook("pre-receive", "#!/bin/sh\nexit 0\n")).status, 0);
    EXPECT_EQ(run(write_hook("update", "#!/bin/sh\nexit 1\n")).status, 1);
    EXPECT_EQ(run(write_hook("post-receive", "#!/bin/sh\nexit 77\n")).status, 77);
}

TEST_F(Hooks, KilledBySignal) {
    EXPECT_EQ(run(write_hook("pre-receive", "#!/bin/sh\nkill -TERM $$\nsleep 5\n")).status,
              128 + SIGTERM);
    EXPECT_EQ(run(write_hook("update", "#!/bin/sh\nkill -KILL $$\nsleep 5\n")).status,
              128 + SIGKILL);
}

TEST_F(Hooks, SignalsStartAtTheirDefaults) {
    // As in an nginx worker: SIGPIPE ignored, signals blocked in the thread.
    struct sigaction ign = {}, old_pipe = {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigset_t block, old_mask;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    std::string path =
        write_hook("pre-receive", "#!/bin/sh\nexec grep -E '^Sig(Blk|Ign):' /proc/self/status\n");
    Result r = run(path);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    sigaction(SIGPIPE, &old_pipe, nullptr);
    EXPECT_EQ(r.status, 0);
    // Read by the exec'd grep itself: dash blocks every signal for a moment
    // around each fork, so its own status could be caught mid-fork. Only
    // signals 1-31 are compared: glibc keeps 32 and 33 for itself and
    // refuses to change them, so they stay as the test runner inherited them.
    std::istringstream lines(r.output);
    std::string line;
    int seen = 0;
    while (std::getline(lines, line)) {
        const size_t tab = line.find('\t');
        ASSERT_NE(tab, std::string::npos) << line;
        const unsigned long long mask = std::stoull(line.substr(tab + 1), nullptr, 16);
        EXPECT_EQ(mask & 0x7fffffffULL, 0u) << line;
        ++seen;
    }
    EXPECT_EQ(seen, 2) << r.output;
}

TEST_F(Hooks, OnlyStandardDescriptorsAreInherited) {
    int fd = open("/dev/null", O_RDONLY); // not close-on-exec, as nginx's sockets
    ASSERT_GE(fd, 3);
    std::string path =
        write_hook("pre-receive", "#!/bin/sh\n[ -e /proc/self/fd/" + std::to_string(fd) +
                                      " ] && echo leaked; [ -e /proc/self/fd/2 ] && echo stderr\n");
    Result r = run(path);
    close(fd);
    EXPECT_EQ(r.output, "stderr\n");
}

namespace {
void reap_everything(int) {
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
}
} // namespace

TEST_F(Hooks, StatusSurvivesASigchldHandlerThatReapsAll) {
    // nginx's worker reaps every child with waitpid(-1) on SIGCHLD.
    struct sigaction reap = {}, old = {};
    reap.sa_handler = reap_everything;
    sigaction(SIGCHLD, &reap, &old);
    std::string path = write_hook("pre-receive", "#!/bin/sh\nexit 5\n");
    int statuses[5];
    for (int &s : statuses)
        s = run(path).status;
    sigaction(SIGCHLD, &old, nullptr);
    for (int s : statuses)
        EXPECT_EQ(s, 5);
}

TEST_F(Hooks, CannotStart) {
    std::string path = write_hook("pre-receive", "#!/nonexistent/interpreter\n");
    Result r = run(path, {}, big_input(1 << 16));
    EXPECT_EQ(r.status, -1);
    EXPECT_EQ(run(git_dir_ + "/hooks/no-such-hook").status, -1);
    std::string binary = write_hook("update", std::string("\x7f"
                                                          "ELF garbage",
                                                          11));
    EXPECT_EQ(run(binary).status, -1);
}

TEST_F(Hooks, ThrowingOutputHandlerReapsTheHook) {
    std::string path = write_hook("pre-receive", "#!/bin/sh\necho hello\ncat >/dev/null\n");
    std::string input = big_input(1 << 20);
    EXPECT_THROW(run_hook(path, {}, git_dir_, {}, input,
                          [](std::string_view) { throw std::runtime_error("stop"); }),
                 std::runtime_error);
    // Nothing of ours is left to reap.
    int status;
    EXPECT_EQ(waitpid(-1, &status, WNOHANG | __WALL), -1);
    EXPECT_EQ(errno, ECHILD);
}

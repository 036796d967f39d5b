// The subprocess runner alone: exit status, signal death, output capture,
// input, environment, the timeout's kill, and that nothing is left to reap.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixture.h"
#include "util/subprocess.h"

using namespace gsh;
using namespace std::chrono_literals;
using gsh::test::TempDir;

namespace {

// A shell command run with the test's environment; stdout and stderr kept
// apart unless merged.
struct ShellRun {
    SubprocessResult result;
    std::string out, err;
};

ShellRun shell(const std::string &script, std::string_view input = {},
               std::chrono::milliseconds timeout = 0ms) {
    ShellRun r;
    Subprocess cmd;
    cmd.program = "sh";
    cmd.args = {"-c", script};
    cmd.env = environment_with({});
    cmd.input = input;
    cmd.on_stdout = [&](std::string_view s) { r.out.append(s); };
    cmd.on_stderr = [&](std::string_view s) { r.err.append(s); };
    cmd.timeout = timeout;
    r.result = run_subprocess(cmd);
    return r;
}

// The processes whose parent is this one (zombies included), from /proc.
std::vector<pid_t> children_of_this_process() {
    std::vector<pid_t> out;
    const std::string self = std::to_string(getpid());
    for (const auto &entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream status(entry.path() / "status");
        std::string line;
        while (std::getline(status, line))
            if (line.rfind("PPid:", 0) == 0 &&
                line.substr(line.find_first_not_of(" \t", 5)) == self)
                out.push_back(std::stoi(name));
    }
    return out;
}

void expect_nothing_left(pid_t program) {
    EXPECT_EQ(children_of_this_process(), std::vector<pid_t>{});
    int status;
    EXPECT_EQ(waitpid(-1, &status, WNOHANG | __WALL), -1);
    EXPECT_EQ(errno, ECHILD);
    // Reaped by the waiter: not even a zombie is left of it.
    ASSERT_GT(program, 0);
    EXPECT_EQ(kill(program, 0), -1);
    EXPECT_EQ(errno, ESRCH);
}

void reap_everything(int) {
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
}

} // namespace

TEST(Subprocess, ExitStatus) {
    for (int code : {0, 1, 7, 255}) {
        ShellRun r = shell("exit " + std::to_string(code));
        EXPECT_EQ(r.result.start_errno, 0);
        EXPECT_TRUE(r.result.ended);
        EXPECT_FALSE(r.result.timed_out);
        EXPECT_TRUE(WIFEXITED(r.result.wait_status));
        EXPECT_EQ(r.result.status(), code);
    }
}

TEST(Subprocess, SignalDeath) {
    ShellRun r = shell("kill -TERM $$; sleep 5");
    EXPECT_TRUE(r.result.ended);
    ASSERT_TRUE(WIFSIGNALED(r.result.wait_status));
    EXPECT_EQ(WTERMSIG(r.result.wait_status), SIGTERM);
    EXPECT_EQ(r.result.status(), 128 + SIGTERM);
    EXPECT_FALSE(r.result.timed_out);
}

TEST(Subprocess, OutputAndErrorApartOrMerged) {
    const std::string script = "echo one; echo two >&2; echo three; echo four >&2";
    ShellRun apart = shell(script);
    EXPECT_EQ(apart.out, "one\nthree\n");
    EXPECT_EQ(apart.err, "two\nfour\n");

    std::string merged;
    Subprocess cmd;
    cmd.program = "sh";
    cmd.args = {"-c", script};
    cmd.on_stdout = [&](std::string_view s) { merged.append(s); };
    cmd.merge_stderr = true;
    EXPECT_EQ(run_subprocess(cmd).status(), 0);
    EXPECT_EQ(merged, "one\ntwo\nthree\nfour\n");
}

TEST(Subprocess, UnreadStreamsGoToDevNull) {
    // Far more than a pipe holds, on the stream nobody reads.
    std::string err;
    Subprocess cmd;
    cmd.program = "sh";
    cmd.args = {"-c",
                "head -c 1000000 /dev/zero; [ /proc/self/fd/1 -ef /dev/null ] && echo null >&2"};
    cmd.on_stderr = [&](std::string_view s) { err.append(s); };
    EXPECT_EQ(run_subprocess(cmd).status(), 0);
    EXPECT_EQ(err, "null\n");
}

TEST(Subprocess, InputDeliveredOrLeftUnread) {
    std::string input;
    for (int i = 0; input.size() < (1 << 20); ++i)
        input += std::to_string(i) + "\n";
    ShellRun echoed = shell("cat", input);
    EXPECT_EQ(echoed.result.status(), 0);
    EXPECT_TRUE(echoed.out == input);
    ShellRun unread = shell("echo done; exit 3", input);
    EXPECT_EQ(unread.result.status(), 3);
    EXPECT_EQ(unread.out, "done\n");
    ShellRun empty = shell("wc -c");
    EXPECT_EQ(empty.out, "0\n");
}

TEST(Subprocess, EnvironmentIsExactlyTheOneGiven) {
    std::string out;
    Subprocess cmd;
    cmd.program = "/usr/bin/env";
    cmd.env = {"ONE=1", "TWO=two words"};
    cmd.on_stdout = [&](std::string_view s) { out.append(s); };
    EXPECT_EQ(run_subprocess(cmd).status(), 0);
    EXPECT_EQ(out, "ONE=1\nTWO=two words\n");
}

TEST(Subprocess, EnvironmentWithDropsAndReplaces) {
    setenv("GSH_SUBPROCESS_KEEP", "kept", 1);
    setenv("GSH_SUBPROCESS_DROP", "dropped", 1);
    setenv("GSH_SUBPROCESS_SET", "old", 1);
    const std::vector<std::string> env =
        environment_with({{"GSH_SUBPROCESS_SET", "new"}, {"GSH_SUBPROCESS_ADDED", "x"}},
                         [](std::string_view name) { return name == "GSH_SUBPROCESS_DROP"; });
    unsetenv("GSH_SUBPROCESS_KEEP");
    unsetenv("GSH_SUBPROCESS_DROP");
    unsetenv("GSH_SUBPROCESS_SET");
    std::vector<std::string> ours;
    for (const std::string &e : env)
        if (e.starts_with("GSH_SUBPROCESS_"))
            ours.push_back(e);
    EXPECT_EQ(ours, (std::vector<std::string>{"GSH_SUBPROCESS_KEEP=kept", "GSH_SUBPROCESS_SET=new",
                                              "GSH_SUBPROCESS_ADDED=x"}));
}

TEST(Subprocess, ProgramFoundInPathAndWorkingDirectory) {
    TempDir tmp;
    std::string out;
    Subprocess cmd;
    cmd.program = "sh";
    cmd.args = {"-c", "echo \"$0\"; pwd -P"};
    cmd.dir = tmp.str();
    cmd.on_stdout = [&](std::string_view s) { out.append(s); };
    EXPECT_EQ(run_subprocess(cmd).status(), 0);
    EXPECT_EQ(out, "sh\n" + std::filesystem::canonical(tmp.path()).string() + "\n");
}

TEST(Subprocess, CannotStart) {
    Subprocess missing;
    missing.program = "gsh-no-such-program";
    SubprocessResult r = run_subprocess(missing);
    EXPECT_EQ(r.start_errno, ENOENT);
    EXPECT_EQ(r.status(), -1);

    TempDir tmp;
    const std::string script = tmp.str() + "/not-executable";
    std::ofstream(script) << "#!/bin/sh\n";
    chmod(script.c_str(), 0644);
    Subprocess denied;
    denied.program = script;
    denied.input = "input nobody reads";
    r = run_subprocess(denied);
    EXPECT_EQ(r.start_errno, EACCES);
    EXPECT_EQ(r.status(), -1);
    EXPECT_EQ(children_of_this_process(), std::vector<pid_t>{});
}

TEST(Subprocess, NeverEndingProgramIsKilledAtItsTimeout) {
    // The shell's own child holds the output pipe too: only killing the
    // process group ends the run (else it would last the 30 seconds).
    ShellRun r = shell("echo started; sleep 30; echo never", {}, 200ms);
    EXPECT_TRUE(r.result.timed_out);
    EXPECT_TRUE(r.result.ended);
    EXPECT_EQ(r.result.status(), 128 + SIGKILL);
    EXPECT_EQ(r.out, "started\n");
    expect_nothing_left(r.result.pid);
}

TEST(Subprocess, TimeoutKillsTheProgramsWholeProcessGroup) {
    // A child of the program that holds none of its streams: the run ends
    // when the program dies, and the child must not outlive it.
    ShellRun r = shell("sleep 30 </dev/null >/dev/null 2>&1 & echo $!; wait", {}, 200ms);
    EXPECT_TRUE(r.result.timed_out);
    const pid_t orphan = std::stoi(r.out);
    ASSERT_GT(orphan, 0);
    // Gone, or a zombie waiting for whoever inherited it.
    std::ifstream stat("/proc/" + std::to_string(orphan) + "/stat");
    std::string fields;
    std::getline(stat, fields);
    const size_t paren = fields.rfind(')');
    const char state = paren == std::string::npos ? 'X' : fields.at(paren + 2);
    EXPECT_TRUE(state == 'Z' || state == 'X') << fields;
    if (state != 'Z' && state != 'X')
        kill(orphan, SIGKILL);
}

TEST(Subprocess, ProgramEndingBeforeItsTimeoutIsNotKilled) {
    ShellRun r = shell("echo fine; exit 6", {}, 60s);
    EXPECT_FALSE(r.result.timed_out);
    EXPECT_EQ(r.result.status(), 6);
    EXPECT_EQ(r.out, "fine\n");
    expect_nothing_left(r.result.pid);
}

TEST(Subprocess, NoZombieLeft) {
    ShellRun r = shell("exit 0");
    expect_nothing_left(r.result.pid);
    ShellRun killed = shell("kill -KILL $$");
    EXPECT_EQ(killed.result.status(), 128 + SIGKILL);
    expect_nothing_left(killed.result.pid);
}

TEST(Subprocess, StatusSurvivesASigchldHandlerThatReapsAll) {
    // nginx's worker reaps every child with waitpid(-1) on SIGCHLD.
    struct sigaction reap = {}, old = {};
    reap.sa_handler = reap_everything;
    sigaction(SIGCHLD, &reap, &old);
    int statuses[5];
    for (int &s : statuses)
        s = shell("exit 9").result.status();
    sigaction(SIGCHLD, &old, nullptr);
    for (int s : statuses)
        EXPECT_EQ(s, 9);
}

TEST(Subprocess, ThrowingOutputHandlerStillReaps) {
    Subprocess cmd;
    cmd.program = "sh";
    cmd.args = {"-c", "echo hello; cat >/dev/null"};
    const std::string input(1 << 20, 'x');
    cmd.input = input;
    cmd.on_stdout = [](std::string_view) { throw std::runtime_error("stop"); };
    EXPECT_THROW(run_subprocess(cmd), std::runtime_error);
    EXPECT_EQ(children_of_this_process(), std::vector<pid_t>{});
    int status;
    EXPECT_EQ(waitpid(-1, &status, WNOHANG | __WALL), -1);
    EXPECT_EQ(errno, ECHILD);
}

// Test-only hooks, in the spirit of git's GIT_TEST_* variables.
#pragma once

#include <functional>
#include <string>

namespace gsh {

// With <variable>=NAME in the worker's environment (nginx's "env"
// directive), and a FIFO called NAME in the repository at repo_path, waits
// until a writer has opened and closed that FIFO; otherwise returns at once.
// The tests make a step (a pack's count: GSH_TEST_PACK_STALL; a publish
// before its files get their names: GSH_TEST_PUBLISH_STALL) last as long as
// they choose, without timing guesses. The wait polls, so that checkpoint
// (which may throw, to stop) ends it.
void test_stall_hook(const char *variable, const std::string &repo_path,
                     const std::function<void()> &checkpoint);

} // namespace gsh

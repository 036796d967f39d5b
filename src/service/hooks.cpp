// TEMPORARY STUB: see hooks.h.
#include "service/hooks.h"

namespace gsh {

std::string find_hook(const std::string &, const std::string &) {
    return std::string();
}

int run_hook(const std::string &, const std::vector<std::string> &, const std::string &,
             const HookEnv &, std::string_view, const std::function<void(std::string_view)> &) {
    return -1;
}

} // namespace gsh

#include "repo/repo_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>

#include "util/error.h"

namespace gsh {

namespace {

[[noreturn]] void not_found(const std::string &why) {
    throw Error(why, 404);
}

bool is_dir(const std::string &p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// What git's is_git_directory() checks: objects/ and refs/ folders, and HEAD.
bool is_git_directory(const std::string &p) {
    struct stat st;
    return is_dir(p + "/objects") && is_dir(p + "/refs") && lstat((p + "/HEAD").c_str(), &st) == 0;
}

std::string real_path(const std::string &p) {
    std::unique_ptr<char, decltype(&free)> r(realpath(p.c_str(), nullptr), &free);
    return r ? std::string(r.get()) : std::string();
}

// Only plain relative components: no "", ".", "..", backslash or NUL.
bool safe_name(std::string_view name) {
    if (name.empty() || name.find('\0') != std::string_view::npos ||
        name.find('\\') != std::string_view::npos)
        return false;
    while (!name.empty()) {
        size_t slash = name.find('/');
        std::string_view part = name.substr(0, slash);
        if (part.empty() || part == "." || part == "..")
            return false;
        if (slash == std::string_view::npos)
            break;
        name.remove_prefix(slash + 1);
    }
    return true;
}

} // namespace

std::string resolve_repository(std::string_view root, std::string_view name, bool export_all) {
    while (name.starts_with('/'))
        name.remove_prefix(1);
    while (name.ends_with('/'))
        name.remove_suffix(1);
    if (!safe_name(name))
        not_found("repository name '" + std::string(name) + "' is not a plain relative path");

    std::string real_root = real_path(std::string(root));
    if (real_root.empty())
        throw Error("git_smart_http_root '" + std::string(root) + "' cannot be resolved", 500);

    static const char *const suffixes[] = {"/.git", "", ".git/.git", ".git"};
    std::string base = real_root + "/" + std::string(name);
    for (const char *suffix : suffixes) {
        std::string candidate = base + suffix;
        if (!is_dir(candidate) || !is_git_directory(candidate))
            continue;
        std::string real = real_path(candidate);
        if (real.empty() || !real.starts_with(real_root + "/"))
            not_found("repository '" + std::string(name) + "' resolves outside the root");
        if (!export_all && access((real + "/git-daemon-export-ok").c_str(), F_OK) != 0)
            not_found("repository '" + std::string(name) + "' is not exported");
        return real;
    }
    not_found("no repository '" + std::string(name) + "' under the root");
}

} // namespace gsh

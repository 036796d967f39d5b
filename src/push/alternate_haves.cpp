#include "push/alternate_haves.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <sstream>
#include <string>

#include "odb/alternates.h"
#include "repo/refs.h"
#include "util/git_ptr.h"

namespace gsh {

namespace {

struct AlternateRefsConfig {
    bool command = false;
    std::vector<std::string> prefixes; // empty: every ref
};

AlternateRefsConfig load_config(git_repository *repo) {
    AlternateRefsConfig out;
    git_config *raw = nullptr;
    if (git_repository_config_snapshot(&raw, repo) < 0) {
        git_error_clear();
        return out;
    }
    ConfigPtr cfg(raw);
    git_buf buf = GIT_BUF_INIT;
    if (git_config_get_string_buf(&buf, cfg.get(), "core.alternaterefscommand") == 0)
        out.command = true;
    git_buf_dispose(&buf);
    if (git_config_get_string_buf(&buf, cfg.get(), "core.alternaterefsprefixes") == 0) {
        // git splits the value on whitespace into for-each-ref's patterns.
        std::istringstream words(std::string(buf.ptr, buf.size));
        for (std::string w; words >> w;)
            out.prefixes.push_back(w);
    }
    git_buf_dispose(&buf);
    git_error_clear();
    return out;
}

// for-each-ref's pattern match: a leading path (whole components), or a
// glob where '*' does not cross '/'.
bool matches(const std::vector<std::string> &patterns, const std::string &name) {
    if (patterns.empty())
        return true;
    for (const std::string &p : patterns) {
        if (name.starts_with(p) &&
            (name.size() == p.size() || name[p.size()] == '/' || p.back() == '/'))
            return true;
        if (::fnmatch(p.c_str(), name.c_str(), FNM_PATHNAME) == 0)
            return true;
    }
    return false;
}

bool is_dir(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void add_tips(const std::string &git_dir, const std::vector<std::string> &prefixes,
              std::vector<git_oid> &out) {
    git_repository *raw = nullptr;
    if (git_repository_open_ext(&raw, git_dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) <
        0) {
        git_error_clear(); // git's for-each-ref there fails and lists nothing
        return;
    }
    RepoPtr alt(raw);
    for (const Ref &ref : list_refs(alt.get(), HiddenRefs{})) {
        if (ref.name == "HEAD" || ref.unborn || !matches(prefixes, ref.name))
            continue;
        out.push_back(ref.oid);
    }
}

} // namespace

std::vector<git_oid> alternate_ref_tips(git_repository *repo) {
    std::vector<git_oid> out;
    const AlternateRefsConfig config = load_config(repo);
    if (config.command)
        return out;
    std::string objects = git_repository_commondir(repo);
    if (!objects.empty() && objects.back() != '/')
        objects += '/';
    objects += "objects";
    constexpr std::string_view kSuffix = "/objects";
    for (const std::string &alt : list_alternates(objects)) {
        if (!alt.ends_with(kSuffix))
            continue;
        const std::string git_dir = alt.substr(0, alt.size() - kSuffix.size());
        if (is_dir(git_dir + "/refs"))
            add_tips(git_dir, config.prefixes, out);
    }
    return out;
}

} // namespace gsh

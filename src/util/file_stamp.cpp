#include "util/file_stamp.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

namespace gsh {

FileStamp FileStamp::of(const std::string &path) {
    FileStamp s;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
        return s;
    s.exists = true;
    s.dev = uint64_t(st.st_dev);
    s.ino = uint64_t(st.st_ino);
    s.size = uint64_t(st.st_size);
    s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return s;
}

namespace {

// Appends the entries of path (named under as "under/name"); false when the
// folder cannot be read.
bool list(const std::string &path, const std::string &under, const std::string &prefix,
          bool recurse, int depth, std::vector<std::pair<std::string, uint64_t>> &out) {
    DIR *d = ::opendir(path.c_str());
    if (!d)
        return false;
    std::vector<std::string> subfolders;
    while (struct dirent *e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || name.compare(0, prefix.size(), prefix) != 0)
            continue;
        out.emplace_back(under + name, uint64_t(e->d_ino));
        bool folder = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            folder = ::stat((path + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (recurse && folder)
            subfolders.push_back(name);
    }
    ::closedir(d);
    if (depth < 16) // as far as any ref name goes
        for (const std::string &sub : subfolders)
            list(path + "/" + sub, under + sub + "/", "", recurse, depth + 1, out);
    return true;
}

} // namespace

FolderStamp FolderStamp::of(const std::string &path, const std::string &prefix, bool recurse) {
    FolderStamp s;
    s.exists = list(path, "", prefix, recurse, 0, s.entries);
    std::sort(s.entries.begin(), s.entries.end());
    return s;
}

} // namespace gsh

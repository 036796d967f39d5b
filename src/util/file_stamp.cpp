#include "util/file_stamp.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

namespace gsh {

namespace {

int64_t ns(const struct timespec &t) {
    return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

} // namespace

FileStamp FileStamp::of(const std::string &path) {
    FileStamp s;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
        return s;
    s.exists = true;
    s.dev = uint64_t(st.st_dev);
    s.ino = uint64_t(st.st_ino);
    s.size = uint64_t(st.st_size);
    s.mtime_ns = ns(st.st_mtim);
    s.ctime_ns = ns(st.st_ctim);
    return s;
}

namespace {

// Appends the entries of path (named under as "under/name"); false when the
// folder cannot be read.
bool list(const std::string &path, const std::string &under, const std::string &prefix,
          bool recurse, bool stat_each, int depth, std::vector<FolderStamp::Entry> &out) {
    DIR *d = ::opendir(path.c_str());
    if (!d)
        return false;
    std::vector<std::string> subfolders;
    while (struct dirent *e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || name.compare(0, prefix.size(), prefix) != 0)
            continue;
        FolderStamp::Entry entry{under + name, uint64_t(e->d_ino)};
        bool folder = e->d_type == DT_DIR;
        if (stat_each || e->d_type == DT_UNKNOWN) {
            struct stat st;
            if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                folder = S_ISDIR(st.st_mode);
                if (stat_each && !folder) {
                    entry.ino = uint64_t(st.st_ino);
                    entry.size = uint64_t(st.st_size);
                    entry.mtime_ns = ns(st.st_mtim);
                    entry.ctime_ns = ns(st.st_ctim);
                }
            }
        }
        out.push_back(std::move(entry));
        if (recurse && folder)
            subfolders.push_back(name);
    }
    ::closedir(d);
    if (depth < 16) // as far as any ref name goes
        for (const std::string &sub : subfolders)
            list(path + "/" + sub, under + sub + "/", "", recurse, stat_each, depth + 1, out);
    return true;
}

} // namespace

FolderStamp FolderStamp::of(const std::string &path, const std::string &prefix, bool recurse,
                            bool stat_each) {
    FolderStamp s;
    s.exists = list(path, "", prefix, recurse, stat_each, 0, s.entries);
    std::sort(s.entries.begin(), s.entries.end(),
              [](const Entry &a, const Entry &b) { return a.name < b.name; });
    return s;
}

} // namespace gsh

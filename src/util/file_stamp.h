// What the file system says of a file or a folder, to tell later whether it
// changed. git replaces the files it updates (refs, packed-refs, HEAD,
// config, packs) by renaming a new file over them, so the inode number
// changes with every update, unless the file system hands the new file the
// number that an earlier one freed: then only the times tell, as far as
// their resolution goes (see RepoSnapshot's racy rule).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gsh {

struct FileStamp {
    bool exists = false;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;

    static FileStamp of(const std::string &path);
    bool operator==(const FileStamp &) const = default;
};

// A folder's entries whose names start with prefix, sorted by name; with
// recurse, those of its subfolders too, as "sub/name". Each entry has its
// inode number, and with stat_each its size and times as well (files only:
// a folder's times stay 0).
struct FolderStamp {
    struct Entry {
        std::string name;
        uint64_t ino = 0, size = 0;
        int64_t mtime_ns = 0, ctime_ns = 0;
        bool operator==(const Entry &) const = default;
    };
    bool exists = false;
    std::vector<Entry> entries;

    static FolderStamp of(const std::string &path, const std::string &prefix, bool recurse,
                          bool stat_each);
    bool operator==(const FolderStamp &) const = default;
};

} // namespace gsh

// What the file system says of a file or a folder, to tell later whether it
// changed. git replaces the files it updates (refs, packed-refs, HEAD,
// config, packs) by renaming a new file over them, so the inode number
// changes with every update, whatever the resolution of file times.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gsh {

struct FileStamp {
    bool exists = false;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;

    static FileStamp of(const std::string &path);
    bool operator==(const FileStamp &) const = default;
};

// A folder's entries (name and inode) whose names start with prefix,
// sorted; with recurse, those of its subfolders too, as "sub/name".
struct FolderStamp {
    bool exists = false;
    std::vector<std::pair<std::string, uint64_t>> entries;

    static FolderStamp of(const std::string &path, const std::string &prefix, bool recurse);
    bool operator==(const FolderStamp &) const = default;
};

} // namespace gsh

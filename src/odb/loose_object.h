// Reading one loose object (objects/xx/yyyy) with bounds libgit2 lacks.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "util/zlib.h"

namespace gsh {

// A loose object open for reading: its header is parsed on open, its data
// is read in pieces. libgit2 1.5 spins forever in inflate() on a file cut
// off mid-stream; here every inflate call either consumes input, produces
// output or ends the read with "loose object <id> is corrupt", so a damaged
// file costs at most one pass over its bytes.
class LooseObject {
  public:
    // GIT_ENOTFOUND when there is no such file, GIT_ERROR (with libgit2's
    // error set) when it is unreadable or its header is damaged, else 0.
    int open(const std::string &objects_dir, const git_oid &id);
    ~LooseObject();

    git_object_t type() const { return type_; }
    size_t size() const { return size_; }

    // Fills up to len bytes of the object's data; returns the count, 0 once
    // all was read and the stream was checked to end there with nothing
    // after it, or GIT_ERROR (error set).
    int read(char *out, size_t len);

    // Reads the whole data into out, which has room for size() bytes.
    int read_all(char *out);

  private:
    int corrupt(const char *why);
    bool fill();
    int finish();
    z_stream &z() { return zs_->z(); }

    int fd_ = -1;
    std::optional<zlib::Inflater> zs_; // started once the file is open
    bool eof_ = false;
    bool done_ = false;
    bool read_failed_ = false;
    std::string hex_;
    git_object_t type_ = GIT_OBJECT_INVALID;
    size_t size_ = 0;
    size_t produced_ = 0;
    uint64_t file_size_ = 0;
    // Data inflated along with the header.
    unsigned char early_[128];
    size_t early_len_ = 0, early_pos_ = 0;
    bool ended_early_ = false;
    unsigned char in_[16384];
};

// The path of id's loose file under objects_dir.
std::string loose_path(const std::string &objects_dir, const git_oid &id);

} // namespace gsh

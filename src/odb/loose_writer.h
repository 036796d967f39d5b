// Writing loose objects (objects/xx/yyyy...) as git writes them.
#pragma once

#include <git2.h>

#include <cstddef>
#include <memory>
#include <string>

namespace gsh {

struct LooseWriteOptions {
    // core.looseCompression, else core.compression, else git's default for
    // loose objects: Z_BEST_SPEED.
    int level = 1;
    // core.fsync names "loose-object" (git's default does not), or
    // core.fsyncObjectFiles: each file is synced before it gets its name.
    bool fsync = false;
};

// Writes an object of type and data under objects_dir, through a
// LooseObjectStream (below): the zlib stream of "<type> <size>\0<data>",
// mode 0444, named by place_object_file(). Returns its id. Throws
// gsh::Error (500) when it cannot, or when expected is given and the object
// hashes to another id (then no object file is left).
git_oid write_loose_object(const std::string &objects_dir, git_object_t type, const void *data,
                           size_t size, const LooseWriteOptions &options,
                           const git_oid *expected = nullptr);

// One loose object written as its data comes, so that an object of any
// size takes a buffer's worth of memory: hashed and deflated piece by
// piece into a temporary file of objects_dir, named only by finish().
// Throws gsh::Error (500) when it cannot; an object never finished leaves
// nothing.
class LooseObjectStream {
  public:
    LooseObjectStream(const std::string &objects_dir, git_object_t type, size_t size,
                      const LooseWriteOptions &options);
    ~LooseObjectStream();
    LooseObjectStream(const LooseObjectStream &) = delete;
    LooseObjectStream &operator=(const LooseObjectStream &) = delete;

    // The next bytes of the object's data.
    void write(const void *data, size_t len);
    // After all size bytes: the object gets its name, unless expected is
    // given and the data hashes to another id (then nothing is written).
    // Returns its id.
    git_oid finish(const git_oid *expected = nullptr);

  private:
    struct State;
    std::unique_ptr<State> s_;
};

// Gives the file tmp the name path as git's finalize_object_file() does: a
// hard link, so that an object file already there is kept (same name, same
// object), else (a file system without links) a rename; tmp is gone in the
// end. Returns 0, or the errno of the failure.
int place_object_file(const std::string &tmp, const std::string &path);

} // namespace gsh

// Enumerating the objects a fetch needs and streaming them as a pack that is
// written by copying entries from the repository's own pack files.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace gsh::pack {

// Receives progress text as git's pack-objects prints it ("Enumerating
// objects: 12, done.\n", "Counting objects:  50% (6/12)\r", ...).
using ProgressFn = std::function<void(std::string_view)>;

struct EnumerateInput {
    std::vector<git_oid> wants;
    // Objects the client has (only those present in the repository count);
    // everything reachable from them is left out of the pack.
    std::vector<git_oid> haves;
    // include-tag: annotated tag objects (ref targets under refs/tags/) that
    // are added, with the tags they chain through, when the object they
    // finally point at is in the pack.
    std::vector<git_oid> include_tags;
    // Shallow fetches: commits whose parents the walk does not follow, on
    // both sides (the client's boundary and the new one).
    std::vector<git_oid> parentless;
};

// Every object reachable from wants and not from haves, each once.
// Throws gsh::Error on a missing or corrupt object.
std::vector<git_oid> enumerate_objects(git_repository *repo, const EnumerateInput &in,
                                       const ProgressFn &progress);

struct PackStats {
    uint32_t objects = 0;
    uint32_t deltas = 0;
    uint32_t reused = 0; // entries copied from a pack on disk
    uint32_t reused_deltas = 0;
    uint64_t bytes = 0; // pack bytes produced so far, trailer included
};

// A pack of exactly the given objects, produced in bounded pieces.
class PackStream {
  public:
    PackStream(git_repository *repo, std::vector<git_oid> objects, bool ofs_delta);
    ~PackStream();
    PackStream(const PackStream &) = delete;
    PackStream &operator=(const PackStream &) = delete;

    // Writes up to cap bytes of the pack into buf and returns how many; 0
    // once the trailer has been written. Throws gsh::Error on I/O failure.
    size_t read(uint8_t *buf, size_t cap);
    bool done() const;
    const PackStats &stats() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace gsh::pack

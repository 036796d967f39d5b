// Writing a planned pack (git's write_pack_file): the header, each entry as
// its plan says, and the SHA-1 trailer, produced in bounded pieces into the
// caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "pack/pack_plan.h"

namespace gsh::pack {

struct PackStats {
    uint32_t objects = 0;
    uint32_t deltas = 0;
    uint32_t reused = 0; // entries copied from a pack on disk
    uint32_t reused_deltas = 0;
    uint32_t thin_deltas = 0; // against a base the client has, not sent
    // Deltas whose base is not sent (nor known to the client), written
    // against a base further down their chain on disk that is.
    uint32_t composed_deltas = 0;
    // Deltas made here, for objects that would have been sent whole.
    uint32_t encoded_deltas = 0;
    uint32_t pack_reused = 0; // sent as part of a whole pack file, not looked at
    uint64_t bytes = 0;       // pack bytes produced so far, trailer included
};

// A range of a pack file, as it is on disk.
struct FileRange {
    int fd = -1;
    uint64_t offset = 0;
    size_t len = 0;
};

class PackWriter {
  public:
    // The deltas the plan leaves to be made (Compose, Encode) are made as
    // their entries are written, one at a time; an Encode entry whose delta
    // is not kept is written as its plan's fallback says (the plan's entry
    // is left as it was). The compression level is the repository's
    // pack.compression or core.compression.
    explicit PackWriter(PackPlan plan);
    ~PackWriter();
    PackWriter(const PackWriter &) = delete;
    PackWriter &operator=(const PackWriter &) = delete;

    // Writes up to cap bytes of the pack into buf and returns how many; 0
    // once the trailer has been written. Throws gsh::Error on I/O failure.
    size_t read(uint8_t *buf, size_t cap);
    // When the next bytes of the pack are at least min bytes of a pack
    // file as they are on disk, takes up to max of them as a range of that
    // file (hashed as needed, never copied into a caller's buffer) and
    // returns true: the caller sends them from the file (sendfile). Else
    // false: read() gives what comes next. The file stays open as long as
    // the plan's PackSet. Once this has been called, a read() that has
    // written something stops before a run of at least min bytes, so that
    // the next take_file gets it.
    bool take_file(size_t min, size_t max, FileRange *out);
    bool done() const;
    const PackStats &stats() const;
    const PackPlan &plan() const;
    // Where entries()[i] of the plan starts in the pack produced, for an
    // entry already written (none of a whole_pack() plan is listed).
    uint64_t position(size_t i) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace gsh::pack

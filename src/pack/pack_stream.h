// Streaming the objects of a fetch as a pack that is written by copying
// entries from the repository's own pack files.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "walk/enumerate.h"

namespace gsh::pack {

// How the pack may be written: what the client said it can read.
struct PackOptions {
    // OFS_DELTA entries (ofs-delta); without it every delta is a REF_DELTA.
    bool ofs_delta = false;
    // A thin pack (thin-pack): a delta whose base the client is known to
    // have is sent as a REF_DELTA against that base, which is not sent.
    bool thin = false;
};

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

// A pack of exactly the given objects, produced in bounded pieces.
class PackStream {
  public:
    // client_has of objects names the bases a thin pack may leave out.
    // Planning the pack happens here; checkpoint, when set, is called
    // between its steps and may throw to stop it.
    PackStream(git_repository *repo, Enumeration objects, PackOptions options,
               const std::function<void()> &checkpoint = {});
    // A self-contained pack.
    PackStream(git_repository *repo, std::vector<git_oid> objects, bool ofs_delta)
        : PackStream(repo, Enumeration(std::move(objects)), PackOptions{ofs_delta, false}) {}
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

// Streaming the objects of a fetch as a pack: planned (pack_plan.h), then
// written in bounded pieces (pack_writer.h), mostly by copying entries from
// the repository's own pack files.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "pack/pack_plan.h"
#include "pack/pack_writer.h"
#include "walk/enumerate.h"

namespace gsh::pack {

// A pack of exactly the given objects, produced in bounded pieces.
class PackStream {
  public:
    // client_has of objects names the bases a thin pack may leave out.
    // Planning the pack happens here; checkpoint, when set, is called
    // between its steps and may throw to stop it.
    PackStream(git_repository *repo, Enumeration objects, PackOptions options,
               const std::function<void()> &checkpoint = {})
        : writer_(PackPlan(repo, std::move(objects), options, checkpoint)) {}
    // A self-contained pack.
    PackStream(git_repository *repo, std::vector<git_oid> objects, bool ofs_delta)
        : PackStream(repo, Enumeration(std::move(objects)), PackOptions{ofs_delta, false}) {}

    // Writes up to cap bytes of the pack into buf and returns how many; 0
    // once the trailer has been written. Throws gsh::Error on I/O failure.
    size_t read(uint8_t *buf, size_t cap) { return writer_.read(buf, cap); }
    // See PackWriter::take_file.
    bool take_file(size_t min, size_t max, FileRange *out) {
        return writer_.take_file(min, max, out);
    }
    bool done() const { return writer_.done(); }
    const PackStats &stats() const { return writer_.stats(); }

  private:
    PackWriter writer_;
};

} // namespace gsh::pack

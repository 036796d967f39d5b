// The pack of a fetch response: progress on side-band 2, the pack on
// side-band 1, a fatal error on side-band 3, then a flush; or, for a v0
// client that asked for no side-band, the bare pack.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "pack/pack_stream.h"
#include "protocol/pkt_line.h"

namespace gsh {

class PackSection {
  public:
    // max_pkt: largest side-band pkt-line (65520 for side-band-64k, 1000 for
    // side-band), or 0 for a bare pack with no side-band and no progress.
    // repo (the request's handle) and packs (its packs) must outlive this.
    PackSection(git_repository *repo, std::shared_ptr<const pack::PackSet> packs,
                pack::EnumerateInput input, pack::PackOptions options, bool progress,
                size_t max_pkt = proto::kMaxPktLen);

    // Writes side-band pkt-lines into buf (at most cap bytes) and text that
    // does not fit a pkt-line of its own into *spill; returns bytes written.
    // The first call counts the objects. Throws gsh::Error.
    size_t produce(uint8_t *buf, size_t cap, std::string *spill);
    bool finished() const { return finished_; }
    // Tells the client why the pack stops here (side-band 3; a bare pack
    // has no room for it).
    void fail(std::string *spill, std::string_view why) const;
    const pack::PackStats *stats() const { return stream_ ? &stream_->stats() : nullptr; }

  private:
    void start(std::string *spill);
    void progress(std::string *spill, std::string_view text);

    git_repository *repo_;
    std::shared_ptr<const pack::PackSet> packs_;
    pack::EnumerateInput input_;
    pack::PackOptions options_;
    bool progress_;
    size_t max_pkt_;
    bool finished_ = false;
    std::unique_ptr<pack::PackStream> stream_;
};

} // namespace gsh

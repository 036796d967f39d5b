// The pack of a fetch response: progress on side-band 2, the pack on
// side-band 1, a fatal error on side-band 3, then a flush; or, for a v0
// client that asked for no side-band, the bare pack.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pack/pack_stream.h"
#include "protocol/pkt_line.h"
#include "service/response_pieces.h"
#include "util/phase_times.h"
#include "util/sha1.h"

namespace gsh {

class PackSection {
  public:
    // max_pkt: largest side-band pkt-line (65520 for side-band-64k, 1000 for
    // side-band), or 0 for a bare pack with no side-band and no progress.
    // repo (the request's handle) and packs (its packs) must outlive this.
    PackSection(git_repository *repo, std::shared_ptr<const pack::PackSet> packs,
                pack::EnumerateInput input, pack::PackOptions options, bool progress,
                size_t max_pkt = proto::kMaxPktLen);

    // Receives whole side-band pkt-lines of progress.
    using PostFn = std::function<void(std::string_view)>;

    // Counts the objects and plans the pack: the long work before the
    // first pack byte. Progress goes to post as it is made; checkpoint is
    // called now and then and may throw to stop the work. Throws
    // gsh::Error.
    void start(const PostFn &post, const std::function<void()> &checkpoint);
    bool started() const { return stream_ != nullptr; }
    // Side-band pkt-lines (so progress and keepalives have a place), as
    // opposed to a bare pack.
    bool sideband() const { return max_pkt_ > 0; }

    // Writes side-band pkt-lines into buf (at most cap bytes) and text that
    // does not fit a pkt-line of its own into *spill; returns bytes written.
    // With pieces, a pkt-line's data may be a range of a pack file instead
    // (its header in buf). A call before start() starts, with its progress
    // in *spill. Throws gsh::Error.
    size_t produce(uint8_t *buf, size_t cap, std::string *spill, ResponsePieces *pieces = nullptr);
    bool finished() const { return finished_; }
    // Where the count, the plan and the writing of the pack are timed
    // (the session's); none when not set.
    void set_times(PhaseTimes *times) { times_ = times; }
    // Tells the client why the pack stops here (side-band 3; a bare pack
    // has no room for it).
    void fail(std::string *spill, std::string_view why) const;
    // Adds to h everything the pack's bytes follow from besides the
    // repository: what to send, the options, progress and framing. False
    // (h untouched) for a pack that depends on what the client has: one with
    // haves, or a sparse:oid filter.
    bool hash_request(pack::Sha1 &h) const;
    const pack::PackStats *stats() const { return stream_ ? &stream_->stats() : nullptr; }

  private:
    void progress(std::string *spill, std::string_view text);

    git_repository *repo_;
    std::shared_ptr<const pack::PackSet> packs_;
    pack::EnumerateInput input_;
    pack::PackOptions options_;
    bool progress_;
    PhaseTimes *times_ = nullptr;
    size_t max_pkt_;
    bool finished_ = false;
    std::unique_ptr<pack::PackStream> stream_;
};

} // namespace gsh

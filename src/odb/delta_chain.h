// Delta chains on disk, followed from entry headers alone (to plan), then
// inflated and composed into one delta (to write): a delta whose base is not
// sent becomes a delta against the first base down its chain that is.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "odb/delta_compose.h"
#include "odb/pack_format.h"
#include "odb/pack_index.h"
#include "util/zlib.h"

namespace gsh::pack {

// A git pack is written with --depth 50 at most by default (4095 is git's
// limit); chains longer than this are not composed, which also stops a walk
// through a corrupt pack whose REF_DELTA bases loop.
constexpr size_t kMaxComposeDepth = 100;

class DeltaChain {
  public:
    // packs must outlive the chain.
    explicit DeltaChain(const PackSet &packs);
    DeltaChain(const DeltaChain &) = delete;
    DeltaChain &operator=(const DeltaChain &) = delete;

    using Usable = std::function<bool(const git_oid &)>;
    // Follows the chain of the delta entry at offset in packs[pack], base
    // after base, to the first base that is usable: *base is its oid, and
    // the entries read on the way are kept for compose(). False when the
    // chain ends before (at a whole object, at a base in no pack, at a
    // malformed header) or is longer than kMaxComposeDepth deltas. Reads
    // only entry headers.
    bool follow(uint32_t pack, uint64_t offset, const Usable &usable, git_oid *base);
    // How many deltas the last successful follow() went through.
    size_t depth() const { return links_.size(); }

    // The delta from the base found by follow() to the object of its first
    // entry, into out. False when an entry does not inflate or the deltas do
    // not compose (a corrupt pack): the caller resolves the object instead.
    bool compose(std::vector<uint8_t> *out);

    // Frees the scratch buffers that grew past keep bytes (for one large
    // object), so that a long stream does not hold them to its end.
    void trim(size_t keep);

  private:
    struct Link {
        uint32_t pack;
        uint64_t offset;
        EntryHeader header;
    };
    bool inflate_link(const Link &link, std::vector<uint8_t> *out);

    const PackSet &packs_;
    std::vector<Link> links_;
    std::optional<zlib::Inflater> zs_; // started by the first compose()
    std::vector<uint8_t> compressed_, lower_, next_;
    DeltaComposer composer_;
};

} // namespace gsh::pack

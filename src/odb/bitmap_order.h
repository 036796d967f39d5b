// The order in which a reachability bitmap numbers objects: one pack's
// objects by offset (a pack's .bitmap), or a multi-pack-index's pseudo-pack
// order (its bitmap). Counting (walk/bitmap_walk.h) and planning
// (pack/pack_plan.h) see objects by rank in this order, whichever it is.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "odb/midx.h"
#include "odb/pack_index.h"

namespace gsh::pack {

// Where the object of a rank is stored: the pack (an index into the
// PackSet), its position in that pack's index, and its entry's bounds.
struct OrderedEntry {
    uint32_t pack = 0;
    uint32_t pos = 0;
    uint64_t offset = 0;
    uint64_t end = 0;
};

class BitmapOrder {
  public:
    // The ranks of one pack: they run from first to first + count - 1, by
    // offset. direct: they are all of the pack's objects, so that the k-th
    // of them is the pack's k-th entry by offset (no search needed).
    struct Block {
        uint32_t pack = 0; // in the PackSet
        uint32_t first = 0;
        uint32_t count = 0;
        bool direct = false;
    };

    virtual ~BitmapOrder() = default;

    uint32_t count() const { return count_; }
    // Position of oid in the order's own oid-sorted table (what a bitmap's
    // commit entries name), or -1 when the order does not hold it.
    virtual int64_t find(const git_oid &oid) const = 0;
    virtual uint32_t rank_of_pos(uint32_t pos) const = 0;
    virtual uint32_t pos_at_rank(size_t r) const = 0;
    virtual const uint8_t *oid_at_pos(uint32_t pos) const = 0;
    // Where the object of rank r (< count()) is. Throws gsh::Error when
    // the files disagree.
    virtual OrderedEntry entry_at_rank(size_t r) const = 0;
    // What names the order (20 bytes): the pack's trailing checksum, or the
    // multi-pack-index's. Orders of the same checksum rank the same objects
    // alike, whichever PackSet opened them.
    virtual const uint8_t *checksum() const = 0;

    const uint8_t *oid_at_rank(size_t r) const { return oid_at_pos(pos_at_rank(r)); }
    int64_t rank_of(const git_oid &oid) const {
        const int64_t pos = find(oid);
        return pos < 0 ? -1 : int64_t(rank_of_pos(uint32_t(pos)));
    }
    // Whether every object of the PackSet's pack p has a rank (the pack
    // is the bitmapped one, or one the multi-pack-index covers).
    bool covers(size_t p) const { return p < covered_.size() && covered_[p]; }
    // The PackSet's pack whose order this is: a pack bitmap's, or a
    // multi-pack-index's that covers one pack and all of it (what a
    // geometric repack often leaves); SIZE_MAX otherwise.
    size_t single_pack() const { return single_pack_; }
    // Whether the order is a multi-pack-index's.
    bool from_midx() const { return from_midx_; }
    // Every pack's ranks, in the PackSet's order of the packs.
    const std::vector<Block> &blocks() const { return blocks_; }

  protected:
    uint32_t count_ = 0;
    std::vector<Block> blocks_;
    std::vector<bool> covered_;
    size_t single_pack_ = SIZE_MAX;
    bool from_midx_ = false;
};

// One pack by offset.
class PackOrder final : public BitmapOrder {
  public:
    PackOrder(const PackSet &packs, size_t p);
    int64_t find(const git_oid &oid) const override { return pack_.find(oid); }
    uint32_t rank_of_pos(uint32_t pos) const override { return pack_.rank_of_pos(pos); }
    uint32_t pos_at_rank(size_t r) const override { return pack_.pos_at_rank(r); }
    const uint8_t *oid_at_pos(uint32_t pos) const override { return pack_.oid_at(pos); }
    OrderedEntry entry_at_rank(size_t r) const override;
    const uint8_t *checksum() const override { return pack_.pack_checksum(); }

  private:
    const PackIndex &pack_;
};

// A multi-pack-index's pseudo-pack order.
class MidxOrder final : public BitmapOrder {
  public:
    // Throws gsh::Error when midx has no order, or names a pack that packs
    // do not hold (a repack since it was written).
    MidxOrder(const PackSet &packs, std::unique_ptr<MultiPackIndex> midx);
    int64_t find(const git_oid &oid) const override { return midx_->find(oid); }
    uint32_t rank_of_pos(uint32_t pos) const override { return midx_->rank_of_pos(pos); }
    uint32_t pos_at_rank(size_t r) const override { return midx_->pos_at_rank(r); }
    const uint8_t *oid_at_pos(uint32_t pos) const override { return midx_->oid_at(pos); }
    OrderedEntry entry_at_rank(size_t r) const override;
    const uint8_t *checksum() const override { return midx_->checksum(); }
    const MultiPackIndex &midx() const { return *midx_; }

  private:
    void find_blocks();

    const PackSet &packs_;
    std::unique_ptr<MultiPackIndex> midx_;
    std::vector<uint32_t> pack_of_id_; // the PackSet's pack of each pack id
};

} // namespace gsh::pack

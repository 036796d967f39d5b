// A multi-pack-index (objects/pack/multi-pack-index, `man gitformat-pack`):
// one oid-sorted table over several packs, each object attributed to one of
// them, and the pseudo-pack order its reachability bitmap numbers objects
// in (the preferred pack first, then the others by pack id, each by offset;
// from the RIDX chunk, or multi-pack-index-<checksum>.rev beside it).
//
// Everything the lookups rely on is checked when the file is opened, so
// that a malformed or truncated file is refused (gsh::Error) rather than
// read out of bounds: the caller then counts without it.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "odb/pack_index.h"

namespace gsh::pack {

class MultiPackIndex {
  public:
    // Maps pack_dir/multi-pack-index. Throws gsh::Error when it cannot be
    // read or is malformed.
    explicit MultiPackIndex(const std::string &pack_dir);
    // The same, or nullptr when pack_dir has no multi-pack-index.
    static std::unique_ptr<MultiPackIndex> open(const std::string &pack_dir);

    uint32_t count() const { return count_; }
    // The packs it covers, by pack id: their index names ("pack-<hash>.idx").
    const std::vector<std::string> &pack_names() const { return pack_names_; }
    // Its trailing checksum (20 bytes): the name and the owner of its bitmap.
    const uint8_t *checksum() const { return map_.data() + map_.size() - kOidSize; }
    std::string checksum_hex() const;

    // Position of oid in oid order, or -1.
    int64_t find(const git_oid &oid) const;
    const uint8_t *oid_at(uint32_t pos) const { return oids_ + size_t(pos) * kOidSize; }
    // The pack id and the offset there of the object at pos.
    uint32_t pack_of(uint32_t pos) const;
    uint64_t offset_of(uint32_t pos) const;

    // Whether the pseudo-pack order is known (RIDX chunk or .rev file);
    // without it, no bitmap can be used.
    bool has_order() const { return ridx_ != nullptr; }
    // Pseudo-pack order (has_order() only): the position of rank r, and
    // the rank of position pos.
    uint32_t pos_at_rank(size_t r) const;
    uint32_t rank_of_pos(uint32_t pos) const { return rank_of_pos_[pos]; }

  private:
    static constexpr size_t kOidSize = 20;

    void parse(const std::string &path);
    void parse_names(const uint8_t *at, size_t len);
    void check_objects();
    void map_rev_file(const std::string &pack_dir);
    void check_order();

    MappedFile map_;
    uint32_t count_ = 0;
    std::vector<std::string> pack_names_;
    const uint8_t *fanout_ = nullptr;
    const uint8_t *oids_ = nullptr;
    const uint8_t *offsets_ = nullptr; // count_ * (pack id, offset)
    const uint8_t *large_ = nullptr;   // LOFF: 8-byte offsets
    size_t large_count_ = 0;
    const uint8_t *ridx_ = nullptr; // count_ big-endian positions, by rank
    MappedFile rev_map_;            // the .rev file, when ridx_ points there
    std::vector<uint32_t> rank_of_pos_;
};

} // namespace gsh::pack

// Writing a pack's .idx (version 2) and .rev (gitformat-pack "pack-*.rev")
// for the objects an indexer found in it, as git's index-pack writes them.
#pragma once

#include <git2.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gsh::pack {

struct IdxEntry {
    git_oid oid;
    uint64_t offset;
    uint32_t crc;
};

// Writes path: the fanout, the ids sorted, their CRCs, their 32-bit offsets
// (an offset of 2^31 or more goes to the 64-bit table, its slot there with
// the high bit set), pack_checksum, and the SHA-1 of all that. entries must
// be sorted by oid. Throws gsh::Error when the file cannot be written.
void write_pack_idx(const std::string &path, const std::vector<IdxEntry> &entries,
                    const uint8_t pack_checksum[20]);

// Writes path: "RIDX", version 1, hash id 1 (SHA-1), then for each entry in
// pack order its position in the .idx, pack_checksum, and the SHA-1 of all
// that. entries as for write_pack_idx.
void write_pack_rev(const std::string &path, const std::vector<IdxEntry> &entries,
                    const uint8_t pack_checksum[20]);

} // namespace gsh::pack

// A pack index (.idx v1 or v2, with or without git's .rev) as PackIndex
// reads it from disk. The input is
//   [4 bytes: the .pack's size, big-endian] [4 bytes: the .idx's length]
//   [.idx] [.rev: the rest, none when empty]
// and a .pack that agrees with the .idx on the object count and checksum
// is written beside it, so that the fuzzer gets past those checks into the
// lookups. Any malformation may be refused (gsh::Error), never read past.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_fixture.h"
#include "odb/pack_index.h"

namespace {

constexpr uint64_t kMaxPackSize = 1 << 20;

uint32_t be32(const uint8_t *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// The count the index claims (its last fanout entry), or 0.
uint32_t claimed_count(const uint8_t *idx, size_t len) {
    const size_t fanout = len >= 8 && std::memcmp(idx, "\377tOc", 4) == 0 ? 8 : 0;
    return len >= fanout + 1024 ? be32(idx + fanout + 1020) : 0;
}

void write_pack(const std::string &path, uint64_t size, const uint8_t *idx, size_t idx_len) {
    std::vector<uint8_t> head(12, 0);
    std::memcpy(head.data(), "PACK", 4);
    head[7] = 2;
    const uint32_t count = claimed_count(idx, idx_len);
    for (int i = 0; i < 4; i++)
        head[8 + size_t(i)] = uint8_t(count >> (24 - 8 * i));
    gsh::fuzz::write_file(path, head.data(), head.size());
    if (truncate(path.c_str(), off_t(size)) != 0)
        abort();
    if (idx_len >= 40 && size >= 32) {
        FILE *f = std::fopen(path.c_str(), "r+b");
        if (!f || std::fseek(f, long(size - 20), SEEK_SET) != 0 ||
            std::fwrite(idx + idx_len - 40, 1, 20, f) != 20 || std::fclose(f) != 0)
            abort();
    }
}

// Every lookup the pack writer makes, at every position.
void exercise(const gsh::pack::PackIndex &index, const uint8_t *probe) {
    const uint32_t n = index.count();
    for (uint32_t pos = 0; pos < n; pos++) {
        try {
            git_oid oid;
            std::memcpy(oid.id, index.oid_at(pos), 20);
            if (index.find(oid) >= int64_t(n))
                abort();
            const uint64_t offset = index.offset_at(pos);
            const int64_t at = index.pos_at_offset(offset);
            if (at >= int64_t(n))
                abort();
            const uint64_t end = index.entry_end(offset);
            if (end <= offset || end > index.pack_size() - 20)
                abort();
            if (index.rank_of_pos(pos) >= n)
                abort();
        } catch (const gsh::Error &) {
        }
    }
    for (uint32_t r = 0; r < n; r++) {
        try {
            if (index.pos_at_rank(r) >= n)
                abort();
            const uint64_t offset = index.offset_at_rank(r);
            if (index.end_at_rank(r) <= offset)
                abort();
        } catch (const gsh::Error &) {
        }
    }
    git_oid oid;
    std::memcpy(oid.id, probe, 20);
    if (index.find(oid) >= int64_t(n))
        abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8)
        return 0;
    const uint64_t pack_size = be32(data) % (kMaxPackSize + 1);
    const size_t idx_len = std::min<size_t>(be32(data + 4), size - 8);
    const uint8_t *idx = data + 8;
    const uint8_t *rev = idx + idx_len;
    const size_t rev_len = size - 8 - idx_len;

    const std::string base = gsh::fuzz::temp_folder().str() + "/pack-fuzz";
    gsh::fuzz::write_file(base + ".idx", idx, idx_len);
    write_pack(base + ".pack", pack_size, idx, idx_len);
    if (rev_len)
        gsh::fuzz::write_file(base + ".rev", rev, rev_len);
    else
        unlink((base + ".rev").c_str());

    uint8_t probe[20] = {};
    std::memcpy(probe, data, std::min<size_t>(size, 20));
    try {
        gsh::pack::PackIndex index(base + ".idx");
        if (index.pack_size() != pack_size)
            abort();
        exercise(index, probe);
    } catch (const gsh::Error &) {
    }
    return 0;
}

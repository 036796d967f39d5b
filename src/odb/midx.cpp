#include "odb/midx.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/big_endian.h"
#include "util/error.h"
#include "util/sorted_oids.h"

namespace gsh::pack {

namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kChunkEntry = 12;
constexpr size_t kFanoutSize = 256 * 4;

[[noreturn]] void malformed(const std::string &path, const std::string &why) {
    throw Error("bad multi-pack-index " + path + ": " + why);
}

// The whole file mapped; an empty mapping when it does not exist.
MappedFile map_file(const std::string &path) {
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            return MappedFile();
        throw Error("opening " + path + ": " + std::strerror(errno));
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
        throw Error("stat " + path + ": " + std::strerror(errno));
    if (st.st_size == 0)
        malformed(path, "empty");
    void *m = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (m == MAP_FAILED)
        throw Error("mapping " + path + ": " + std::strerror(errno));
    return MappedFile(static_cast<const uint8_t *>(m), size_t(st.st_size));
}

} // namespace

MultiPackIndex::MultiPackIndex(const std::string &pack_dir) {
    const std::string path = pack_dir + "/multi-pack-index";
    map_ = map_file(path);
    if (!map_.data())
        throw Error("no multi-pack-index in " + pack_dir);
    parse(path);
    if (!ridx_)
        map_rev_file(pack_dir);
    if (ridx_)
        check_order();
}

std::unique_ptr<MultiPackIndex> MultiPackIndex::open(const std::string &pack_dir) {
    struct stat st;
    if (::stat((pack_dir + "/multi-pack-index").c_str(), &st) != 0)
        return nullptr;
    return std::make_unique<MultiPackIndex>(pack_dir);
}

std::string MultiPackIndex::checksum_hex() const {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < kOidSize; i++) {
        out += kHex[checksum()[i] >> 4];
        out += kHex[checksum()[i] & 15];
    }
    return out;
}

// The header, the chunk table and the chunks' sizes; then every table the
// lookups index is checked against the object count.
// why long: one pass over the chunk table, each chunk's checks beside it.
void MultiPackIndex::parse(const std::string &path) {
    const uint8_t *d = map_.data();
    const size_t size = map_.size();
    if (size < kHeaderSize + kChunkEntry + kOidSize || std::memcmp(d, "MIDX", 4) != 0)
        malformed(path, "bad signature");
    if (d[4] != 1)
        malformed(path, "unsupported version");
    if (d[5] != 1)
        malformed(path, "unsupported hash");
    if (d[7] != 0)
        malformed(path, "base multi-pack-index files are not supported");
    const size_t chunks = d[6];
    const uint32_t packs = be32(d + 8);
    const size_t table_end = kHeaderSize + (chunks + 1) * kChunkEntry;
    if (table_end > size - kOidSize)
        malformed(path, "truncated chunk table");
    const uint8_t *pnam = nullptr, *ooff = nullptr, *loff = nullptr, *ridx = nullptr;
    size_t pnam_len = 0, oidl_len = 0, ooff_len = 0, loff_len = 0, ridx_len = 0;
    for (size_t c = 0; c < chunks; c++) {
        const uint8_t *e = d + kHeaderSize + c * kChunkEntry;
        const uint64_t begin = be64(e + 4), end = be64(e + 4 + kChunkEntry);
        if (begin < table_end || end < begin || end > size - kOidSize)
            malformed(path, "chunk out of bounds");
        const uint8_t *at = d + begin;
        const size_t len = size_t(end - begin);
        const uint32_t id = be32(e);
        if (id == be32(reinterpret_cast<const uint8_t *>("PNAM")))
            pnam = at, pnam_len = len;
        else if (id == be32(reinterpret_cast<const uint8_t *>("OIDF"))) {
            if (len != kFanoutSize)
                malformed(path, "bad fanout size");
            fanout_ = at;
        } else if (id == be32(reinterpret_cast<const uint8_t *>("OIDL")))
            oids_ = at, oidl_len = len;
        else if (id == be32(reinterpret_cast<const uint8_t *>("OOFF")))
            ooff = at, ooff_len = len;
        else if (id == be32(reinterpret_cast<const uint8_t *>("LOFF")))
            loff = at, loff_len = len;
        else if (id == be32(reinterpret_cast<const uint8_t *>("RIDX")))
            ridx = at, ridx_len = len;
    }
    if (!pnam || !fanout_ || !oids_ || !ooff)
        malformed(path, "a required chunk is missing");
    uint32_t prev = 0;
    for (int i = 0; i < 256; i++) {
        const uint32_t v = be32(fanout_ + 4 * i);
        if (v < prev)
            malformed(path, "fanout not monotonic");
        prev = v;
    }
    count_ = prev;
    if (oidl_len != uint64_t(count_) * kOidSize || ooff_len != uint64_t(count_) * 8 ||
        loff_len % 8 != 0)
        malformed(path, "chunk sizes disagree with the object count");
    if (ridx && ridx_len != uint64_t(count_) * 4)
        malformed(path, "bad RIDX size");
    offsets_ = ooff;
    large_ = loff;
    large_count_ = loff_len / 8;
    ridx_ = ridx;
    parse_names(pnam, pnam_len);
    if (pack_names_.size() != packs)
        malformed(path, "pack count disagrees with the pack names");
    check_objects();
}

// NUL-terminated names in increasing order, padded with NULs.
void MultiPackIndex::parse_names(const uint8_t *at, size_t len) {
    size_t i = 0;
    while (i < len && at[i] != 0) {
        const void *nul = std::memchr(at + i, 0, len - i);
        if (!nul)
            throw Error("bad multi-pack-index: unterminated pack name");
        const size_t n = size_t(static_cast<const uint8_t *>(nul) - (at + i));
        std::string name(reinterpret_cast<const char *>(at + i), n);
        if (name.find('/') != std::string::npos || name.size() < 5 ||
            (!pack_names_.empty() && !(pack_names_.back() < name)))
            throw Error("bad multi-pack-index: bad pack name " + name);
        pack_names_.push_back(std::move(name));
        i += n + 1;
    }
}

// Oids strictly increasing (lookups bisect them), in their fanout bucket,
// and every object's pack and large offset in range.
void MultiPackIndex::check_objects() {
    const auto bad = [](const char *why) {
        return Error(std::string("bad multi-pack-index: ") + why);
    };
    uint32_t bucket_end = 0;
    int byte = -1;
    for (uint32_t i = 0; i < count_; i++) {
        const uint8_t *oid = oid_at(i);
        if (i > 0 && std::memcmp(oid_at(i - 1), oid, kOidSize) >= 0)
            throw bad("object ids out of order");
        while (i >= bucket_end)
            bucket_end = be32(fanout_ + 4 * size_t(++byte));
        if (oid[0] != byte)
            throw bad("fanout disagrees with the object ids");
        const uint8_t *o = offsets_ + size_t(i) * 8;
        if (be32(o) >= pack_names_.size())
            throw bad("pack id out of range");
        const uint32_t off = be32(o + 4);
        if ((off & 0x80000000u) && (off & 0x7fffffffu) >= large_count_)
            throw bad("large offset out of range");
    }
}

// git 2.39's multi-pack-index-<checksum>.rev: a RIDX header, the positions
// by rank, the multi-pack-index's checksum and its own. Used only when it
// belongs to this multi-pack-index.
void MultiPackIndex::map_rev_file(const std::string &pack_dir) {
    MappedFile map = map_file(pack_dir + "/multi-pack-index-" + checksum_hex() + ".rev");
    const uint8_t *r = map.data();
    if (!r || map.size() != 12 + uint64_t(count_) * 4 + 2 * kOidSize)
        return;
    if (std::memcmp(r, "RIDX", 4) != 0 || be32(r + 4) != 1 || be32(r + 8) != 1 ||
        std::memcmp(r + map.size() - 2 * kOidSize, checksum(), kOidSize) != 0)
        return;
    rev_map_ = std::move(map);
    ridx_ = rev_map_.data() + 12;
}

// The order must be a permutation; its inverse is what counting needs.
void MultiPackIndex::check_order() {
    rank_of_pos_.assign(count_, UINT32_MAX);
    for (uint32_t r = 0; r < count_; r++) {
        const uint32_t pos = be32(ridx_ + 4 * size_t(r));
        if (pos >= count_ || rank_of_pos_[pos] != UINT32_MAX)
            throw Error("bad multi-pack-index: its reverse index is not a permutation");
        rank_of_pos_[pos] = r;
    }
}

uint32_t MultiPackIndex::pos_at_rank(size_t r) const {
    return be32(ridx_ + 4 * r);
}

int64_t MultiPackIndex::find(const git_oid &oid) const {
    return find_sorted_oid(fanout_, oids_, oid.id);
}

uint32_t MultiPackIndex::pack_of(uint32_t pos) const {
    return be32(offsets_ + size_t(pos) * 8);
}

uint64_t MultiPackIndex::offset_of(uint32_t pos) const {
    const uint32_t v = be32(offsets_ + size_t(pos) * 8 + 4);
    if (!(v & 0x80000000u))
        return v;
    return be64(large_ + size_t(v & 0x7fffffffu) * 8);
}

} // namespace gsh::pack

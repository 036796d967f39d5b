#include "odb/bitmap_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/big_endian.h"
#include "util/error.h"

namespace gsh::pack {

namespace {

[[noreturn]] void malformed(const std::string &what) {
    throw Error("malformed bitmap index: " + what);
}

std::vector<uint8_t> read_file(const std::string &path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error("cannot open " + path + ": " + strerror(errno));
    std::vector<uint8_t> data;
    struct stat st;
    if (fstat(fd, &st) == 0)
        data.reserve(size_t(st.st_size));
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            throw Error("cannot read " + path + ": " + strerror(err));
        }
        if (n == 0)
            break;
        data.insert(data.end(), buf, buf + n);
    }
    close(fd);
    return data;
}

} // namespace

Bitset &Bitset::operator|=(const Bitset &o) {
    if (o.words_.size() > words_.size())
        words_.resize(o.words_.size(), 0);
    for (size_t i = 0; i < o.words_.size(); i++)
        words_[i] |= o.words_[i];
    return *this;
}

Bitset &Bitset::operator^=(const Bitset &o) {
    if (o.words_.size() > words_.size())
        words_.resize(o.words_.size(), 0);
    for (size_t i = 0; i < o.words_.size(); i++)
        words_[i] ^= o.words_[i];
    return *this;
}

Bitset &Bitset::and_not(const Bitset &o) {
    size_t n = std::min(words_.size(), o.words_.size());
    for (size_t i = 0; i < n; i++)
        words_[i] &= ~o.words_[i];
    return *this;
}

Bitset &Bitset::operator&=(const Bitset &o) {
    for (size_t i = 0; i < words_.size(); i++)
        words_[i] &= i < o.words_.size() ? o.words_[i] : 0;
    return *this;
}

size_t Bitset::count() const {
    size_t n = 0;
    for (uint64_t w : words_)
        n += size_t(__builtin_popcountll(w));
    return n;
}

Bitset ewah_decode(const uint8_t *data, size_t len, size_t *consumed) {
    if (len < 8)
        malformed("truncated EWAH header");
    const uint32_t bits = be32(data);
    const uint32_t words = be32(data + 4);
    const size_t size = 8 + size_t(words) * 8 + 4;
    if (len < size)
        malformed("truncated EWAH bitmap");
    Bitset out(bits);
    std::vector<uint64_t> &dst = out.words();
    size_t pos = 0; // in words of the uncompressed bitmap
    const uint8_t *w = data + 8;
    for (uint32_t i = 0; i < words;) {
        const uint64_t rlw = be64(w + size_t(i) * 8);
        i++;
        const bool bit = rlw & 1;
        const uint64_t run = (rlw >> 1) & 0xffffffffu;
        const uint64_t literals = rlw >> 33;
        if (pos + run > dst.size() || i + literals > words || pos + run + literals > dst.size())
            malformed("EWAH run beyond the bitmap's size");
        if (bit)
            std::fill(dst.begin() + long(pos), dst.begin() + long(pos + run), ~uint64_t(0));
        pos += run;
        for (uint64_t k = 0; k < literals; k++, i++)
            dst[pos++] = be64(w + size_t(i) * 8);
    }
    // A run of ones may overshoot the bit count in its last word.
    if (bits % 64 && !dst.empty())
        dst.back() &= (uint64_t(1) << (bits % 64)) - 1;
    *consumed = size;
    return out;
}

// The smallest entry: commit position, xor offset, flags, and an empty
// EWAH (bit count, word count, position of the last run-length word).
constexpr size_t kMinEntrySize = 6 + 4 + 4 + 4;

Bitset BitmapIndex::decode(size_t offset, size_t end, size_t *used) const {
    const uint8_t *p = file_.data() + offset;
    // Bits number the pack's objects; git rounds an entry's up to a whole
    // word. Checked before ewah_decode allocates that many.
    const uint64_t max_bits = (uint64_t(object_count_) + 63) / 64 * 64;
    if (end - offset >= 4 && be32(p) > max_bits)
        malformed("a bitmap longer than the pack's " + std::to_string(object_count_) + " objects");
    Bitset bits = ewah_decode(p, end - offset, used);
    const std::vector<uint64_t> &words = bits.words();
    for (size_t w = object_count_ / 64; w < words.size(); w++) {
        const size_t first = w * 64 < object_count_ ? object_count_ - w * 64 : 0;
        if (words[w] >> first)
            malformed("a bit past the pack's " + std::to_string(object_count_) + " objects");
    }
    return bits;
}

BitmapIndex::BitmapIndex(const std::string &path, uint32_t object_count,
                         const uint8_t pack_checksum[20])
    : file_(read_file(path)), object_count_(object_count) {
    const uint8_t *p = file_.data();
    size_t len = file_.size();
    if (len < 32 || std::memcmp(p, "BITM", 4) != 0)
        malformed(path + ": bad signature");
    if ((uint32_t(p[4]) << 8 | p[5]) != 1)
        malformed(path + ": unsupported version");
    const uint32_t flags = uint32_t(p[6]) << 8 | p[7];
    if (!(flags & 0x1))
        malformed(path + ": not a full-closure bitmap");
    const uint32_t count = be32(p + 8);
    if (std::memcmp(p + 12, pack_checksum, 20) != 0)
        throw Error(path + " belongs to another pack");
    size_t end = len;
    if (flags & 0x4) { // name-hash cache at the end
        if (size_t(object_count) * 4 > len - 32)
            malformed(path + ": truncated name-hash cache");
        end -= size_t(object_count) * 4;
    }
    size_t off = 32;
    for (Bitset &t : types_) {
        size_t used;
        t = decode(off, end, &used);
        off += used;
    }
    if (count > (end - off) / kMinEntrySize)
        malformed(path + ": more entries than the file holds");
    entries_.reserve(count);
    for (uint32_t i = 0; i < count; i++) {
        if (end - off < 6)
            malformed(path + ": truncated entry");
        Entry e{be32(p + off), p[off + 4], off + 6};
        if (e.xor_offset > 160 || e.xor_offset > i || e.idx_pos >= object_count)
            malformed(path + ": bad entry");
        size_t used;
        decode(e.data_offset, end, &used); // validates
        off = e.data_offset + used;
        by_pos_.emplace(e.idx_pos, entries_.size());
        entries_.push_back(e);
    }
    resolved_.resize(entries_.size());
}

// An entry is XORed with an earlier one, which may be XORed in turn: the
// chain is followed down to a resolved (or plain) entry first, then
// resolved upwards, so that a long chain needs no deep recursion.
const Bitset &BitmapIndex::resolve(size_t entry) const {
    std::vector<size_t> chain;
    for (size_t at = entry; !resolved_[at];) {
        chain.push_back(at);
        const uint8_t xor_offset = entries_[at].xor_offset;
        if (!xor_offset)
            break;
        at -= xor_offset;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const Entry &e = entries_[*it];
        size_t used;
        auto bits = std::make_unique<Bitset>(
            ewah_decode(file_.data() + e.data_offset, file_.size() - e.data_offset, &used));
        if (e.xor_offset)
            *bits ^= *resolved_[*it - e.xor_offset];
        resolved_[*it] = std::move(bits);
    }
    return *resolved_[entry];
}

const Bitset *BitmapIndex::reachable(uint32_t idx_pos) const {
    auto it = by_pos_.find(idx_pos);
    if (it == by_pos_.end())
        return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    return &resolve(it->second);
}

} // namespace gsh::pack

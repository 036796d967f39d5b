// A reachability bitmap index (.bitmap, git's bitmap-format v1): for
// selected commits, the set of objects reachable from them, as bits in the
// order of what it belongs to: a pack's (bit n is the n-th object of the
// pack sorted by offset) or a multi-pack-index's pseudo-pack order (see
// bitmap_order.h). Commits are named by their position in that one's oid
// order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace gsh::pack {

// A plain (uncompressed) bit set.
class Bitset {
  public:
    Bitset() = default;
    explicit Bitset(size_t bits) : words_((bits + 63) / 64, 0) {}

    size_t word_count() const { return words_.size(); }
    const std::vector<uint64_t> &words() const { return words_; }
    std::vector<uint64_t> &words() { return words_; }

    bool test(size_t i) const { return i / 64 < words_.size() && (words_[i / 64] >> (i % 64) & 1); }
    void set(size_t i) {
        if (i / 64 >= words_.size())
            words_.resize(i / 64 + 1, 0);
        words_[i / 64] |= uint64_t(1) << (i % 64);
    }
    Bitset &operator|=(const Bitset &o);
    Bitset &operator^=(const Bitset &o);
    Bitset &and_not(const Bitset &o);
    Bitset &operator&=(const Bitset &o);
    size_t count() const;

    // Calls fn(position) for every set bit, in increasing order.
    template <typename Fn> void for_each(Fn &&fn) const {
        for (size_t w = 0; w < words_.size(); w++) {
            uint64_t word = words_[w];
            while (word) {
                fn(w * 64 + size_t(__builtin_ctzll(word)));
                word &= word - 1;
            }
        }
    }

  private:
    std::vector<uint64_t> words_;
};

// Decodes one serialized EWAH bitmap starting at data; sets *consumed to its
// size in bytes. Throws gsh::Error on a malformed bitmap.
Bitset ewah_decode(const uint8_t *data, size_t len, size_t *consumed);

class BitmapIndex {
  public:
    enum Type { kCommits = 0, kTrees = 1, kBlobs = 2, kTags = 3 };

    // Reads path. object_count and pack_checksum are those of the pack (or
    // multi-pack-index) the bitmap must belong to. Throws gsh::Error when
    // it is malformed or belongs to another.
    BitmapIndex(const std::string &path, uint32_t object_count, const uint8_t pack_checksum[20]);

    // Objects of a type.
    const Bitset &type(Type t) const { return types_[t]; }
    // Number of bitmapped commits.
    size_t commit_count() const { return entries_.size(); }
    // The reachability bitmap of the commit at position idx_pos in the oid
    // order (the .idx's, or the multi-pack-index's), or nullptr when that
    // commit has none. Decoded on first use and kept: the pointer stays
    // valid as long as the index. Safe to call from several threads.
    const Bitset *reachable(uint32_t idx_pos) const;
    bool has(uint32_t idx_pos) const { return by_pos_.count(idx_pos) != 0; }

  private:
    struct Entry {
        uint32_t idx_pos;
        uint8_t xor_offset;
        size_t data_offset; // of the entry's EWAH in the file
    };
    // The EWAH at offset (ending by end), refused when it has bits past
    // the pack's objects.
    Bitset decode(size_t offset, size_t end, size_t *used) const;
    const Bitset &resolve(size_t entry) const; // with mutex_ held

    std::vector<uint8_t> file_;
    uint32_t object_count_;
    Bitset types_[4];
    std::vector<Entry> entries_;
    std::unordered_map<uint32_t, size_t> by_pos_;
    mutable std::mutex mutex_;
    mutable std::vector<std::unique_ptr<Bitset>> resolved_;
};

} // namespace gsh::pack

// Composing git deltas (man gitformat-pack, "Deltified representation"):
// from delta(C→B) and delta(B→D), delta(C→D), without C, B or D. A delta
// whose base is not sent can then be written against an older base that is,
// for the cost of inflating the deltas between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gsh::pack {

// Longest copy a copy op says: git's diff-delta never writes more, and a
// copy op without size bytes means exactly this.
constexpr uint64_t kMaxCopy = 0x10000;
// Longest insert op.
constexpr size_t kMaxInsert = 127;

// Writes deltas op by op: contiguous copies become one (split at kMaxCopy),
// adjacent inserts share ops of up to kMaxInsert bytes.
class DeltaWriter {
  public:
    // Starts a delta in out (cleared) with its two size varints.
    void start(std::vector<uint8_t> *out, uint64_t base_size, uint64_t result_size);
    // False once a copy op's offset does not fit its 32 bits.
    bool copy(uint64_t offset, uint64_t size);
    void insert(const uint8_t *data, size_t size);
    // Writes what is pending; false when a copy could not be encoded.
    bool finish();

  private:
    void flush_copy();

    bool failed_ = false;

    std::vector<uint8_t> *out_ = nullptr;
    uint64_t copy_offset_ = 0, copy_size_ = 0;
    size_t insert_op_ = SIZE_MAX; // index in out_ of the open insert op
};

// Composes deltas with scratch space kept between calls.
class DeltaComposer {
  public:
    // out = delta(C→D) from lower = delta(C→B) and upper = delta(B→D).
    // False when either is malformed, when they do not fit together (upper's
    // base size is not lower's result size), or when an offset into C needs
    // more than 32 bits.
    bool compose(const uint8_t *lower, size_t lower_len, const uint8_t *upper, size_t upper_len,
                 std::vector<uint8_t> *out);

  private:
    // A piece of B as lower makes it: bytes of C from `from`, or bytes of
    // lower itself from `from` (literal). It ends where the next starts.
    struct Segment {
        uint64_t start; // in B
        uint64_t from;
        bool literal;
    };
    bool parse_lower(const uint8_t *lower, size_t lower_len, uint64_t *base_size,
                     uint64_t *result_size);

    std::vector<Segment> segments_;
    DeltaWriter writer_;
};

// The same with fresh scratch space.
bool compose_deltas(const uint8_t *lower, size_t lower_len, const uint8_t *upper, size_t upper_len,
                    std::vector<uint8_t> *out);

} // namespace gsh::pack

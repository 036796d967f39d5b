#include "odb/delta_compose.h"

#include <algorithm>

#include "odb/pack_format.h"

namespace gsh::pack {

namespace {

void put_varint(std::vector<uint8_t> *out, uint64_t v) {
    while (v >= 0x80) {
        out->push_back(uint8_t(v | 0x80));
        v >>= 7;
    }
    out->push_back(uint8_t(v));
}

} // namespace

void DeltaWriter::start(std::vector<uint8_t> *out, uint64_t base_size, uint64_t result_size) {
    out_ = out;
    out_->clear();
    put_varint(out_, base_size);
    put_varint(out_, result_size);
    copy_offset_ = copy_size_ = 0;
    insert_op_ = SIZE_MAX;
    failed_ = false;
}

bool DeltaWriter::copy(uint64_t offset, uint64_t size) {
    insert_op_ = SIZE_MAX;
    if (copy_size_ && copy_offset_ + copy_size_ == offset) {
        copy_size_ += size;
        return !failed_;
    }
    flush_copy();
    copy_offset_ = offset;
    copy_size_ = size;
    return !failed_;
}

void DeltaWriter::insert(const uint8_t *data, size_t size) {
    flush_copy();
    while (size) {
        if (insert_op_ == SIZE_MAX || (*out_)[insert_op_] == kMaxInsert) {
            insert_op_ = out_->size();
            out_->push_back(0);
        }
        const size_t n = std::min<size_t>(size, kMaxInsert - (*out_)[insert_op_]);
        out_->insert(out_->end(), data, data + n);
        (*out_)[insert_op_] = uint8_t((*out_)[insert_op_] + n);
        data += n;
        size -= n;
    }
}

void DeltaWriter::flush_copy() {
    while (copy_size_) {
        // A copy op addresses 32 bits of its base (a base of 4 GiB or more
        // cannot be composed against).
        if (copy_offset_ > UINT32_MAX) {
            failed_ = true;
            copy_size_ = 0;
            return;
        }
        const uint64_t n = std::min(copy_size_, kMaxCopy);
        uint8_t op[8];
        size_t len = 1;
        op[0] = 0x80;
        for (int b = 0; b < 4; b++)
            if (const uint8_t byte = uint8_t(copy_offset_ >> (8 * b))) {
                op[0] |= uint8_t(1 << b);
                op[len++] = byte;
            }
        if (n != kMaxCopy) // no size bytes: kMaxCopy
            for (int b = 0; b < 2; b++)
                if (const uint8_t byte = uint8_t(n >> (8 * b))) {
                    op[0] |= uint8_t(0x10 << b);
                    op[len++] = byte;
                }
        out_->insert(out_->end(), op, op + len);
        copy_offset_ += n;
        copy_size_ -= n;
    }
}

bool DeltaWriter::finish() {
    insert_op_ = SIZE_MAX;
    flush_copy();
    return !failed_;
}

bool DeltaComposer::parse_lower(const uint8_t *lower, size_t lower_len, uint64_t *base_size,
                                uint64_t *result_size) {
    segments_.clear();
    const uint8_t *p = lower, *end = lower + lower_len;
    if (!delta_varint(p, end, base_size) || !delta_varint(p, end, result_size))
        return false;
    uint64_t at = 0;
    while (p < end) {
        DeltaOp op;
        if (!next_delta_op(p, end, &op))
            return false;
        if (op.copy && (op.offset > *base_size || op.size > *base_size - op.offset))
            return false;
        if (op.size > *result_size - at)
            return false;
        segments_.push_back({at, op.copy ? op.offset : uint64_t(op.data - lower), !op.copy});
        at += op.size;
    }
    if (at != *result_size)
        return false;
    segments_.push_back({at, 0, false}); // the end of the last one
    return true;
}

bool DeltaComposer::compose(const uint8_t *lower, size_t lower_len, const uint8_t *upper,
                            size_t upper_len, std::vector<uint8_t> *out) {
    uint64_t c_size, b_size, upper_base, d_size;
    if (!parse_lower(lower, lower_len, &c_size, &b_size))
        return false;
    const uint8_t *p = upper, *end = upper + upper_len;
    if (!delta_varint(p, end, &upper_base) || !delta_varint(p, end, &d_size) ||
        upper_base != b_size)
        return false;
    writer_.start(out, c_size, d_size);
    uint64_t made = 0;
    while (p < end) {
        DeltaOp op;
        if (!next_delta_op(p, end, &op) || op.size > d_size - made)
            return false;
        made += op.size;
        if (!op.copy) {
            writer_.insert(op.data, size_t(op.size));
            continue;
        }
        if (op.offset > b_size || op.size > b_size - op.offset)
            return false;
        // The segments of B that the copy spans, the first by binary search
        // (the last segment is the end marker, never a match).
        auto seg = std::upper_bound(segments_.begin(), segments_.end() - 1, op.offset,
                                    [](uint64_t off, const Segment &s) { return off < s.start; }) -
                   1;
        uint64_t off = op.offset, left = op.size;
        while (left) {
            const uint64_t into = off - seg->start;
            const uint64_t n = std::min(left, (seg + 1)->start - off);
            if (seg->literal)
                writer_.insert(lower + seg->from + into, size_t(n));
            else if (!writer_.copy(seg->from + into, n))
                return false;
            off += n;
            left -= n;
            ++seg;
        }
    }
    return made == d_size && writer_.finish();
}

bool compose_deltas(const uint8_t *lower, size_t lower_len, const uint8_t *upper, size_t upper_len,
                    std::vector<uint8_t> *out) {
    DeltaComposer composer;
    return composer.compose(lower, lower_len, upper, upper_len, out);
}

} // namespace gsh::pack

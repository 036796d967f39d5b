#include "pack/delta_encode.h"

#include <algorithm>
#include <cstring>

namespace gsh::pack {

namespace {

// A polynomial hash over kBlock bytes that can be moved one byte on:
// h = sum of byte[k] * kMul^(kBlock-1-k), modulo 2^32.
constexpr uint32_t kMul = 0x01000193;

constexpr uint32_t mul_pow(size_t n) {
    uint32_t r = 1;
    for (size_t i = 0; i < n; i++)
        r *= kMul;
    return r;
}
constexpr uint32_t kOut = mul_pow(DeltaEncoder::kBlock - 1); // weight of the byte leaving

// Candidate blocks looked at per target position: repetitive bases put many
// blocks in one bucket, and the first few are as good as any.
constexpr size_t kMaxTries = 16;

uint32_t block_hash(const uint8_t *p) {
    uint32_t h = 0;
    for (size_t k = 0; k < DeltaEncoder::kBlock; k++)
        h = h * kMul + p[k];
    return h;
}

uint32_t bucket(uint32_t h, uint32_t shift) {
    return uint32_t((h * 0x9e3779b1u) >> shift);
}

// Length of the common prefix of a and b, at most n.
size_t common_prefix(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t x, y;
        std::memcpy(&x, a + i, 8);
        std::memcpy(&y, b + i, 8);
        if (x != y)
            break;
        i += 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

} // namespace

void DeltaEncoder::index(const uint8_t *base, size_t base_len) {
    const size_t blocks = base_len / kBlock;
    uint32_t bits = 4;
    while ((size_t(1) << bits) < blocks)
        bits++;
    shift_ = 32 - bits;
    head_.assign(size_t(1) << bits, 0);
    next_.resize(blocks);
    for (size_t b = 0; b < blocks; b++) {
        uint32_t &head = head_[bucket(block_hash(base + b * kBlock), shift_)];
        next_[b] = head;
        head = uint32_t(b + 1);
    }
}

bool DeltaEncoder::encode(const uint8_t *base, size_t base_len, const uint8_t *target,
                          size_t target_len, size_t max_size, std::vector<uint8_t> *out) {
    if (base_len > kMaxBase)
        return false;
    writer_.start(out, base_len, target_len);
    size_t lit = 0; // start of the bytes not yet written
    size_t t = 0;
    if (base_len >= kBlock && target_len >= kBlock) {
        index(base, base_len);
        uint32_t h = block_hash(target);
        while (t + kBlock <= target_len) {
            size_t best_len = 0, best_off = 0, best_t = 0;
            size_t tries = 0;
            for (uint32_t c = head_[bucket(h, shift_)]; c && tries < kMaxTries;
                 c = next_[c - 1], tries++) {
                const size_t off = size_t(c - 1) * kBlock;
                if (std::memcmp(base + off, target + t, kBlock) != 0)
                    continue;
                const size_t fwd =
                    kBlock + common_prefix(base + off + kBlock, target + t + kBlock,
                                           std::min(base_len - off, target_len - t) - kBlock);
                size_t back = 0;
                while (back < t - lit && back < off && base[off - back - 1] == target[t - back - 1])
                    back++;
                if (fwd + back > best_len) {
                    best_len = fwd + back;
                    best_off = off - back;
                    best_t = t - back;
                }
            }
            if (best_len) {
                if (best_t > lit)
                    writer_.insert(target + lit, best_t - lit);
                if (!writer_.copy(best_off, best_len))
                    return false;
                t = lit = best_t + best_len;
                if (out->size() > max_size)
                    return false;
                if (t + kBlock <= target_len)
                    h = block_hash(target + t);
                continue;
            }
            // Pending bytes cost about as much as they are long.
            if (out->size() + (t - lit) > max_size)
                return false;
            if (t + kBlock < target_len)
                h = (h - target[t] * kOut) * kMul + target[t + kBlock];
            t++;
        }
    }
    if (target_len > lit)
        writer_.insert(target + lit, target_len - lit);
    return writer_.finish() && out->size() <= max_size;
}

} // namespace gsh::pack

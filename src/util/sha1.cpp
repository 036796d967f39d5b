#include "util/sha1.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define GSH_SHA1_X86 1
#endif

namespace gsh::pack {

namespace detail {

namespace {

inline uint32_t rol(uint32_t x, int n) {
    return (x << n) | (x >> (32 - n));
}

inline uint32_t load_be32(const uint8_t *p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

} // namespace

// Straightforward FIPS 180-4 compression with a rolling 16-word schedule;
// the round macros let the compiler keep everything in registers.
void sha1_blocks_portable(uint32_t state[5], const uint8_t *p, size_t nblocks) {
    uint32_t w[16];
    while (nblocks--) {
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
        for (int i = 0; i < 16; i++)
            w[i] = load_be32(p + 4 * i);

#define GSH_W(t)                                                                                   \
    (w[(t)&15] = rol(w[((t) + 13) & 15] ^ w[((t) + 8) & 15] ^ w[((t) + 2) & 15] ^ w[(t)&15], 1))
#define GSH_R(v, wt, f, k)                                                                         \
    do {                                                                                           \
        uint32_t t_ = rol(a, 5) + (f) + e + (k) + (wt);                                            \
        e = d;                                                                                     \
        d = c;                                                                                     \
        c = rol(b, 30);                                                                            \
        b = a;                                                                                     \
        a = t_;                                                                                    \
    } while (0)
#define GSH_F1 (d ^ (b & (c ^ d)))
#define GSH_F2 (b ^ c ^ d)
#define GSH_F3 ((b & c) | (d & (b | c)))

        int t = 0;
        for (; t < 16; t++)
            GSH_R(t, w[t], GSH_F1, 0x5a827999u);
        for (; t < 20; t++)
            GSH_R(t, GSH_W(t), GSH_F1, 0x5a827999u);
        for (; t < 40; t++)
            GSH_R(t, GSH_W(t), GSH_F2, 0x6ed9eba1u);
        for (; t < 60; t++)
            GSH_R(t, GSH_W(t), GSH_F3, 0x8f1bbcdcu);
        for (; t < 80; t++)
            GSH_R(t, GSH_W(t), GSH_F2, 0xca62c1d6u);

#undef GSH_W
#undef GSH_R
#undef GSH_F1
#undef GSH_F2
#undef GSH_F3

        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        p += 64;
    }
}

#ifdef GSH_SHA1_X86

// cpuid rather than __builtin_cpu_supports("sha"), which clang (the
// fuzzing build) does not know.
bool sha1_have_shani() {
    static const bool have = [] {
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d))
            return false;
        const bool ssse3 = c & bit_SSSE3, sse41 = c & bit_SSE4_1;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
            return false;
        return ssse3 && sse41 && (b & bit_SHA);
    }();
    return have;
}

// Four rounds per sha1rnds4; the message schedule is kept as 20 groups of
// four words: W[k+4] = msg2(msg1(W[k], W[k+1]) ^ W[k+2], W[k+3]).
__attribute__((target("sha,sse4.1,ssse3"))) void
sha1_blocks_shani(uint32_t state[5], const uint8_t *p, size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    __m128i abcd =
        _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(state)), 0x1b);
    __m128i e0 = _mm_set_epi32(int(state[4]), 0, 0, 0);

    while (nblocks--) {
        const __m128i abcd_save = abcd;
        const __m128i e_save = e0;
        __m128i w[20];
        for (int k = 0; k < 4; k++)
            w[k] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * k)),
                                    bswap);
        for (int k = 0; k < 16; k++)
            w[k + 4] = _mm_sha1msg2_epu32(
                _mm_xor_si128(_mm_sha1msg1_epu32(w[k], w[k + 1]), w[k + 2]), w[k + 3]);

        __m128i e = _mm_add_epi32(e0, w[0]);
        __m128i prev = abcd;
#define GSH_STEP(k, f)                                                                             \
    do {                                                                                           \
        prev = abcd;                                                                               \
        abcd = _mm_sha1rnds4_epu32(abcd, e, f);                                                    \
        if ((k) < 19)                                                                              \
            e = _mm_sha1nexte_epu32(prev, w[(k) + 1 < 20 ? (k) + 1 : 19]);                         \
    } while (0)
        for (int k = 0; k < 5; k++)
            GSH_STEP(k, 0);
        for (int k = 5; k < 10; k++)
            GSH_STEP(k, 1);
        for (int k = 10; k < 15; k++)
            GSH_STEP(k, 2);
        for (int k = 15; k < 20; k++)
            GSH_STEP(k, 3);
#undef GSH_STEP
        e0 = _mm_sha1nexte_epu32(prev, e_save);
        abcd = _mm_add_epi32(abcd, abcd_save);
        p += 64;
    }

    _mm_storeu_si128(reinterpret_cast<__m128i *>(state), _mm_shuffle_epi32(abcd, 0x1b));
    state[4] = uint32_t(_mm_extract_epi32(e0, 3));
}

#else

bool sha1_have_shani() {
    return false;
}
void sha1_blocks_shani(uint32_t state[5], const uint8_t *p, size_t nblocks) {
    sha1_blocks_portable(state, p, nblocks);
}

#endif

} // namespace detail

namespace {

using BlocksFn = void (*)(uint32_t *, const uint8_t *, size_t);

BlocksFn blocks_fn() {
    static const BlocksFn fn =
        detail::sha1_have_shani() ? detail::sha1_blocks_shani : detail::sha1_blocks_portable;
    return fn;
}

} // namespace

void Sha1::reset() {
    h_[0] = 0x67452301u;
    h_[1] = 0xefcdab89u;
    h_[2] = 0x98badcfeu;
    h_[3] = 0x10325476u;
    h_[4] = 0xc3d2e1f0u;
    total_ = 0;
    buffered_ = 0;
}

void Sha1::update(const void *data, size_t len) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    total_ += len;
    if (buffered_) {
        size_t take = 64 - buffered_;
        if (take > len)
            take = len;
        std::memcpy(buf_ + buffered_, p, take);
        buffered_ += take;
        p += take;
        len -= take;
        if (buffered_ < 64)
            return;
        blocks_fn()(h_, buf_, 1);
        buffered_ = 0;
    }
    if (len >= 64) {
        size_t n = len / 64;
        blocks_fn()(h_, p, n);
        p += n * 64;
        len -= n * 64;
    }
    if (len) {
        std::memcpy(buf_, p, len);
        buffered_ = len;
    }
}

Sha1::Digest Sha1::final() {
    const uint64_t bits = total_ * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (buffered_ < 56) ? 56 - buffered_ : 120 - buffered_;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = uint8_t(bits >> (56 - 8 * i));
    update(pad, padlen + 8);
    Digest out;
    for (int i = 0; i < 5; i++) {
        out[4 * i] = uint8_t(h_[i] >> 24);
        out[4 * i + 1] = uint8_t(h_[i] >> 16);
        out[4 * i + 2] = uint8_t(h_[i] >> 8);
        out[4 * i + 3] = uint8_t(h_[i]);
    }
    return out;
}

Sha1::Digest Sha1::of(const void *data, size_t len) {
    Sha1 s;
    s.update(data, len);
    return s.final();
}

std::string Sha1::hex(const Digest &d) {
    static const char digits[] = "0123456789abcdef";
    std::string s(2 * kDigestSize, '0');
    for (size_t i = 0; i < kDigestSize; i++) {
        s[2 * i] = digits[d[i] >> 4];
        s[2 * i + 1] = digits[d[i] & 15];
    }
    return s;
}

} // namespace gsh::pack

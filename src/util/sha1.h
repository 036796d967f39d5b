// SHA-1 (FIPS 180-4), streaming. Used for the pack trailer; no OpenSSL.
// Uses the x86 SHA extensions when the CPU has them, portable code otherwise.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace gsh::pack {

class Sha1 {
  public:
    static constexpr size_t kDigestSize = 20;
    using Digest = std::array<uint8_t, kDigestSize>;

    Sha1() { reset(); }
    void reset();
    void update(const void *data, size_t len);
    // Finishes the hash; the object must be reset() before it is used again.
    Digest final();

    static Digest of(const void *data, size_t len);
    static std::string hex(const Digest &d);

  private:
    uint32_t h_[5];
    uint64_t total_ = 0;
    size_t buffered_ = 0;
    uint8_t buf_[64];
};

namespace detail {
// Compression of nblocks consecutive 64-byte blocks into state.
void sha1_blocks_portable(uint32_t state[5], const uint8_t *p, size_t nblocks);
// True when the CPU has the SHA extensions (then sha1_blocks_shani may be used).
bool sha1_have_shani();
void sha1_blocks_shani(uint32_t state[5], const uint8_t *p, size_t nblocks);
} // namespace detail

} // namespace gsh::pack

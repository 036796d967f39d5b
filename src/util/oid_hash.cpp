#include "util/oid_hash.h"

#include <chrono>
#include <random>

namespace gsh {

uint64_t oid_hash_key() {
    std::random_device rd;
    uint64_t key = (uint64_t(rd()) << 32) ^ rd();
    // random_device may be deterministic where no entropy source exists.
    key ^= uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
    return key | 1;
}

} // namespace gsh

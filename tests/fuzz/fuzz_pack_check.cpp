// The streaming pack checker over any bytes. The first input byte picks the
// size of the pieces the rest is fed in; the verdict must be the one the
// whole input gets at once (a pack arrives in whatever pieces the network
// makes), the checker never claims more bytes than it was given, and an
// accepted pack has a header, its entries and a trailer.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "push/pack_check.h"

namespace {

// Small enough that a few bytes of input reach the limit checks.
constexpr uint64_t kMaxObject = 1 << 16;

std::string verdict(const uint8_t *data, size_t size, size_t step, uint64_t *bytes,
                    uint32_t *objects) {
    gsh::pack::PackCheckLimits limits;
    limits.max_object_size = kMaxObject;
    gsh::pack::PackChecker c(limits);
    bool ok = true;
    for (size_t pos = 0; ok && pos < size; pos += step)
        ok = c.feed(data + pos, std::min(step, size - pos));
    if (ok)
        ok = c.finish();
    *bytes = c.bytes();
    *objects = c.objects();
    return ok ? std::string() : c.error();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const size_t step = 1 + data[0] % 61;
    data++;
    size--;
    uint64_t whole_bytes = 0, piece_bytes = 0;
    uint32_t whole_objects = 0, piece_objects = 0;
    const std::string whole = verdict(data, size, size ? size : 1, &whole_bytes, &whole_objects);
    const std::string pieces = verdict(data, size, step, &piece_bytes, &piece_objects);
    if (whole != pieces || whole_objects != piece_objects)
        abort();
    if (whole_bytes > size || piece_bytes > size)
        abort();
    // Accepted: all of it read, at least a header and a trailer.
    if (whole.empty() && (whole_bytes != size || size < 32))
        abort();
    if (!whole.empty() && whole.find('\n') != std::string::npos)
        abort();
    return 0;
}

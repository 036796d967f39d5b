// A reachability bitmap (.bitmap) as BitmapIndex reads it from disk. The
// input is [4 bytes: the pack's object count, big-endian] [.bitmap]; the
// pack checksum expected is the one the file names, so that the fuzzer
// gets past that check. Any malformation may be refused (gsh::Error),
// never read past or resolved into bits beyond the pack's objects.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_fixture.h"
#include "odb/bitmap_index.h"

namespace {

uint32_t be32(const uint8_t *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4)
        return 0;
    // Counts past what the input could describe only slow the fuzzer down.
    const uint32_t object_count = be32(data) % (1u << 20);
    const uint8_t *file = data + 4;
    const size_t len = size - 4;
    uint8_t checksum[20] = {};
    if (len >= 32)
        std::memcpy(checksum, file + 12, 20);

    const std::string path = gsh::fuzz::temp_folder().str() + "/pack-fuzz.bitmap";
    gsh::fuzz::write_file(path, file, len);
    try {
        gsh::pack::BitmapIndex index(path, object_count, checksum);
        // Bits number the pack's objects: a bit past them would be read as
        // an object by the walk.
        for (int t = 0; t < 4; t++)
            index.type(gsh::pack::BitmapIndex::Type(t)).for_each([&](size_t bit) {
                if (bit >= object_count)
                    abort();
            });
        for (uint32_t pos = 0; pos < object_count && pos < 4096; pos++) {
            const gsh::pack::Bitset *bits = index.reachable(pos);
            if (bits && !index.has(pos))
                abort();
            if (bits)
                bits->for_each([&](size_t bit) {
                    if (bit >= object_count)
                        abort();
                });
        }
    } catch (const gsh::Error &) {
    }
    return 0;
}

// The request body as nginx hands it over (memory pieces and a range of a
// temp file) read with Content-Encoding: gzip: a corrupt, truncated or
// oversized stream is a 4xx, and a limit is kept whatever the input.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "fuzz_fixture.h"
#include "util/request_body.h"

namespace {

constexpr size_t kLimit = 1 << 20;
constexpr size_t kSmallLimit = 256;

// The body in three pieces: memory, the middle of a file, memory.
gsh::RequestBody body_of(const uint8_t *data, size_t size, int fd) {
    gsh::RequestBody body;
    const size_t a = size / 3, b = 2 * size / 3;
    body.add_memory(data, a);
    // The file range starts past a prefix that is not part of the body.
    const off_t skip = 7;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, "garbage", size_t(skip), 0) != skip ||
        (b > a && pwrite(fd, data + a, b - a, skip) != ssize_t(b - a)))
        abort();
    body.add_file(fd, skip, b - a);
    body.add_memory(data + b, size - b);
    return body;
}

std::optional<std::string> read(const gsh::RequestBody &body, size_t limit, int *status) {
    try {
        std::string out = body.read("gzip", limit);
        if (out.size() > limit)
            abort();
        return out;
    } catch (const gsh::Error &e) {
        gsh::fuzz::expect_client_error(e);
        *status = e.http_status();
        return std::nullopt;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int fd = [] {
        const std::string path = gsh::fuzz::temp_folder().str() + "/body";
        int f = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (f < 0)
            abort();
        return f;
    }();
    const gsh::RequestBody body = body_of(data, size, fd);
    if (body.size() != size)
        abort();
    int status = 0, small_status = 0;
    const std::optional<std::string> out = read(body, kLimit, &status);
    const std::optional<std::string> small = read(body, kSmallLimit, &small_status);
    // The same stream under a smaller limit: the same body when it fits,
    // else 413 (or the same refusal, if it was refused anyway).
    if (out && size <= kSmallLimit && out->size() <= kSmallLimit) {
        if (!small || *small != *out)
            abort();
    } else if (out) {
        if (small || small_status != 413)
            abort();
    } else if (small) {
        abort(); // a stream refused with room to spare cannot fit in less
    }
    return 0;
}

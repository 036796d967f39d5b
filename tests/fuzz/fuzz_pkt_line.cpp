// The pkt-line reader over any request body: every pkt-line it returns
// must lie inside the body, and a malformed body is a 400.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "fuzz_fixture.h"
#include "protocol/pkt_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view body(reinterpret_cast<const char *>(data), size);
    gsh::proto::PktReader reader(body);
    try {
        for (size_t n = 0;; n++) {
            gsh::proto::Pkt pkt = reader.next();
            if (pkt.kind == gsh::proto::PktKind::End)
                break;
            // Each pkt-line takes at least its 4 length bytes.
            if (n > size / 4)
                abort();
            if (pkt.kind != gsh::proto::PktKind::Data && !pkt.data.empty())
                abort();
            if (!pkt.data.empty() && (pkt.data.data() < body.data() ||
                                      pkt.data.data() + pkt.data.size() > body.data() + size ||
                                      pkt.data.size() > gsh::proto::kMaxPktLen - 4))
                abort();
        }
        if (!reader.at_end())
            abort();
    } catch (const gsh::Error &e) {
        gsh::fuzz::expect_client_error(e);
    }
    // Read from a source in small pieces, the same lines and the same end.
    const size_t step = size ? size_t(data[0] % 7) + 1 : 1;
    size_t pos = 0;
    gsh::proto::PktReader in_place(body);
    gsh::proto::PktReader streamed([&](char *buf, size_t cap) {
        const size_t n = std::min({cap, step, size - pos});
        std::memcpy(buf, data + pos, n);
        pos += n;
        return n;
    });
    for (;;) {
        int failed = 0;
        gsh::proto::Pkt a{}, b{};
        try {
            a = in_place.next();
        } catch (const gsh::Error &) {
            failed |= 1;
        }
        try {
            b = streamed.next();
        } catch (const gsh::Error &) {
            failed |= 2;
        }
        if (failed == 3)
            break;
        if (failed || a.kind != b.kind || a.data != b.data)
            abort();
        if (a.kind == gsh::proto::PktKind::End)
            break;
    }
    return 0;
}

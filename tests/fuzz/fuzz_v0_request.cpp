// A protocol v0/v1 stateless-RPC request body (wants, shallow, filter,
// haves, done) answered on the fixture repository, with the pack
// streamed to its end: malformed input is a 4xx, never a crash or a 5xx.
#include <cstdint>
#include <memory>
#include <string_view>

#include "fuzz_fixture.h"
#include "repo/repo_access.h"
#include "repo/repo_cache.h"
#include "service/client_note.h"
#include "service/upload_pack_v0.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gsh::RepoCache cache(1);
    const std::string &repo = gsh::fuzz::fixture_repo();
    const std::string_view body(reinterpret_cast<const char *>(data), size);
    try {
        gsh::client_note_v0(body);
        gsh::RepoAccess access(cache, repo);
        // Small limits, so that the fuzzer can reach them.
        access.set_limits(64, 256);
        std::unique_ptr<gsh::PackSection> pack;
        gsh::answer_v0(access, body, &pack);
        if (pack)
            gsh::fuzz::drain(*pack);
    } catch (const gsh::Error &e) {
        gsh::fuzz::expect_client_error(e);
    }
    return 0;
}

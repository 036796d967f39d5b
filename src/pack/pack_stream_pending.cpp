// TEMPORARY weak stand-ins until the pack engine lands (pack_stream.cpp).
#include "pack/pack_stream.h"
#include "util/error.h"

namespace gsh::pack {
struct PackStream::Impl {};
__attribute__((weak)) std::vector<git_oid> enumerate_objects(git_repository *, const EnumerateInput &,
                                                             const ProgressFn &) {
    throw Error("pack engine not available yet");
}
__attribute__((weak)) PackStream::PackStream(git_repository *, std::vector<git_oid>, bool) {}
__attribute__((weak)) PackStream::~PackStream() {}
__attribute__((weak)) size_t PackStream::read(uint8_t *, size_t) { return 0; }
__attribute__((weak)) bool PackStream::done() const { return true; }
__attribute__((weak)) const PackStats &PackStream::stats() const {
    static PackStats s;
    return s;
}
} // namespace gsh::pack

#include "odb/pack_format.h"

#include <cinttypes>
#include <cstdio>

#include "util/sha1.h"

namespace gsh::pack {

void start_object_hash(Sha1 &sha, int type, uint64_t size) {
    char head[32]; // "commit " and 20 digits at most
    const int n = std::snprintf(head, sizeof head, "%s %" PRIu64, type_name(type), size);
    sha.reset();
    sha.update(head, size_t(n) + 1);
}

git_oid object_hash(Sha1 &sha, int type, const uint8_t *data, size_t len) {
    start_object_hash(sha, type, len);
    sha.update(data, len);
    const Sha1::Digest d = sha.final();
    git_oid oid;
    std::memcpy(oid.id, d.data(), GIT_OID_RAWSZ);
    return oid;
}

} // namespace gsh::pack

#include "pack/connectivity.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "pack/object_reader.h"
#include "pack/object_walk.h"
#include "pack/oid_set.h"
#include "pack/pack_format.h"
#include "pack/pack_index.h"
#include "repo/git_ptr.h"
#include "util/error.h"

namespace gsh::pack {

namespace {

// Parses "<key> <hex>\n" at p; advances p past the line.
bool oid_line(const char *&p, const char *end, const char *key, git_oid *out) {
    const size_t klen = std::strlen(key);
    if (size_t(end - p) < klen + 1 + GIT_OID_HEXSZ + 1 || std::memcmp(p, key, klen) != 0 ||
        p[klen] != ' ' || p[klen + 1 + GIT_OID_HEXSZ] != '\n' ||
        git_oid_fromstrn(out, p + klen + 1, GIT_OID_HEXSZ) < 0)
        return false;
    p += klen + 1 + GIT_OID_HEXSZ + 1;
    return true;
}

// The object type of every entry of the pack, by index position: a delta
// has its base's, found down the chain; each chain is followed once.
std::vector<uint8_t> entry_types(const PackIndex &pack) {
    const uint32_t n = pack.count();
    std::vector<uint8_t> types(n, 0);
    std::vector<uint32_t> chain;
    const uint64_t data_end = pack.pack_size() - GIT_OID_RAWSZ;
    auto corrupt = [&](uint64_t off) {
        return Error("corrupt pack entry at offset " + std::to_string(off) + " of " +
                     pack.pack_path());
    };
    for (uint32_t pos = 0; pos < n; pos++) {
        chain.clear();
        uint32_t cur = pos;
        uint8_t type = 0;
        while (types[cur] == 0) {
            if (chain.size() > n)
                throw corrupt(pack.offset_at(cur)); // a cycle
            chain.push_back(cur);
            const uint64_t off = pack.offset_at(cur);
            if (off < 12 || off >= data_end)
                throw corrupt(off);
            uint8_t buf[kMaxEntryHeader];
            const size_t len = size_t(std::min<uint64_t>(data_end - off, sizeof buf));
            pread_exact(pack.pack_fd(), buf, len, off, pack.pack_path());
            EntryHeader h;
            if (!parse_entry_header(buf, len, off, &h))
                throw corrupt(off);
            if (!is_delta(h.type)) {
                type = h.type;
                break;
            }
            const int64_t base =
                h.type == kOfsDelta ? pack.pos_at_offset(h.base_offset) : pack.find(h.base_oid);
            if (base < 0)
                throw corrupt(off); // the indexer completes thin packs
            cur = uint32_t(base);
        }
        if (type == 0)
            type = types[cur];
        for (uint32_t c : chain)
            types[c] = type;
    }
    return types;
}

} // namespace

std::string check_connectivity(const std::string &idx_path, git_odb *odb) {
    PackSet packs(idx_path.substr(0, idx_path.rfind('/')));
    if (packs.size() != 1)
        throw Error("connectivity check: expected one pack beside " + idx_path);
    const PackIndex &pack = packs[0];
    const std::vector<uint8_t> types = entry_types(pack);

    // ObjectReader wants a repository for objects in no pack, which the
    // check never reads: only the pack's own entries are read.
    git_repository *raw = nullptr;
    git_check(git_repository_wrap_odb(&raw, odb), "opening the object database");
    RepoPtr repo(raw);
    ObjectReader reader(repo.get(), packs);

    OidSet present; // found in odb: names repeat across trees and commits
    std::string missing;
    auto need = [&](const git_oid &id, const uint8_t *by, const char *by_type) {
        if (pack.find(id) >= 0 || present.contains(id))
            return true;
        if (git_odb_exists_ext(odb, &id, GIT_ODB_LOOKUP_NO_REFRESH) == 1) {
            present.insert(id);
            return true;
        }
        git_oid from;
        std::memcpy(from.id, by, GIT_OID_RAWSZ);
        missing = "missing object " + oid_hex(id) + " named by " + by_type + " " + oid_hex(from);
        return false;
    };

    for (uint32_t pos = 0; pos < pack.count(); pos++) {
        const uint8_t type = types[pos];
        if (type != kCommit && type != kTree && type != kTag)
            continue;
        const uint8_t *self = pack.oid_at(pos);
        git_oid self_id;
        std::memcpy(self_id.id, self, GIT_OID_RAWSZ);
        const ObjectReader::Object obj = reader.read_packed(0, pack.offset_at(pos));
        const char *p = reinterpret_cast<const char *>(obj.data);
        const char *end = p + obj.size;
        git_oid id;
        if (type == kCommit) {
            if (!oid_line(p, end, "tree", &id))
                return "corrupt commit " + oid_hex(self_id) + ": no tree line";
            if (!need(id, self, "commit"))
                return missing;
            while (oid_line(p, end, "parent", &id))
                if (!need(id, self, "commit"))
                    return missing;
        } else if (type == kTag) {
            if (!oid_line(p, end, "object", &id))
                return "corrupt tag " + oid_hex(self_id) + ": no object line";
            if (!need(id, self, "tag"))
                return missing;
        } else {
            while (p < end) {
                // "<octal mode> <name>\0<20-byte id>"
                uint32_t mode = 0;
                while (p < end && *p >= '0' && *p <= '7')
                    mode = (mode << 3) | uint32_t(*p++ - '0');
                const char *nul =
                    p < end && *p == ' '
                        ? static_cast<const char *>(std::memchr(p, 0, size_t(end - p)))
                        : nullptr;
                if (!nul || size_t(end - nul) < 1 + GIT_OID_RAWSZ)
                    return "corrupt tree " + oid_hex(self_id);
                std::memcpy(id.id, nul + 1, GIT_OID_RAWSZ);
                p = nul + 1 + GIT_OID_RAWSZ;
                if ((mode & 0170000) != 0160000 && !need(id, self, "tree"))
                    return missing;
            }
        }
    }
    return std::string();
}

} // namespace gsh::pack

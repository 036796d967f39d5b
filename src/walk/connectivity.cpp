#include "walk/connectivity.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "odb/object_reader.h"
#include "odb/pack_format.h"
#include "odb/pack_index.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_set.h"
#include "walk/object_walk.h"

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

const char *const kTypeNames[] = {"", "commit", "tree", "blob", "tag"};

// The "type <name>\n" line of a tag at p: the type, or 0.
uint8_t type_line(const char *p, const char *end) {
    const char *eol = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
    if (!eol || size_t(eol - p) < 5 || std::memcmp(p, "type ", 5) != 0)
        return 0;
    const std::string name(p + 5, eol);
    for (uint8_t t = 1; t <= 4; t++)
        if (name == kTypeNames[t])
            return t;
    return 0;
}

// What git's walk says of a link to id of type actual (0: missing) where it
// wants a wanted one: "" when it is one, else its error lines.
std::string want(uint8_t actual, uint8_t wanted, const git_oid &id, const std::string &fatal) {
    if (actual == wanted)
        return std::string();
    if (actual == 0)
        return "fatal: " + fatal + "\n";
    return std::string(wanted == kBlob
                           ? "error: object " + oid_hex(id) + " is a " + kTypeNames[actual] +
                                 ", not a blob"
                           : "error: Object " + oid_hex(id) + " not a " + kTypeNames[wanted]) +
           "\nfatal: " + fatal + "\n";
}

// The links of one pack's commits, trees and tags, each resolved in the
// pack or in odb; an error as git's connectivity check prints it.
class LinkChecker {
  public:
    LinkChecker(const PackIndex &pack, git_odb *odb, bool limited)
        : pack_(pack), odb_(odb), limited_(limited), types_(entry_types(pack)) {}

    uint8_t type_at(uint32_t pos) const { return types_[pos]; }
    std::string check_commit(const git_oid &self, const char *p, const char *end);
    std::string check_tag(const git_oid &self, const char *p, const char *end);
    std::string check_tree(const git_oid &self, const char *p, const char *end);

  private:
    uint8_t type_of(const git_oid &id);

    const PackIndex &pack_;
    git_odb *odb_;
    const bool limited_;
    const std::vector<uint8_t> types_;
    // Found in odb, with their types: names repeat across trees and commits.
    OidSet present_;
    std::vector<uint8_t> present_types_;
};

// The type of id, from the pack or from odb's header; 0 when missing.
uint8_t LinkChecker::type_of(const git_oid &id) {
    const int64_t pos = pack_.find(id);
    if (pos >= 0)
        return types_[size_t(pos)];
    const auto [i, inserted] = present_.insert(id);
    if (!inserted)
        return present_types_[i];
    size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    const uint8_t t = git_odb_read_header(&len, &type, odb_, &id) == 0 && type > 0 && type < 5
                          ? uint8_t(type)
                          : 0;
    present_types_.push_back(t);
    return t;
}

std::string LinkChecker::check_commit(const git_oid &self, const char *p, const char *end) {
    git_oid id;
    if (!oid_line(p, end, "tree", &id))
        return "fatal: corrupt commit " + oid_hex(self) + ": no tree line\n";
    if (std::string err = want(type_of(id), kTree, id, "bad tree object " + oid_hex(id));
        !err.empty())
        return err;
    while (oid_line(p, end, "parent", &id))
        if (std::string err =
                want(type_of(id), kCommit, id,
                     limited_ ? std::string("revision walk setup failed")
                              : "Failed to traverse parents of commit " + oid_hex(self));
            !err.empty())
            return err;
    return std::string();
}

std::string LinkChecker::check_tag(const git_oid &self, const char *p, const char *end) {
    git_oid id;
    if (!oid_line(p, end, "object", &id))
        return "fatal: corrupt tag " + oid_hex(self) + ": no object line\n";
    const uint8_t named = type_line(p, end);
    if (named == 0)
        return "fatal: corrupt tag " + oid_hex(self) + ": bad type line\n";
    const uint8_t actual = type_of(id);
    if (actual == 0)
        return "fatal: bad object " + oid_hex(id) + "\n";
    if (actual != named)
        // git knows the target by the tag's word first.
        return "error: object " + oid_hex(id) + " is a " + kTypeNames[named] + ", not a " +
               kTypeNames[actual] + "\nfatal: bad object " + oid_hex(id) + "\n";
    return std::string();
}

std::string LinkChecker::check_tree(const git_oid &self, const char *p, const char *end) {
    git_oid id;
    while (p < end) {
        // "<octal mode> <name>\0<20-byte id>"
        uint32_t mode = 0;
        while (p < end && *p >= '0' && *p <= '7')
            mode = (mode << 3) | uint32_t(*p++ - '0');
        const char *nul = p < end && *p == ' '
                              ? static_cast<const char *>(std::memchr(p, 0, size_t(end - p)))
                              : nullptr;
        if (!nul || size_t(end - nul) < 1 + GIT_OID_RAWSZ)
            return "fatal: corrupt tree " + oid_hex(self) + "\n";
        std::memcpy(id.id, nul + 1, GIT_OID_RAWSZ);
        p = nul + 1 + GIT_OID_RAWSZ;
        // As git's walk reads a mode: a directory, a gitlink (not
        // followed), and anything else a blob.
        const uint32_t kind = mode & 0170000;
        if (kind == 0160000)
            continue;
        std::string err =
            kind == 0040000
                ? want(type_of(id), kTree, id, "bad tree object " + oid_hex(id))
                : want(type_of(id), kBlob, id, "missing blob object '" + oid_hex(id) + "'");
        if (!err.empty())
            return err;
    }
    return std::string();
}

} // namespace

std::string check_connectivity(const std::string &idx_path, git_odb *odb, bool limited) {
    PackSet packs(idx_path.substr(0, idx_path.rfind('/')));
    if (packs.size() != 1)
        throw Error("connectivity check: expected one pack beside " + idx_path);
    const PackIndex &pack = packs[0];
    LinkChecker links(pack, odb, limited);

    // ObjectReader wants a repository for objects in no pack, which the
    // check never reads: only the pack's own entries are read.
    git_repository *raw = nullptr;
    git_check(git_repository_wrap_odb(&raw, odb), "opening the object database");
    RepoPtr repo(raw);
    ObjectReader reader(repo.get(), packs);

    for (uint32_t pos = 0; pos < pack.count(); pos++) {
        const uint8_t type = links.type_at(pos);
        if (type != kCommit && type != kTree && type != kTag)
            continue;
        git_oid self;
        std::memcpy(self.id, pack.oid_at(pos), GIT_OID_RAWSZ);
        const ObjectReader::Object obj = reader.read_packed(0, pack.offset_at(pos));
        const char *p = reinterpret_cast<const char *>(obj.data);
        const char *end = p + obj.size;
        std::string err = type == kCommit ? links.check_commit(self, p, end)
                          : type == kTag  ? links.check_tag(self, p, end)
                                          : links.check_tree(self, p, end);
        if (!err.empty())
            return err;
    }
    return std::string();
}

} // namespace gsh::pack

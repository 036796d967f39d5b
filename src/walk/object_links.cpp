#include "walk/object_links.h"

#include <cstring>
#include <string_view>

#include "odb/pack_format.h"

namespace gsh::pack {

namespace {

// Parses "<key> <hex>\n" at p; advances p past the line.
bool oid_line(const char *&p, const char *end, std::string_view key, git_oid *out) {
    const size_t klen = key.size();
    if (size_t(end - p) < klen + 1 + GIT_OID_HEXSZ + 1 || std::memcmp(p, key.data(), klen) != 0 ||
        p[klen] != ' ' || p[klen + 1 + GIT_OID_HEXSZ] != '\n' ||
        git_oid_fromstrn(out, p + klen + 1, GIT_OID_HEXSZ) < 0)
        return false;
    p += klen + 1 + GIT_OID_HEXSZ + 1;
    return true;
}

// The "type <name>\n" line of a tag at p: the type, or 0.
uint8_t type_line(const char *p, const char *end) {
    const char *eol = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
    if (!eol || size_t(eol - p) < 5 || std::memcmp(p, "type ", 5) != 0)
        return 0;
    const std::string_view name(p + 5, size_t(eol - p - 5));
    for (uint8_t t = kCommit; t <= kTag; t++)
        if (name == type_name(t))
            return t;
    return 0;
}

void commit_links(const char *p, const char *end, std::deque<ObjectLink> &out) {
    git_oid id;
    if (!oid_line(p, end, "tree", &id)) {
        out.push_back({git_oid{}, LinkKind::NoTreeLine, 0});
        return;
    }
    out.push_back({id, LinkKind::CommitTree, 0});
    while (oid_line(p, end, "parent", &id))
        out.push_back({id, LinkKind::CommitParent, 0});
}

void tag_links(const char *p, const char *end, std::deque<ObjectLink> &out) {
    git_oid id;
    if (!oid_line(p, end, "object", &id)) {
        out.push_back({git_oid{}, LinkKind::NoObjectLine, 0});
        return;
    }
    const uint8_t named = type_line(p, end);
    out.push_back({id, named ? LinkKind::TagTarget : LinkKind::BadTypeLine, named});
}

void tree_links(const char *p, const char *end, std::deque<ObjectLink> &out) {
    git_oid id;
    while (p < end) {
        // "<octal mode> <name>\0<20-byte id>"
        uint32_t mode = 0;
        while (p < end && *p >= '0' && *p <= '7')
            mode = (mode << 3) | uint32_t(*p++ - '0');
        const char *nul = p < end && *p == ' '
                              ? static_cast<const char *>(std::memchr(p, 0, size_t(end - p)))
                              : nullptr;
        if (!nul || size_t(end - nul) < 1 + GIT_OID_RAWSZ) {
            out.push_back({git_oid{}, LinkKind::CorruptTree, 0});
            return;
        }
        std::memcpy(id.id, nul + 1, GIT_OID_RAWSZ);
        p = nul + 1 + GIT_OID_RAWSZ;
        // As git's walk reads a mode: a directory, a gitlink (not
        // followed), and anything else a blob.
        const uint32_t kind = mode & 0170000;
        if (kind == 0160000)
            continue;
        out.push_back({id, kind == 0040000 ? LinkKind::TreeDir : LinkKind::TreeBlob, 0});
    }
}

} // namespace

void ObjectLinks::add(const git_oid &self, uint8_t type, const uint8_t *data, size_t len) {
    if (type != kCommit && type != kTree && type != kTag)
        return;
    const size_t begin = links.size();
    const char *p = reinterpret_cast<const char *>(data);
    if (type == kCommit)
        commit_links(p, p + len, links);
    else if (type == kTag)
        tag_links(p, p + len, links);
    else
        tree_links(p, p + len, links);
    objects.push_back({self, uint32_t(begin), uint32_t(links.size() - begin)});
}

void ObjectLinks::append(ObjectLinks &&other) {
    const uint32_t shift = uint32_t(links.size());
    while (!other.links.empty()) {
        links.push_back(other.links.front());
        other.links.pop_front();
    }
    while (!other.objects.empty()) {
        LinkedObject o = other.objects.front();
        other.objects.pop_front();
        o.begin += shift;
        objects.push_back(o);
    }
}

} // namespace gsh::pack

// What a pushed pack's commits, trees and tags name, recorded while each is
// in memory anyway (push/index_pack.h has them inflated once, to hash them),
// so that the connectivity check (walk/connectivity.h) inflates nothing
// again. Only what git's walk reads is kept: a commit's tree and parents, a
// tag's target and the type it declares, a tree's entries but gitlinks.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <deque>

namespace gsh::pack {

enum class LinkKind : uint8_t {
    CommitTree,
    CommitParent,
    TagTarget,    // tag_type: the type the tag's "type" line names
    TreeDir,      // a tree entry of mode 040000
    TreeBlob,     // any other tree entry but a gitlink
    NoTreeLine,   // a commit without its "tree" line: nothing follows
    NoObjectLine, // a tag without its "object" line
    BadTypeLine,  // a tag whose "type" line names no type
    CorruptTree,  // a tree entry that does not parse: nothing follows
};

struct ObjectLink {
    git_oid id;
    LinkKind kind;
    uint8_t tag_type;
};

// The pack's objects that have links, each with its span of links.
struct LinkedObject {
    git_oid self;
    uint32_t begin;
    uint32_t count;
};

// In deques: a large push has hundreds of thousands of tree entries, and a
// vector would hold up to twice their size while it grows and again while
// one thread's records are moved after another's.
struct ObjectLinks {
    std::deque<ObjectLink> links;
    std::deque<LinkedObject> objects;

    // Records the links of the object self of type (odb/pack_format.h
    // PackType; blobs have none) whose content is data.
    void add(const git_oid &self, uint8_t type, const uint8_t *data, size_t len);
    // Moves other's records in after these, freeing other's as it goes.
    void append(ObjectLinks &&other);
};

// An object of the pack and its type, for the check: sorted by id.
struct PackedObject {
    git_oid id;
    uint8_t type;
};

} // namespace gsh::pack

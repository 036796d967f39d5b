#include "walk/connectivity.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "odb/pack_format.h"
#include "util/oid_hex.h"
#include "util/oid_set.h"

namespace gsh::pack {

namespace {

// What git's walk says of a link to id of type actual (0: missing) where it
// wants a wanted one: "" when it is one, else its error lines.
std::string want(uint8_t actual, uint8_t wanted, const git_oid &id, const std::string &fatal) {
    if (actual == wanted)
        return std::string();
    if (actual == 0)
        return "fatal: " + fatal + "\n";
    return std::string(wanted == kBlob
                           ? "error: object " + oid_hex(id) + " is a " + type_name(actual) +
                                 ", not a blob"
                           : "error: Object " + oid_hex(id) + " not a " + type_name(wanted)) +
           "\nfatal: " + fatal + "\n";
}

// The links of one pack's commits, trees and tags, each resolved in the
// pack or in odb; an error as git's connectivity check prints it.
class LinkChecker {
  public:
    LinkChecker(const std::vector<PackedObject> &objects, git_odb *odb, bool limited)
        : objects_(objects), odb_(odb), limited_(limited) {}

    std::string check(const git_oid &self, const ObjectLink &link);

  private:
    uint8_t type_of(const git_oid &id);

    const std::vector<PackedObject> &objects_;
    git_odb *odb_;
    const bool limited_;
    // Found in odb, with their types: names repeat across trees and commits.
    OidSet present_;
    std::vector<uint8_t> present_types_;
};

// The type of id, from the pack or from odb's header; 0 when missing.
uint8_t LinkChecker::type_of(const git_oid &id) {
    const auto it = std::lower_bound(
        objects_.begin(), objects_.end(), id,
        [](const PackedObject &o, const git_oid &k) { return git_oid_cmp(&o.id, &k) < 0; });
    if (it != objects_.end() && git_oid_equal(&it->id, &id))
        return it->type;
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

std::string LinkChecker::check(const git_oid &self, const ObjectLink &link) {
    const git_oid &id = link.id;
    switch (link.kind) {
    case LinkKind::NoTreeLine:
        return "fatal: corrupt commit " + oid_hex(self) + ": no tree line\n";
    case LinkKind::NoObjectLine:
        return "fatal: corrupt tag " + oid_hex(self) + ": no object line\n";
    case LinkKind::BadTypeLine:
        return "fatal: corrupt tag " + oid_hex(self) + ": bad type line\n";
    case LinkKind::CorruptTree:
        return "fatal: corrupt tree " + oid_hex(self) + "\n";
    case LinkKind::CommitTree:
    case LinkKind::TreeDir:
        return want(type_of(id), kTree, id, "bad tree object " + oid_hex(id));
    case LinkKind::CommitParent:
        return want(type_of(id), kCommit, id,
                    limited_ ? std::string("revision walk setup failed")
                             : "Failed to traverse parents of commit " + oid_hex(self));
    case LinkKind::TreeBlob:
        return want(type_of(id), kBlob, id, "missing blob object '" + oid_hex(id) + "'");
    case LinkKind::TagTarget: {
        const uint8_t actual = type_of(id);
        if (actual == 0)
            return "fatal: bad object " + oid_hex(id) + "\n";
        if (actual != link.tag_type)
            // git knows the target by the tag's word first.
            return "error: object " + oid_hex(id) + " is a " + type_name(link.tag_type) +
                   ", not a " + type_name(actual) + "\nfatal: bad object " + oid_hex(id) + "\n";
        return std::string();
    }
    }
    return std::string();
}

} // namespace

std::string check_connectivity(const std::vector<PackedObject> &objects, const ObjectLinks &links,
                               git_odb *odb, bool limited) {
    std::vector<uint32_t> order(links.objects.size());
    for (uint32_t i = 0; i < order.size(); i++)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return git_oid_cmp(&links.objects[a].self, &links.objects[b].self) < 0;
    });
    LinkChecker checker(objects, odb, limited);
    for (uint32_t i : order) {
        const LinkedObject &o = links.objects[i];
        for (uint32_t k = o.begin; k < o.begin + o.count; k++)
            if (std::string err = checker.check(o.self, links.links[k]); !err.empty())
                return err;
    }
    return std::string();
}

} // namespace gsh::pack

// The packed-refs file as git 2.39 reads and rewrites it
// (refs/packed-backend.c): an optional "# pack-refs with: <traits>" header,
// then "<oid> <refname>" lines in refname order, each annotated tag followed
// by a "^<peeled oid>" line.
#pragma once

#include <git2.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gsh {

struct PackedRef {
    std::string name;
    git_oid id{};
    // Set when the file says what the ref peels to: the "fully-peeled"
    // trait, "peeled" for refs/tags/*, or a "^" line of its own. A zero
    // peeled id then means "not a tag".
    bool peel_known = false;
    git_oid peeled{};
};

// git's peel_object(): the first object that is not a tag along id's tag
// chain, each tag read for its "object" and "type" lines only (the object
// at the end is not read). false when id is no tag, or a tag of the chain
// cannot be read.
bool peel_tag(git_odb *odb, const git_oid &id, git_oid &out);

class PackedRefs {
  public:
    // Parses a file's contents. shown_path names the file in messages.
    // nullopt, with git's message in error, when a line is not one git
    // accepts ("unexpected line in ...", "unterminated line in ...").
    static std::optional<PackedRefs> parse(std::string_view text, const std::string &shown_path,
                                           std::string &error);
    // Reads and parses path as it is now. A missing file holds no refs.
    static std::optional<PackedRefs> read(const std::string &path, const std::string &shown_path,
                                          std::string &error);

    // The record git's lookup finds for name, or null.
    const PackedRef *find(std::string_view name) const;
    // The first ref, in refname order, whose name starts with prefix.
    const PackedRef *first_with_prefix(std::string_view prefix) const;

    // What git writes when it deletes the refs named in drop (sorted, no
    // duplicates): its own header whatever the old one said, then every
    // other ref in order with its peeled line. A peeled value the old file
    // did not record is found by reading the tag chain from odb, as git
    // does; a ref whose tag cannot be read gets no "^" line.
    std::string without(const std::vector<std::string> &drop, git_odb *odb) const;

    const std::vector<PackedRef> &refs() const { return refs_; }

  private:
    const PackedRef *first_not_before(std::string_view name) const;

    std::vector<PackedRef> refs_; // in refname order
};

} // namespace gsh

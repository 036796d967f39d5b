// The connectivity check of a pushed pack: every object its commits, trees
// and tags name must be in the pack or in the repository, and be of the type
// the link wants (a commit's tree a tree, its parents commits, a tree
// entry's object what its mode says, a tag's target of the tag's type). libgit2's indexer
// can check this itself (verify), but it then parses each commit strictly,
// refusing what git takes in without receive.fsckObjects (an author line
// without an e-mail), and doubles the indexing CPU. This reads only what
// git's own walk needs: the tree and parent lines of commits, the object
// line of tags, and the modes and ids of tree entries, recorded by the
// indexer while it had each object inflated (walk/object_links.h).
#pragma once

#include <git2.h>

#include <string>
#include <vector>

#include "walk/object_links.h"

namespace gsh::pack {

// Checks the links of a pack whose objects (sorted by id, with their types)
// are objects; the objects are checked in id order, as git's walk over the
// .idx meets them, so that the first error is git's. Objects the pack lacks
// are looked up in odb without rescans (their types from odb's headers).
// Gitlinks are not followed. Returns "" when every link holds, else what
// git's rev-list says of the first that does not, as its "error:" and
// "fatal:" lines (each ending in a newline): receive-pack relays them and
// refuses the commands with "missing necessary objects". limited: the
// repository has refs, so git's walk (--not --all) is limited by them, and
// a bad parent is found while the walk is set up, not while it runs.
std::string check_connectivity(const std::vector<PackedObject> &objects, const ObjectLinks &links,
                               git_odb *odb, bool limited = false);

} // namespace gsh::pack

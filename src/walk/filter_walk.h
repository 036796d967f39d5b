// The object walk of a fetch with an object filter, as git's
// list-objects.c and list-objects-filter.c do it: commits, then the objects
// the client named (tags, trees, blobs), then the commits' trees, each
// object offered to the filter, which says whether it is sent, whether it is
// done with (seen) and whether a tree's entries are skipped.
//
// What the client named itself is sent whatever the filter says (the lazy
// fetch of a missing blob), except a tree or blob that the walk reached as
// a tree entry or a commit's tree first: git forgets then that it was named.
#pragma once

#include <git2.h>

#include <memory>
#include <string>
#include <vector>

#include "protocol/filter.h"
#include "walk/object_walk.h"
#include "util/oid_set.h"

namespace gsh::pack {

// Resolves a sparse:oid filter's blob-ish to the blob's text. Throws
// gsh::Error with git's message when it names no blob.
std::string read_sparse_blob(git_repository *repo, const std::string &name);

struct FilterWalkInput {
    // Commits to send, in walk order, with their trees.
    const std::vector<git_oid> *commits;
    const std::vector<git_oid> *commit_trees;
    // Commits the client wanted.
    const OidSet *wanted_commits;
    // The other wanted objects in want order with their types: the tags of
    // every chain and what they point at.
    const std::vector<std::pair<git_oid, git_object_t>> *pending;
};

class FilterWalk {
  public:
    // done: objects not to look at (what the client has); the walk adds
    // what it is done with. All must outlive the walk. Throws gsh::Error
    // (a sparse:oid that names no blob).
    FilterWalk(git_repository *repo, ObjectParser &objects, const ObjectFilter &filter,
               OidSet &done);
    ~FilterWalk();

    // Appends the objects to send to *send (each once, also in *sent).
    void run(const FilterWalkInput &in, std::vector<git_oid> *send, OidSet *sent);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace gsh::pack

// A push's compare-and-swap ref updates, through the repository's own ref
// store (repo/ref_store.h), reported as git's receive-pack reports them.
#pragma once

#include <git2.h>

#include <string>
#include <vector>

namespace gsh {

struct RefUpdate {
    std::string ref;
    git_oid old_id{}; // zero: the ref must not exist
    git_oid new_id{}; // zero: delete the ref
    // Set when the update failed (or was never tried): git's short reason for
    // the "ng" line, and the longer message git prints as "error: ...".
    std::string error;
    std::string detail;
};

// Applies every update whose error is empty, each compared under its lock
// with old_id (a deletion whose old_id is zero or names no object deletes
// whatever is there, as receive-pack's does). Without atomic each ref is a
// transaction of its own and fails alone ("failed to update ref"); with
// atomic they are one transaction, and when it fails nothing moves and
// every one gets "atomic transaction failed", the first with git's message.
// A failure in the middle of committing (a full disk) leaves an error only
// on the refs that did not move. A deleted ref's reflog goes with it. sig is
// the reflog identity, message the reflog message.
void update_refs(git_repository *repo, std::vector<RefUpdate> &updates, bool atomic,
                 const git_signature *sig, const char *message);

} // namespace gsh

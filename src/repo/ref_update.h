// Compare-and-swap ref updates under git's lock files (through libgit2's
// transactions, which take refs/...lock and packed-refs.lock as git does).
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
// with old_id. Without atomic each ref succeeds or fails alone ("failed to
// update ref" / "failed to delete"); with atomic all are locked and checked
// first, and when one fails none moves and the others get "atomic push
// failure". A commit that fails part way (libgit2 writes the locked refs one
// by one) leaves an error only on the refs that did not move. A deleted ref's
// reflog goes with it. sig is the reflog identity, message the reflog message.
void update_refs(git_repository *repo, std::vector<RefUpdate> &updates, bool atomic,
                 const git_signature *sig, const char *message);

} // namespace gsh

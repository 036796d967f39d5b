// What receive-pack advertises as ".have": the ref tips of the repositories
// whose object folders this one borrows (objects/info/alternates).
#pragma once

#include <git2.h>

#include <vector>

namespace gsh {

// The tips, in git's order (alternates as git links them, each one's refs
// in name order, no peeled tags), repeats kept: for each alternate folder
// ending in "/objects" whose repository has a refs folder, what
// `git for-each-ref --format=%(objectname)` lists there, narrowed to
// core.alternateRefsPrefixes when set. With core.alternateRefsCommand set,
// git runs that command instead; it is not run here and nothing is listed,
// which costs the client only bytes, never correctness.
std::vector<git_oid> alternate_ref_tips(git_repository *repo);

} // namespace gsh

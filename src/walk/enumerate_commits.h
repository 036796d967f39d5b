// The commits a fetch with haves sends, found as git's revision walk finds
// them (revision.c's limit_list(), which pack-objects runs), so that the
// walk never decides a commit is new where git knows the client has it.
#pragma once

#include <git2.h>

#include <functional>
#include <vector>

namespace gsh::pack {

class ObjectParser;

struct LimitedCommits {
    // The commits to send, in the order git's walk lists them, with their
    // trees.
    std::vector<git_oid> commits;
    std::vector<git_oid> trees;
    // Commits the client has whose trees it has too: every commit git's
    // pack-objects takes trees from as uninteresting (mark_edges_
    // uninteresting(), in its sparse and its full form): the parents of the
    // commits its walk listed that are reachable from a have, and listed
    // commits found reachable from a have later on.
    std::vector<git_oid> edge;
};

// wants and haves are commits (tags peeled). Throws gsh::Error on a missing
// or corrupt commit. O(n log n) in the commits visited, which are those
// git's walk visits: down to the oldest wanted commit not reachable from a
// have, and a few (git's SLOP) past it.
// check_in runs once per commit taken from the queue; it may throw to stop
// the walk.
LimitedCommits limit_commits(ObjectParser &objects, const std::vector<git_oid> &wants,
                             const std::vector<git_oid> &haves,
                             const std::function<void()> &check_in = {});

} // namespace gsh::pack

// Shallow fetches: which commits become the client's new shallow boundary
// (git's get_shallow_commits() and get_shallow_commits_by_rev_list()), which
// of its old boundary commits are deepened, and what the pack walk must treat
// as having no parents.
#pragma once

#include <git2.h>

#include <string>
#include <vector>

#include "odb/commit_graph.h"
#include "repo/refs.h"
#include "repo/unique_oids.h"

namespace gsh {

// "deepen 2147483647", which git sends for --unshallow.
constexpr int kInfiniteDepth = 0x7fffffff;

struct ShallowArgs {
    UniqueOids client_shallows; // "shallow" lines naming commits we have
    int depth = 0;              // "deepen N"
    bool deepen_relative = false;
    git_time_t deepen_since = 0;
    std::vector<git_oid> deepen_not; // commits of the "deepen-not" refs

    bool by_rev_list() const { return deepen_since != 0 || !deepen_not.empty(); }
    // Whether git sends a shallow list at all (v2's shallow-info section).
    bool any() const { return depth > 0 || by_rev_list() || !client_shallows.empty(); }
};

struct ShallowInfo {
    std::vector<git_oid> shallow;    // "shallow" lines: the new boundary
    std::vector<git_oid> unshallow;  // "unshallow" lines: old boundary deepened
    std::vector<git_oid> more_wants; // parents of the unshallowed commits
    std::vector<git_oid> more_haves; // the unshallowed commits: the client has them
    std::vector<git_oid> parentless; // boundary for the pack walk: new and old
};

// wants are the fetch's wants (tags are peeled); tips are our refs, for
// deepen-relative; graph, when given, answers for the commits it lists.
// Throws gsh::Error(400) for requests git refuses.
ShallowInfo compute_shallow(git_repository *repo, const std::vector<git_oid> &wants,
                            const ShallowArgs &args, const std::vector<Tip> &tips,
                            const pack::CommitGraph *graph = nullptr);

// Parses the shallow-related lines of a fetch (v0 and v2 share them); returns
// false when line is not one of them. Throws gsh::Error(400) on a bad value.
bool parse_shallow_line(git_repository *repo, std::string_view line, ShallowArgs *args);

} // namespace gsh

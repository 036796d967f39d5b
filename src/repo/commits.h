// Commit parents and dates for history walks outside the pack engine
// (negotiation, shallow boundaries), read through libgit2 and remembered.
#pragma once

#include <git2.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "odb/commit_graph.h"
#include "util/oid_hash.h"

namespace gsh {

using OidHashSet = std::unordered_set<git_oid, OidHash, OidEq>;

struct CommitInfo {
    git_time_t time = 0;
    std::vector<git_oid> parents;
};

class CommitCache {
  public:
    // Commits the graph lists are read from it, as git reads them.
    explicit CommitCache(git_repository *repo, const pack::CommitGraph *graph = nullptr)
        : repo_(repo), graph_(graph) {}
    // nullptr when id is not a commit of the repository.
    const CommitInfo *get(const git_oid &id);

  private:
    git_repository *repo_;
    const pack::CommitGraph *graph_;
    std::unordered_map<git_oid, CommitInfo, OidHash, OidEq> cache_;
};

// The commit id names, when it is a commit or a tag of one.
std::optional<git_oid> peel_to_commit(git_repository *repo, const git_oid &id);

} // namespace gsh

// Commit parents and dates for history walks outside the pack engine
// (negotiation, shallow boundaries), read through libgit2 and remembered.
#pragma once

#include <git2.h>

#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace gsh {

struct OidHash {
    size_t operator()(const git_oid &o) const {
        size_t h;
        std::memcpy(&h, o.id, sizeof(h));
        return h;
    }
};
struct OidEq {
    bool operator()(const git_oid &a, const git_oid &b) const { return git_oid_equal(&a, &b); }
};
using OidHashSet = std::unordered_set<git_oid, OidHash, OidEq>;

struct CommitInfo {
    git_time_t time = 0;
    std::vector<git_oid> parents;
};

class CommitCache {
  public:
    explicit CommitCache(git_repository *repo) : repo_(repo) {}
    // nullptr when id is not a commit of the repository.
    const CommitInfo *get(const git_oid &id);

  private:
    git_repository *repo_;
    std::unordered_map<git_oid, CommitInfo, OidHash, OidEq> cache_;
};

// The commit id names, when it is a commit or a tag of one.
std::optional<git_oid> peel_to_commit(git_repository *repo, const git_oid &id);

} // namespace gsh

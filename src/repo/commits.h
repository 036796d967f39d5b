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

namespace gsh {

// A per-process random key mixed with all 20 bytes: a client names any oid
// it likes in wants, haves and shallows, and with a hash of the raw leading
// bytes 160,000 made-up wants sharing them land in one bucket (quadratic).
uint64_t oid_hash_key();
struct OidHash {
    size_t operator()(const git_oid &o) const {
        uint64_t a, b;
        uint32_t c;
        std::memcpy(&a, o.id, 8);
        std::memcpy(&b, o.id + 8, 8);
        std::memcpy(&c, o.id + 16, 4);
        static const uint64_t key = oid_hash_key();
        uint64_t h = (a ^ key) * 0x9e3779b97f4a7c15ull;
        h = (h ^ (h >> 32) ^ b) * 0xc2b2ae3d27d4eb4full;
        h = (h ^ (h >> 29) ^ c ^ (key >> 17)) * 0x165667b19e3779f9ull;
        return size_t(h ^ (h >> 32));
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

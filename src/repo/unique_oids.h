// Distinct object ids in the order first seen.
#pragma once

#include <git2.h>

#include <vector>

#include "repo/commits.h"
#include "util/oid_set.h"

namespace gsh {

// A hash set (open addressing, keyed by OidHash: the client chooses the
// ids), so that a request naming n ids costs O(n) to de-duplicate: a linear
// scan per id made 160,000 made-up wants hold a thread for half a minute.
class UniqueOids {
  public:
    UniqueOids() = default;
    explicit UniqueOids(const std::vector<git_oid> &oids) {
        for (const git_oid &o : oids)
            add(o);
    }
    // false when oid was there already.
    bool add(const git_oid &oid) { return set_.insert(oid).second; }
    bool contains(const git_oid &oid) const { return set_.contains(oid); }
    size_t size() const { return set_.size(); }
    bool empty() const { return set_.empty(); }
    const std::vector<git_oid> &list() const { return set_.oids(); }
    // Hands the list over and leaves this empty.
    std::vector<git_oid> take() { return set_.take(); }

  private:
    pack::BasicOidSet<OidHash> set_;
};

} // namespace gsh

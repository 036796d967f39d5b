// Distinct object ids in the order first seen.
#pragma once

#include <git2.h>

#include <utility>
#include <vector>

#include "repo/commits.h"

namespace gsh {

// A hash set beside the list, so that a request naming n ids costs O(n) to
// de-duplicate: a linear scan per id made 160,000 made-up wants hold a
// thread for half a minute.
class UniqueOids {
  public:
    UniqueOids() = default;
    explicit UniqueOids(const std::vector<git_oid> &oids) {
        for (const git_oid &o : oids)
            add(o);
    }
    // false when oid was there already.
    bool add(const git_oid &oid) {
        if (!seen_.insert(oid).second)
            return false;
        list_.push_back(oid);
        return true;
    }
    bool contains(const git_oid &oid) const { return seen_.count(oid) > 0; }
    size_t size() const { return list_.size(); }
    bool empty() const { return list_.empty(); }
    const std::vector<git_oid> &list() const { return list_; }
    // Hands the list over and leaves this empty.
    std::vector<git_oid> take() {
        seen_.clear();
        return std::exchange(list_, {});
    }

  private:
    std::vector<git_oid> list_;
    OidHashSet seen_;
};

} // namespace gsh

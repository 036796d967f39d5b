// Tests that check what the process cache reuses write their repositories
// just before: this trusts the stamps of such files while it lives (see
// RepoSnapshot::kRacyWindowNs), and puts the window back after.
#pragma once

#include "repo/repo_cache.h"

namespace gsh::test {

struct TrustFreshStamps {
    TrustFreshStamps() { RepoCache::process().set_racy_window(0); }
    ~TrustFreshStamps() { RepoCache::process().set_racy_window(RepoSnapshot::kRacyWindowNs); }
    TrustFreshStamps(const TrustFreshStamps &) = delete;
    TrustFreshStamps &operator=(const TrustFreshStamps &) = delete;
};

} // namespace gsh::test

// The refs a repository advertises.
#pragma once

#include <git2.h>

#include <optional>
#include <string>
#include <vector>

#include "repo/upload_pack_config.h"

namespace gsh {

struct Ref {
    std::string name;
    git_oid oid{};                 // zero when unborn
    bool unborn = false;           // a symref (HEAD) whose target does not exist yet
    std::string symref_target;     // final target when the ref is symbolic
    std::optional<git_oid> peeled; // what an annotated tag finally points at
};

// HEAD first (when it resolves, or when it is an unborn symref), then every
// ref under refs/ in name order; broken refs are left out, as git does.
// Hidden refs are left out (HEAD is never hidden by a refs/ pattern).
std::vector<Ref> list_refs(git_repository *repo, const HiddenRefs &hidden);

// Every ref tip (HEAD included), hidden or not, with a flag for the hidden ones.
struct Tip {
    git_oid oid;
    bool hidden;
};

// list_refs() and every tip, from one reading of the refs (a repository may
// hold 50,000).
struct RefListing {
    std::vector<Ref> refs;
    std::vector<Tip> tips;
};
RefListing list_refs_and_tips(git_repository *repo, const HiddenRefs &hidden);

} // namespace gsh

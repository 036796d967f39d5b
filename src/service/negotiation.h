// What upload-pack decides from the client's wants and haves.
#pragma once

#include <git2.h>

#include <optional>
#include <vector>

#include "repo/refs.h"

namespace gsh {

struct NegotiationResult {
    std::vector<git_oid> common;       // haves we have, in the client's order (to ACK)
    std::vector<git_oid> have_objects; // distinct haves we have: the pack leaves them out
    bool ready = false;                // git's ok_to_give_up(): every want reaches a have
};

// git's process_haves() and ok_to_give_up() (can_all_from_reach_with_flag):
// a want is covered when a walk from it through commits no older than the
// oldest have reaches a have or a have's parent.
NegotiationResult negotiate(git_repository *repo, const std::vector<git_oid> &wants,
                            const std::vector<git_oid> &haves);

// The first want the client may not have, or nothing. As git's upload-pack
// over stateless HTTP: a want must be a visible ref tip or reachable from
// one; allowTipSHA1InWant adds hidden tips, allowReachableSHA1InWant what is
// reachable from any ref, allowAnySHA1InWant anything.
std::optional<git_oid> first_forbidden_want(git_repository *repo, const std::vector<git_oid> &wants,
                                            const std::vector<Tip> &tips, unsigned allow_uor);

} // namespace gsh

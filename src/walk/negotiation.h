// What upload-pack decides from the client's wants and haves.
#pragma once

#include <git2.h>

#include <memory>
#include <optional>
#include <vector>

#include "odb/commit_graph.h"
#include "repo/refs.h"
#include "util/git_ptr.h"

namespace gsh {

namespace pack {
class PackSet;
}

// git's have processing (got_oid / do_got_oid) and ok_to_give_up()
// (can_all_from_reach_with_flag), fed one have at a time so that protocol v0
// can answer after each line as git does.
class Negotiator {
  public:
    // graph, when given, answers for the commits it lists.
    Negotiator(git_repository *repo, std::vector<git_oid> wants,
               const pack::CommitGraph *graph = nullptr);
    ~Negotiator();
    Negotiator(const Negotiator &) = delete;
    Negotiator &operator=(const Negotiator &) = delete;

    enum class Have { Missing, Known, New };
    // Missing: we lack the object. Known: a commit we already knew the
    // client has (a have's parent). New: recorded in have_objects().
    Have got(const git_oid &have);

    // Every want reaches, through commits no older than the oldest have, a
    // have or a have's parent; non-commit wants count as reached.
    bool ok_to_give_up();

    // Distinct haves we have, in order: the pack leaves out what they reach.
    const std::vector<git_oid> &have_objects() const { return have_objects_; }

    // Commits stepped through by ok_to_give_up() so far: what a request's
    // haves cost, for tests that must see it stay linear.
    size_t walk_steps() const { return walk_steps_; }

  private:
    struct State;
    git_repository *repo_;
    std::vector<git_oid> wants_;
    std::vector<git_oid> have_objects_;
    size_t walk_steps_ = 0;
    std::unique_ptr<State> state_;
};

// The first want the client may not have, or nothing. As git's upload-pack
// over stateless HTTP: a want must be a visible ref tip or reachable from
// one; allowTipSHA1InWant adds hidden tips, allowReachableSHA1InWant what is
// reachable from any ref, allowAnySHA1InWant anything.
std::optional<git_oid> first_forbidden_want(git_repository *repo, const std::vector<git_oid> &wants,
                                            const std::vector<Tip> &tips, unsigned allow_uor);

// The first want that is not in the repository at all; packs (repo's) are
// looked in first, libgit2 only for what they lack (loose objects).
std::optional<git_oid> first_missing(git_repository *repo, const pack::PackSet &packs,
                                     const std::vector<git_oid> &wants);

} // namespace gsh

// Delta base candidates for what a fetch would send whole: the object at the
// same path in the commit's first parent, as git's pack-objects prefers
// (it sorts its delta window by path name). Found by diffing the tree of
// each commit sent with its first parent's, entering only subtrees that
// differ.
#pragma once

#include <git2.h>

#include <cstddef>
#include <vector>

#include "pack/object_walk.h"
#include "pack/oid_set.h"

namespace gsh::pack {

class PathPairs {
  public:
    // Pairs stop being recorded past this many (bounded memory on a fetch
    // of a long history; the rest is sent as it would be without them).
    explicit PathPairs(size_t max_pairs = 200000) : max_pairs_(max_pairs) {}

    // Pairs every tree and blob that commit's tree has and its first
    // parent's has not with what the parent has at that path, when that is
    // of the same kind. A root commit pairs nothing. Throws gsh::Error on a
    // missing or corrupt object.
    void add_commit(ObjectParser &objects, const git_oid &commit);

    // What oid was paired with (its first pairing), or nullptr.
    const git_oid *base_of(const git_oid &oid) const {
        const int64_t i = news_.find(oid);
        return i < 0 ? nullptr : &olds_[size_t(i)];
    }
    // What oid was the older side of (its first pairing), or nullptr.
    const git_oid *newer_of(const git_oid &oid) const {
        const int64_t i = olds_set_.find(oid);
        return i < 0 ? nullptr : &news_by_old_[size_t(i)];
    }
    size_t size() const { return olds_.size(); }
    bool full() const { return olds_.size() >= max_pairs_; }

  private:
    struct Entry {
        std::string name;
        git_oid id;
        bool is_tree;
    };
    void read_tree(ObjectParser &objects, const git_oid &tree, std::vector<Entry> *out);
    void pair(const git_oid &now, const git_oid &before) {
        olds_.push_back(before);
        if (olds_set_.insert(before).second)
            news_by_old_.push_back(now);
    }
    void diff(ObjectParser &objects, const git_oid &new_tree, const git_oid &old_tree);

    size_t max_pairs_;
    OidSet news_;
    std::vector<git_oid> olds_; // by index in news_
    OidSet olds_set_;
    std::vector<git_oid> news_by_old_; // by index in olds_set_
    std::vector<git_oid> parents_;
    std::vector<std::pair<git_oid, git_oid>> stack_;
    std::vector<Entry> new_entries_, old_entries_;
};

} // namespace gsh::pack

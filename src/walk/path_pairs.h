// Delta base candidates for what a fetch would send whole: the object at the
// same path in the commit's first parent, as git's pack-objects prefers
// (it sorts its delta window by path name). Found by diffing the tree of
// each commit sent with its first parent's, entering only subtrees that
// differ.
#pragma once

#include <git2.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/oid_set.h"
#include "walk/object_walk.h"

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
    // Calls fn(other) for the other objects recorded at oid's path (the
    // newer sides of pairs), nearest in the order found first (the commits
    // are walked newest first, so those are the versions nearest in time),
    // until fn returns true: bases across branches, where the first-parent
    // chain of a version reaches none that is sent.
    template <typename Fn> void for_each_at_path(const git_oid &oid, Fn &&fn) const {
        const int64_t i = news_.find(oid);
        if (i < 0)
            return;
        const std::vector<uint32_t> &all = at_path_[path_of_[size_t(i)]];
        const size_t at = pos_at_path_[size_t(i)];
        for (size_t d = 1; d <= at || at + d < all.size(); d++) {
            if (at + d < all.size() && fn(news_[all[at + d]]))
                return;
            if (d <= at && fn(news_[all[at - d]]))
                return;
        }
    }
    size_t size() const { return olds_.size(); }
    bool full() const { return olds_.size() >= max_pairs_; }

  private:
    // A tree entry; its name is in the Side's names.
    struct Entry {
        uint32_t name_at, name_len;
        git_oid id;
        bool is_tree;
    };
    struct Side {
        std::string names;
        std::vector<Entry> entries;
        std::string_view name(const Entry &e) const {
            return {names.data() + e.name_at, e.name_len};
        }
    };
    static void read_tree(ObjectParser &objects, const git_oid &tree, Side *out);
    // now was just inserted into news_.
    void pair(const git_oid &now, const git_oid &before, const std::string &path) {
        olds_.push_back(before);
        if (olds_set_.insert(before).second)
            news_by_old_.push_back(now);
        const auto [it, added] = path_ids_.try_emplace(path, uint32_t(at_path_.size()));
        if (added)
            at_path_.emplace_back();
        path_of_.push_back(it->second);
        pos_at_path_.push_back(uint32_t(at_path_[it->second].size()));
        at_path_[it->second].push_back(uint32_t(news_.size() - 1));
    }
    void diff(ObjectParser &objects, const git_oid &new_tree, const git_oid &old_tree);

    size_t max_pairs_;
    OidSet news_;
    std::vector<git_oid> olds_; // by index in news_
    OidSet olds_set_;
    std::vector<git_oid> news_by_old_; // by index in olds_set_
    std::unordered_map<std::string, uint32_t> path_ids_;
    std::vector<uint32_t> path_of_;              // by index in news_
    std::vector<uint32_t> pos_at_path_;          // by index in news_
    std::vector<std::vector<uint32_t>> at_path_; // by path id: indexes in news_
    std::vector<git_oid> parents_;
    struct Pending {
        git_oid now, before;
        std::string path;
    };
    std::vector<Pending> stack_;
    Side new_, old_;
};

} // namespace gsh::pack

#include "walk/path_pairs.h"

#include <algorithm>
#include <string>

namespace gsh::pack {

void PathPairs::read_tree(ObjectParser &objects, const git_oid &tree, std::vector<Entry> *out) {
    out->clear();
    objects.for_each_named_entry(tree, [&](const git_oid &id, bool is_tree, std::string_view name) {
        out->push_back({std::string(name), id, is_tree});
    });
    // Tree order sorts a tree "a" as "a/": sorted by plain name here so that
    // lookups by name need no such rule.
    std::sort(out->begin(), out->end(),
              [](const Entry &a, const Entry &b) { return a.name < b.name; });
}

void PathPairs::add_commit(ObjectParser &objects, const git_oid &commit) {
    if (full())
        return;
    git_oid tree, parent_tree;
    objects.parse_commit(commit, &tree, &parents_);
    if (parents_.empty())
        return;
    const git_oid parent = parents_[0];
    if (!objects.exists(parent))
        return; // beyond a shallow repository's boundary
    objects.parse_commit(parent, &parent_tree, &parents_);
    diff(objects, tree, parent_tree);
}

void PathPairs::diff(ObjectParser &objects, const git_oid &new_tree, const git_oid &old_tree) {
    stack_.clear();
    stack_.push_back({new_tree, old_tree, std::string()});
    while (!stack_.empty() && !full()) {
        const Pending top = std::move(stack_.back());
        stack_.pop_back();
        if (git_oid_equal(&top.now, &top.before) || !news_.insert(top.now).second)
            continue; // the same, or paired (and entered) already
        pair(top.now, top.before, top.path);
        read_tree(objects, top.now, &new_entries_);
        read_tree(objects, top.before, &old_entries_);
        for (const Entry &e : new_entries_) {
            auto it = std::lower_bound(
                old_entries_.begin(), old_entries_.end(), e.name,
                [](const Entry &a, const std::string &name) { return a.name < name; });
            if (it == old_entries_.end() || it->name != e.name || it->is_tree != e.is_tree ||
                git_oid_equal(&it->id, &e.id))
                continue;
            std::string path = top.path.empty() ? e.name : top.path + "/" + e.name;
            if (e.is_tree) {
                stack_.push_back({e.id, it->id, std::move(path)});
            } else if (!full() && news_.insert(e.id).second) {
                pair(e.id, it->id, path);
            }
        }
    }
}

} // namespace gsh::pack

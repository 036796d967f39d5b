#include "walk/path_pairs.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace gsh::pack {

void PathPairs::read_tree(ObjectParser &objects, const git_oid &tree, Side *out) {
    out->names.clear();
    out->entries.clear();
    objects.for_each_named_entry(tree, [&](const git_oid &id, bool is_tree, std::string_view name) {
        out->entries.push_back({uint32_t(out->names.size()), uint32_t(name.size()), id, is_tree});
        out->names.append(name);
    });
}

namespace {

// git's order of tree entries, a tree's name read as if "/" ended it.
int tree_order(std::string_view a, bool a_tree, std::string_view b, bool b_tree) {
    const size_t n = std::min(a.size(), b.size());
    if (const int c = n ? std::memcmp(a.data(), b.data(), n) : 0)
        return c;
    const unsigned char ca = a.size() > n ? a[n] : a_tree ? '/' : 0;
    const unsigned char cb = b.size() > n ? b[n] : b_tree ? '/' : 0;
    return ca < cb ? -1 : ca > cb;
}

} // namespace

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
        read_tree(objects, top.now, &new_);
        read_tree(objects, top.before, &old_);
        // Both in git's order: one pass, as a merge. Out of order (a
        // malformed tree) only pairs less.
        size_t i = 0, j = 0;
        while (i < new_.entries.size() && j < old_.entries.size()) {
            const Entry &e = new_.entries[i], &o = old_.entries[j];
            const std::string_view name = new_.name(e);
            const int c = tree_order(name, e.is_tree, old_.name(o), o.is_tree);
            if (c != 0) {
                (c < 0 ? i : j)++;
                continue;
            }
            i++;
            j++;
            if (git_oid_equal(&o.id, &e.id))
                continue;
            std::string path = top.path;
            if (!path.empty())
                path += '/';
            path += name;
            if (e.is_tree) {
                stack_.push_back({e.id, o.id, std::move(path)});
            } else if (!full() && news_.insert(e.id).second) {
                pair(e.id, o.id, path);
            }
        }
    }
}

} // namespace gsh::pack

// limit_commits(): git's limit_list() with a priority queue. git keeps its
// queue as a date-sorted list (insertion after every commit of the same or
// a later date); a heap ordered by date, then by arrival, pops the same
// commits in the same order, so the walk stops where git's stops and calls
// the same commits new.
#include "walk/enumerate_commits.h"

#include <cstdint>
#include <queue>

#include "walk/object_walk.h"
#include "util/oid_set.h"

namespace gsh::pack {

namespace {

// How many commits the walk goes on for once nothing new is left in its
// queue: git's SLOP, which catches a have reached late by a skewed date.
constexpr int kSlop = 5;

class Limiter {
  public:
    Limiter(ObjectParser &objects, const std::function<void()> &check_in)
        : objects_(objects), check_in_(check_in) {}

    LimitedCommits run(const std::vector<git_oid> &wants, const std::vector<git_oid> &haves);

  private:
    enum : uint8_t {
        kUninteresting = 1,
        kSeen = 2,   // queued once
        kQueued = 4, // in the queue now
        kParsed = 8,
        kAdded = 16, // parents processed
        kEdge = 32,  // listed in the answer's edge
    };
    struct Node {
        git_oid tree{};
        int64_t date = 0;
        uint32_t first_parent = 0, parents = 0; // in parent_ids_
        uint8_t flags = 0;
    };
    struct Entry {
        int64_t date;
        uint64_t seq;
        uint32_t node;
        // std::priority_queue pops the greatest: the latest date, and of
        // equal dates the first to arrive.
        bool operator<(const Entry &o) const {
            return date != o.date ? date < o.date : seq > o.seq;
        }
    };

    uint32_t node(const git_oid &oid) {
        const auto [idx, added] = ids_.insert(oid);
        if (added)
            nodes_.emplace_back();
        return idx;
    }
    void parse(uint32_t i) {
        if (nodes_[i].flags & kParsed)
            return;
        const git_oid oid = ids_[i];
        int64_t date;
        git_oid tree;
        objects_.parse_commit(oid, &tree, &scratch_, &date);
        const uint32_t first = uint32_t(parent_ids_.size());
        for (const git_oid &p : scratch_) {
            const uint32_t pi = node(p);
            parent_ids_.push_back(pi);
        }
        Node &n = nodes_[i];
        n.tree = tree;
        n.date = date;
        n.first_parent = first;
        n.parents = uint32_t(scratch_.size());
        n.flags |= kParsed;
    }
    void push(uint32_t i) {
        Node &n = nodes_[i];
        n.flags |= kSeen | kQueued;
        if (!(n.flags & kUninteresting))
            interesting_queued_++;
        queue_.push({n.date, seq_++, i});
    }
    // Flags node i; false when it was already.
    bool set_uninteresting(uint32_t i) {
        Node &n = nodes_[i];
        if (n.flags & kUninteresting)
            return false;
        n.flags |= kUninteresting;
        if (n.flags & kQueued)
            interesting_queued_--;
        return true;
    }
    // Flags every known ancestor of i (git's mark_parents_uninteresting():
    // through parsed commits only, stopping at flagged ones).
    void mark_parents_uninteresting(uint32_t i) {
        auto push_parents = [&](uint32_t c) {
            const Node &n = nodes_[c];
            for (uint32_t k = 0; k < n.parents; k++)
                stack_.push_back(parent_ids_[n.first_parent + k]);
        };
        push_parents(i);
        while (!stack_.empty()) {
            const uint32_t c = stack_.back();
            stack_.pop_back();
            if (set_uninteresting(c))
                push_parents(c);
        }
    }
    void process_parents(uint32_t i);
    void add_edge(uint32_t i, LimitedCommits *out) {
        if (nodes_[i].flags & kEdge)
            return;
        nodes_[i].flags |= kEdge;
        out->edge.push_back(ids_[i]);
    }

    ObjectParser &objects_;
    const std::function<void()> &check_in_;
    OidSet ids_;
    std::vector<Node> nodes_;
    std::vector<uint32_t> parent_ids_;
    std::priority_queue<Entry> queue_;
    uint64_t seq_ = 0;
    size_t interesting_queued_ = 0;
    std::vector<uint32_t> stack_;
    std::vector<git_oid> scratch_;
};

void Limiter::process_parents(uint32_t i) {
    if (nodes_[i].flags & kAdded)
        return;
    nodes_[i].flags |= kAdded;
    const uint32_t first = nodes_[i].first_parent, count = nodes_[i].parents;
    if (nodes_[i].flags & kUninteresting) {
        // The whole uninteresting side, as far as it is known: parents git
        // cannot read are skipped there.
        for (uint32_t k = 0; k < count; k++) {
            const uint32_t p = parent_ids_[first + k];
            set_uninteresting(p);
            if (!(nodes_[p].flags & kParsed) && !objects_.exists(ids_[p]))
                continue;
            parse(p);
            mark_parents_uninteresting(p);
            if (!(nodes_[p].flags & kSeen))
                push(p);
        }
        return;
    }
    for (uint32_t k = 0; k < count; k++) {
        const uint32_t p = parent_ids_[first + k];
        parse(p);
        if (!(nodes_[p].flags & kSeen))
            push(p);
    }
}

LimitedCommits Limiter::run(const std::vector<git_oid> &wants, const std::vector<git_oid> &haves) {
    // As pack-objects reads them: wants, then haves; every have flagged
    // before any commit is parsed.
    std::vector<uint32_t> pending;
    pending.reserve(wants.size() + haves.size());
    for (const git_oid &w : wants)
        pending.push_back(node(w));
    const size_t first_have = pending.size();
    for (const git_oid &h : haves)
        pending.push_back(node(h));
    for (size_t k = first_have; k < pending.size(); k++)
        set_uninteresting(pending[k]);
    for (const uint32_t i : pending) {
        parse(i);
        if (nodes_[i].flags & kUninteresting)
            mark_parents_uninteresting(i);
    }
    for (const uint32_t i : pending)
        if (!(nodes_[i].flags & kSeen))
            push(i);

    std::vector<uint32_t> listed;
    int64_t date = INT64_MAX;
    int slop = kSlop;
    while (!queue_.empty()) {
        const uint32_t i = queue_.top().node;
        queue_.pop();
        if (check_in_)
            check_in_();
        nodes_[i].flags &= uint8_t(~kQueued);
        if (!(nodes_[i].flags & kUninteresting))
            interesting_queued_--;
        process_parents(i);
        if (nodes_[i].flags & kUninteresting) {
            mark_parents_uninteresting(i);
            // git's still_interesting()
            if (queue_.empty())
                break;
            if (date <= queue_.top().date || interesting_queued_ > 0)
                slop = kSlop;
            else if (--slop == 0)
                break;
            continue;
        }
        date = nodes_[i].date;
        listed.push_back(i);
    }

    LimitedCommits out;
    for (const uint32_t i : listed) {
        const Node &n = nodes_[i];
        if (n.flags & kUninteresting) {
            add_edge(i, &out);
        } else {
            out.commits.push_back(ids_[i]);
            out.trees.push_back(n.tree);
        }
        for (uint32_t k = 0; k < n.parents; k++) {
            const uint32_t p = parent_ids_[n.first_parent + k];
            if ((nodes_[p].flags & (kUninteresting | kParsed)) == (kUninteresting | kParsed))
                add_edge(p, &out);
        }
    }
    return out;
}

} // namespace

LimitedCommits limit_commits(ObjectParser &objects, const std::vector<git_oid> &wants,
                             const std::vector<git_oid> &haves,
                             const std::function<void()> &check_in) {
    Limiter limiter(objects, check_in);
    return limiter.run(wants, haves);
}

} // namespace gsh::pack

#include "walk/filter_walk.h"

#include <string_view>

#include "walk/sparse_patterns.h"
#include "util/git_ptr.h"
#include "util/error.h"

namespace gsh::pack {

namespace {

// Where the walk is when it asks (git's list_objects_filter_situation).
enum class At { Commit, Tag, BeginTree, EndTree, Blob };
// What a filter answers (git's list_objects_filter_result).
enum : unsigned { kZero = 0, kMarkSeen = 1, kShow = 2, kSkipTree = 4 };

class Rule {
  public:
    virtual ~Rule() = default;
    // path: the tree's or blob's path from the root tree, without a
    // trailing slash.
    virtual unsigned apply(At s, const git_oid &oid, std::string_view path) = 0;
};

class BlobNone : public Rule {
  public:
    unsigned apply(At s, const git_oid &, std::string_view) override {
        if (s == At::EndTree)
            return kZero;
        return s == At::Blob ? kMarkSeen : kMarkSeen | kShow;
    }
};

class BlobLimit : public Rule {
  public:
    BlobLimit(ObjectParser &objects, uint64_t limit) : objects_(objects), limit_(limit) {}
    unsigned apply(At s, const git_oid &oid, std::string_view) override {
        if (s == At::EndTree)
            return kZero;
        if (s == At::Blob && objects_.size_of(oid) >= limit_)
            return kMarkSeen;
        return kMarkSeen | kShow;
    }

  private:
    ObjectParser &objects_;
    uint64_t limit_;
};

// tree:<depth>. Trees are never marked seen: one met again nearer the root
// is walked again, as its entries may now be near enough.
class TreeDepth : public Rule {
  public:
    explicit TreeDepth(uint64_t exclude_depth) : exclude_depth_(exclude_depth) {}
    unsigned apply(At s, const git_oid &oid, std::string_view) override {
        const bool include = depth_ < exclude_depth_;
        switch (s) {
        case At::Commit:
        case At::Tag:
            return kMarkSeen | kShow;
        case At::EndTree:
            depth_--;
            return kZero;
        case At::Blob:
            return include ? kMarkSeen | kShow : kZero;
        case At::BeginTree:
            break;
        }
        unsigned result;
        const auto [idx, fresh] = trees_.insert(oid);
        if (fresh)
            seen_depth_.push_back(depth_);
        if (!fresh && depth_ >= seen_depth_[idx]) {
            result = kSkipTree;
        } else {
            seen_depth_[idx] = depth_;
            result = include ? kShow : kSkipTree;
        }
        depth_++;
        return result;
    }

  private:
    uint64_t exclude_depth_;
    uint64_t depth_ = 0;
    OidSet trees_;                     // every tree met, with
    std::vector<uint64_t> seen_depth_; // the smallest depth it was walked at
};

class Sparse : public Rule {
  public:
    explicit Sparse(std::string_view text) : patterns_(text) {
        frames_.push_back({SparsePatterns::Match::NotMatched, false});
    }
    unsigned apply(At s, const git_oid &oid, std::string_view path) override {
        switch (s) {
        case At::Commit:
        case At::Tag:
            return kMarkSeen | kShow;
        case At::BeginTree: {
            frames_.push_back({decide(path, true), false});
            // A tree may come again under another path, where its entries
            // may match: it is shown once and never marked seen here.
            return shown_.insert(oid).second ? kShow : kZero;
        }
        case At::EndTree: {
            const Frame f = frames_.back();
            frames_.pop_back();
            frames_.back().child_omitted |= f.child_omitted;
            return f.child_omitted ? kZero : kMarkSeen;
        }
        case At::Blob:
            if (decide(path, false) == SparsePatterns::Match::Matched)
                return kMarkSeen | kShow;
            frames_.back().child_omitted = true;
            return kZero;
        }
        return kZero;
    }

  private:
    struct Frame {
        SparsePatterns::Match default_match;
        bool child_omitted;
    };
    SparsePatterns::Match decide(std::string_view path, bool is_dir) const {
        const SparsePatterns::Match m = patterns_.match(path, is_dir);
        return m == SparsePatterns::Match::Undecided ? frames_.back().default_match : m;
    }
    SparsePatterns patterns_;
    std::vector<Frame> frames_;
    OidSet shown_;
};

class ObjectType : public Rule {
  public:
    explicit ObjectType(git_object_t type) : type_(type) {}
    unsigned apply(At s, const git_oid &, std::string_view) override {
        switch (s) {
        case At::Tag:
            return type_ == GIT_OBJECT_TAG ? kMarkSeen | kShow : kMarkSeen;
        case At::Commit:
            return type_ == GIT_OBJECT_COMMIT ? kMarkSeen | kShow : kMarkSeen;
        case At::BeginTree:
            if (type_ == GIT_OBJECT_COMMIT || type_ == GIT_OBJECT_TAG)
                return kSkipTree;
            return type_ == GIT_OBJECT_TREE ? kMarkSeen | kShow : kMarkSeen;
        case At::Blob:
            return type_ == GIT_OBJECT_BLOB ? kMarkSeen | kShow : kMarkSeen;
        case At::EndTree:
            break;
        }
        return kZero;
    }

  private:
    git_object_t type_;
};

// Shows what every sub-filter shows; each keeps its own seen set and its
// own skipping of a tree's entries.
class Combine : public Rule {
  public:
    void add(std::unique_ptr<Rule> rule) {
        subs_.push_back({std::move(rule), OidSet(), {}, false});
    }
    unsigned apply(At s, const git_oid &oid, std::string_view path) override {
        unsigned combined = kShow | kMarkSeen | kSkipTree;
        for (Sub &sub : subs_) {
            const unsigned r = one(sub, s, oid, path);
            if (!(r & kShow))
                combined &= ~kShow;
            if (!(r & kMarkSeen))
                combined &= ~kMarkSeen;
            if (!sub.skipping)
                combined &= ~kSkipTree;
        }
        return combined;
    }

  private:
    struct Sub {
        std::unique_ptr<Rule> rule;
        OidSet seen;
        git_oid skip_tree;
        bool skipping;
    };
    static unsigned one(Sub &sub, At s, const git_oid &oid, std::string_view path) {
        if (sub.skipping) {
            if (s == At::EndTree && git_oid_equal(&oid, &sub.skip_tree))
                sub.skipping = false;
            else
                return kZero;
        }
        if (sub.seen.contains(oid))
            return kZero;
        const unsigned r = sub.rule->apply(s, oid, path);
        if (r & kMarkSeen)
            sub.seen.insert(oid);
        if (r & kSkipTree) {
            sub.skipping = true;
            sub.skip_tree = oid;
        }
        return r;
    }
    std::vector<Sub> subs_;
};

std::unique_ptr<Rule> make_rule(git_repository *repo, ObjectParser &objects,
                                const ObjectFilter &f) {
    switch (f.kind) {
    case ObjectFilter::Kind::BlobNone:
        return std::make_unique<BlobNone>();
    case ObjectFilter::Kind::BlobLimit:
        return std::make_unique<BlobLimit>(objects, f.value);
    case ObjectFilter::Kind::TreeDepth:
        return std::make_unique<TreeDepth>(f.value);
    case ObjectFilter::Kind::SparseOid:
        return std::make_unique<Sparse>(read_sparse_blob(repo, f.sparse_oid));
    case ObjectFilter::Kind::ObjectType:
        return std::make_unique<ObjectType>(f.type);
    case ObjectFilter::Kind::Combine: {
        auto c = std::make_unique<Combine>();
        for (const ObjectFilter &sub : f.subs)
            c->add(make_rule(repo, objects, sub));
        return c;
    }
    case ObjectFilter::Kind::None:
        break;
    }
    throw Error("no object filter");
}

} // namespace

std::string read_sparse_blob(git_repository *repo, const std::string &name) {
    git_object *obj = nullptr;
    if (git_revparse_single(&obj, repo, name.c_str()) < 0) {
        git_error_clear();
        throw Error("unable to access sparse blob in '" + name + "'");
    }
    ObjectPtr owned(obj);
    if (git_object_type(obj) != GIT_OBJECT_BLOB)
        throw Error("unable to parse sparse filter data in " + oid_hex(*git_object_id(obj)));
    const git_blob *blob = reinterpret_cast<const git_blob *>(obj);
    return std::string(static_cast<const char *>(git_blob_rawcontent(blob)),
                       size_t(git_blob_rawsize(blob)));
}

struct FilterWalk::Impl {
    Impl(git_repository *repo, ObjectParser &objects, const ObjectFilter &filter, OidSet &done)
        : objects(objects), rule(make_rule(repo, objects, filter)), done(done) {}

    struct Entry {
        git_oid id;
        uint32_t name_pos;
        uint32_t name_len;
        bool is_tree;
    };
    // A tree being walked: its entries, read when it was entered.
    struct Frame {
        git_oid tree;
        bool user;
        size_t path_len; // of path without this tree's own name
        size_t next;
        std::vector<Entry> entries;
        std::string names;
    };

    void show(const git_oid &oid) {
        if (sent->insert(oid).second)
            send->push_back(oid);
    }
    void apply_result(unsigned r, const git_oid &oid) {
        if (r & kMarkSeen)
            done.insert(oid);
        if (r & kShow)
            show(oid);
    }
    void blob(const git_oid &oid, bool user) {
        if (done.contains(oid))
            return;
        apply_result(user ? kMarkSeen | kShow : rule->apply(At::Blob, oid, path), oid);
    }
    // Walks a tree whose name is already on path (base_len long without it).
    void tree(const git_oid &root, bool root_user, size_t base_len);

    ObjectParser &objects;
    std::unique_ptr<Rule> rule;
    OidSet &done;
    // Trees and blobs met as tree entries or commit trees: no longer the
    // client's own wants (tracked only when a want is a tree).
    bool track_user = false;
    OidSet not_user_given;
    std::vector<git_oid> *send = nullptr;
    OidSet *sent = nullptr;
    std::string path;
    std::vector<Frame> frames; // reused from tree to tree
};

void FilterWalk::Impl::tree(const git_oid &root, bool root_user, size_t base_len) {
    size_t depth = 0;
    auto enter = [&](const git_oid &oid, bool user, size_t len) {
        if (done.contains(oid))
            return false;
        const unsigned r = user ? kMarkSeen | kShow : rule->apply(At::BeginTree, oid, path);
        apply_result(r, oid);
        if (depth == frames.size())
            frames.emplace_back();
        Frame &f = frames[depth++];
        f.tree = oid;
        f.user = user;
        f.path_len = len;
        f.next = 0;
        f.entries.clear();
        f.names.clear();
        if (!(r & kSkipTree)) {
            objects.for_each_named_entry(oid, [&](const git_oid &id, bool is_tree,
                                                  std::string_view name) {
                f.entries.push_back({id, uint32_t(f.names.size()), uint32_t(name.size()), is_tree});
                f.names.append(name);
            });
        }
        if (!path.empty())
            path.push_back('/');
        return true;
    };
    enter(root, root_user, base_len);
    while (depth > 0) {
        Frame &f = frames[depth - 1];
        if (f.next == f.entries.size()) {
            const git_oid oid = f.tree;
            const bool user = f.user;
            const size_t len = f.path_len;
            depth--;
            apply_result(user ? kZero : rule->apply(At::EndTree, oid, path), oid);
            path.resize(len);
            continue;
        }
        const Entry e = f.entries[f.next++];
        if (track_user)
            not_user_given.insert(e.id);
        const size_t len = path.size();
        path.append(f.names, e.name_pos, e.name_len);
        if (e.is_tree) {
            // f may have moved: frames can grow.
            if (!enter(e.id, false, len))
                path.resize(len);
        } else {
            blob(e.id, false);
            path.resize(len);
        }
    }
}

FilterWalk::FilterWalk(git_repository *repo, ObjectParser &objects, const ObjectFilter &filter,
                       OidSet &done)
    : impl_(std::make_unique<Impl>(repo, objects, filter, done)) {}

FilterWalk::~FilterWalk() = default;

void FilterWalk::run(const FilterWalkInput &in, std::vector<git_oid> *send, OidSet *sent) {
    Impl &w = *impl_;
    w.send = send;
    w.sent = sent;
    for (const git_oid &c : *in.commits) {
        const unsigned r =
            in.wanted_commits->contains(c) ? kMarkSeen | kShow : w.rule->apply(At::Commit, c, "");
        w.done.insert(c); // the history walk is done with it either way
        if (r & kShow)
            w.show(c);
    }
    for (const auto &[oid, type] : *in.pending)
        w.track_user |= type == GIT_OBJECT_TREE;
    if (w.track_user)
        for (const git_oid &t : *in.commit_trees)
            w.not_user_given.insert(t);
    for (const auto &[oid, type] : *in.pending) {
        const bool user = !w.not_user_given.contains(oid);
        w.path.clear();
        if (type == GIT_OBJECT_TAG) {
            if (!w.done.contains(oid))
                w.apply_result(kMarkSeen | kShow, oid);
        } else if (type == GIT_OBJECT_TREE) {
            w.tree(oid, user, 0);
        } else {
            w.blob(oid, user);
        }
    }
    for (const git_oid &t : *in.commit_trees) {
        w.path.clear();
        w.tree(t, false, 0);
    }
}

} // namespace gsh::pack

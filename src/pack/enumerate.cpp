// enumerate_objects(): the objects a fetch needs.
//
// Commits: with haves, a libgit2 revision walk (wants pushed, haves hidden),
// which knows when to stop below the haves; without (a clone), a plain walk
// over every ancestor, reading commits straight from the packs.
//
// Trees and blobs are found by walking trees with one hash set of every
// object seen: first everything reachable from the uninteresting side (the
// haves and the hidden parents of the walked commits) is inserted, then the
// trees of the wanted commits are walked, skipping subtrees already seen.
// Members inserted after the uninteresting phase are exactly the ones to
// send, so the set's insertion order gives the answer without flags.
//
// Objects are read with ObjectReader (pack files read directly, delta bases
// cached), which is several times faster than libgit2's object lookups here.
#include <chrono>
#include <cstring>
#include <string>

#include "pack/enumerate.h"
#include "pack/object_reader.h"
#include "pack/oid_set.h"
#include "pack/pack_index.h"
#include "repo/git_ptr.h"
#include "util/error.h"

namespace gsh::pack {

namespace {

std::string hex(const git_oid &oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    return buf;
}

// Reports "Enumerating objects: N" at most a few times a second.
class Progress {
  public:
    explicit Progress(const ProgressFn &fn) : fn_(fn) {
        if (fn_)
            last_ = std::chrono::steady_clock::now();
    }
    void tick(size_t n) {
        if (!fn_ || (n & 4095) != 0)
            return;
        auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(250))
            return;
        last_ = now;
        fn_("Enumerating objects: " + std::to_string(n) + "\r");
    }
    void done(size_t n) {
        if (fn_)
            fn_("Enumerating objects: " + std::to_string(n) + ", done.\n");
    }

  private:
    const ProgressFn &fn_;
    std::chrono::steady_clock::time_point last_;
};

// Parses "<key> <hex>\n" at p (within end); advances p past the line.
bool parse_oid_line(const char *&p, const char *end, const char *key, git_oid *out) {
    const size_t klen = std::strlen(key);
    if (size_t(end - p) < klen + 1 + GIT_OID_HEXSZ + 1 || std::memcmp(p, key, klen) != 0 ||
        p[klen] != ' ' || p[klen + 1 + GIT_OID_HEXSZ] != '\n')
        return false;
    if (git_oid_fromstrn(out, p + klen + 1, GIT_OID_HEXSZ) < 0)
        return false;
    p += klen + 1 + GIT_OID_HEXSZ + 1;
    return true;
}

class Enumerator {
  public:
    Enumerator(git_repository *repo, const ProgressFn &progress)
        : repo_(repo), progress_(progress), packs_(repo), reader_(repo, packs_) {
        git_odb *odb = nullptr;
        git_check(git_repository_odb(&odb, repo), "opening the object database");
        odb_.reset(odb);
    }

    Enumeration run(const EnumerateInput &in);
    // Every object reachable from roots, not following the parents of
    // parentless commits.
    OidSet reachable_from(const std::vector<git_oid> &roots,
                          const std::vector<git_oid> &parentless);

  private:
    ObjectReader::Object read(const git_oid &oid, git_object_t expect, size_t limit = SIZE_MAX) {
        ObjectReader::Object obj = reader_.read(oid, limit);
        if (obj.type != expect)
            throw Error("object " + hex(oid) + " is a " + git_object_type2string(obj.type) +
                        ", expected a " + git_object_type2string(expect));
        return obj;
    }

    git_object_t type_of(const git_oid &oid) {
        size_t len;
        git_object_t type;
        int rc = git_odb_read_header(&len, &type, odb_.get(), &oid);
        if (rc < 0)
            throw Error("reading object " + hex(oid) + ": " +
                        (git_error_last() && git_error_last()->message ? git_error_last()->message
                                                                       : "libgit2 error"));
        return type;
    }

    // Tree and parents of a commit, from its header lines.
    void parse_commit(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents) {
        constexpr size_t kPrefix = 256; // the tree line and 4 parent lines
        size_t limit = kPrefix;
        for (;;) {
            ObjectReader::Object obj = read(oid, GIT_OBJECT_COMMIT, limit);
            const char *p = reinterpret_cast<const char *>(obj.data);
            const char *end = p + obj.size;
            if (!parse_oid_line(p, end, "tree", tree))
                throw Error("corrupt commit " + hex(oid));
            parents->clear();
            git_oid parent;
            while (parse_oid_line(p, end, "parent", &parent))
                parents->push_back(parent);
            if (obj.size < limit || size_t(end - p) > 7 + GIT_OID_HEXSZ + 1)
                return;
            limit = SIZE_MAX; // cut inside the parent lines
        }
    }

    // Target and target type of a tag.
    git_object_t parse_tag(const git_oid &oid, git_oid *target) {
        ObjectReader::Object obj = read(oid, GIT_OBJECT_TAG);
        const char *p = reinterpret_cast<const char *>(obj.data);
        const char *end = p + obj.size;
        if (!parse_oid_line(p, end, "object", target) || end - p < 5 ||
            std::memcmp(p, "type ", 5) != 0)
            throw Error("corrupt tag " + hex(oid));
        p += 5;
        const char *nl = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
        if (!nl)
            throw Error("corrupt tag " + hex(oid));
        git_object_t t = git_object_string2type(std::string(p, nl).c_str());
        if (t != GIT_OBJECT_COMMIT && t != GIT_OBJECT_TREE && t != GIT_OBJECT_BLOB &&
            t != GIT_OBJECT_TAG)
            throw Error("corrupt tag " + hex(oid));
        return t;
    }

    void insert(const git_oid &oid) {
        if (set_.insert(oid).second)
            tick();
    }
    void tick() {
        if (counting_)
            progress_.tick(set_.size() - boundary_);
    }

    // Inserts tree and everything below it that is not in the set yet.
    void walk_tree(const git_oid &root) {
        if (!set_.insert(root).second)
            return;
        stack_.push_back(root);
        while (!stack_.empty()) {
            git_oid tree = stack_.back();
            stack_.pop_back();
            ObjectReader::Object obj = read(tree, GIT_OBJECT_TREE);
            const uint8_t *p = obj.data;
            const uint8_t *end = p + obj.size;
            while (p < end) {
                // "<octal mode> <name>\0<20-byte id>"
                uint32_t mode = 0;
                while (p < end && *p >= '0' && *p <= '7')
                    mode = (mode << 3) | uint32_t(*p++ - '0');
                if (p >= end || *p != ' ')
                    throw Error("corrupt tree " + hex(tree));
                const uint8_t *nul =
                    static_cast<const uint8_t *>(std::memchr(p, 0, size_t(end - p)));
                if (!nul || size_t(end - nul) < 1 + GIT_OID_RAWSZ)
                    throw Error("corrupt tree " + hex(tree));
                git_oid id;
                std::memcpy(id.id, nul + 1, GIT_OID_RAWSZ);
                p = nul + 1 + GIT_OID_RAWSZ;
                const uint32_t kind = mode & 0170000;
                if (kind == 0160000)
                    continue; // gitlink: a commit of another repository
                auto [idx, inserted] = set_.insert(id);
                (void)idx;
                if (!inserted)
                    continue;
                tick();
                if (kind == 0040000)
                    stack_.push_back(id);
            }
        }
    }

    git_repository *repo_;
    OdbPtr odb_;
    // The history walk of a shallow fetch: parentless commits end it on both
    // sides, which libgit2's walk cannot be told.
    void walk_shallow(const std::vector<git_oid> &parentless, const std::vector<git_oid> &wants,
                      std::vector<git_oid> *known_commits, std::vector<git_oid> *commits,
                      std::vector<git_oid> *commit_trees);

    Progress progress_;
    PackSet packs_;
    ObjectReader reader_;
    OidSet set_;
    size_t boundary_ = 0;   // members before this index are not sent
    bool counting_ = false; // past the uninteresting phase
    std::vector<git_oid> stack_;
};

void Enumerator::walk_shallow(const std::vector<git_oid> &parentless,
                              const std::vector<git_oid> &wants,
                              std::vector<git_oid> *known_commits, std::vector<git_oid> *commits,
                              std::vector<git_oid> *commit_trees) {
    OidSet grafted(parentless.size());
    for (const git_oid &c : parentless)
        grafted.insert(c);
    git_oid tree;
    std::vector<git_oid> parents;
    // Everything the client has, down to its boundary (a shallow client's
    // history is short by definition).
    OidSet have(4096);
    std::vector<git_oid> stack(known_commits->begin(), known_commits->end());
    while (!stack.empty()) {
        git_oid c = stack.back();
        stack.pop_back();
        if (!have.insert(c).second || grafted.contains(c))
            continue;
        parse_commit(c, &tree, &parents);
        stack.insert(stack.end(), parents.begin(), parents.end());
    }
    OidSet seen(4096);
    stack.assign(wants.rbegin(), wants.rend());
    while (!stack.empty()) {
        git_oid c = stack.back();
        stack.pop_back();
        if (have.contains(c)) {
            known_commits->push_back(c);
            continue;
        }
        if (!seen.insert(c).second)
            continue;
        parse_commit(c, &tree, &parents);
        commits->push_back(c);
        commit_trees->push_back(tree);
        if (!grafted.contains(c))
            for (size_t i = parents.size(); i-- > 0;)
                stack.push_back(parents[i]);
    }
}

Enumeration Enumerator::run(const EnumerateInput &in) {
    RevwalkPtr walk;

    // The uninteresting side: haves classified by type; commits hidden.
    std::vector<git_oid> known_trees, known_other, known_commits;
    std::vector<git_oid> haves; // those we have
    bool any_hidden = false;
    for (const git_oid &have : in.haves) {
        if (!git_odb_exists(odb_.get(), &have))
            continue; // the client has something we do not: irrelevant
        haves.push_back(have);
        git_oid oid = have;
        git_object_t type = type_of(oid);
        while (type == GIT_OBJECT_TAG) {
            known_other.push_back(oid);
            git_oid target;
            type = parse_tag(oid, &target);
            oid = target;
        }
        if (type == GIT_OBJECT_COMMIT) {
            if (!walk) {
                git_revwalk *w = nullptr;
                git_check(git_revwalk_new(&w, repo_), "starting the revision walk");
                walk.reset(w);
                git_check(git_revwalk_sorting(walk.get(), GIT_SORT_NONE), "setting the walk order");
            }
            git_check(git_revwalk_hide(walk.get(), &oid), "hiding a have");
            known_commits.push_back(oid);
            any_hidden = true;
        } else if (type == GIT_OBJECT_TREE) {
            known_trees.push_back(oid);
        } else {
            known_other.push_back(oid);
        }
    }

    // The wanted side: tags peeled (and sent), commits to walk from.
    std::vector<git_oid> want_commits, want_trees, want_other;
    for (const git_oid &want : in.wants) {
        git_oid oid = want;
        git_object_t type = type_of(oid);
        while (type == GIT_OBJECT_TAG) {
            want_other.push_back(oid);
            git_oid target;
            type = parse_tag(oid, &target);
            oid = target;
        }
        if (type == GIT_OBJECT_COMMIT)
            want_commits.push_back(oid);
        else if (type == GIT_OBJECT_TREE)
            want_trees.push_back(oid);
        else
            want_other.push_back(oid);
    }

    // The commits to send, with their trees.
    std::vector<git_oid> commits, commit_trees;
    std::vector<git_oid> parents;
    if (!in.parentless.empty()) {
        walk_shallow(in.parentless, want_commits, &known_commits, &commits, &commit_trees);
    } else if (any_hidden) {
        // libgit2's walk knows when to stop below the haves. The hidden
        // parents of what it returns are the boundary.
        for (const git_oid &c : want_commits)
            git_check(git_revwalk_push(walk.get(), &c), "walking from a want");
        git_oid oid;
        int rc;
        while ((rc = git_revwalk_next(&oid, walk.get())) == 0)
            commits.push_back(oid);
        if (rc != GIT_ITEROVER)
            git_check(rc, "walking the history");
        commit_trees.resize(commits.size());
        OidSet interesting(commits.size());
        for (const git_oid &c : commits)
            interesting.insert(c);
        OidSet boundary;
        for (size_t i = 0; i < commits.size(); i++) {
            parse_commit(commits[i], &commit_trees[i], &parents);
            for (const git_oid &parent : parents)
                if (!interesting.contains(parent) && boundary.insert(parent).second)
                    known_commits.push_back(parent);
        }
    } else {
        // Nothing hidden: every ancestor. A depth-first walk (first parents
        // first) visits trees in history order, which suits delta bases.
        OidSet seen(4096);
        std::vector<git_oid> stack(want_commits.rbegin(), want_commits.rend());
        while (!stack.empty()) {
            git_oid c = stack.back();
            stack.pop_back();
            if (!seen.insert(c).second)
                continue;
            git_oid tree;
            parse_commit(c, &tree, &parents);
            commits.push_back(c);
            commit_trees.push_back(tree);
            for (size_t i = parents.size(); i-- > 0;)
                if (!seen.contains(parents[i]))
                    stack.push_back(parents[i]);
        }
    }
    walk.reset();

    // Phase 1: everything the client has.
    for (const git_oid &c : known_commits) {
        if (set_.insert(c).second) {
            git_oid tree;
            parse_commit(c, &tree, &parents);
            walk_tree(tree);
        }
    }
    for (const git_oid &t : known_trees)
        walk_tree(t);
    for (const git_oid &o : known_other)
        set_.insert(o);
    boundary_ = set_.size();
    counting_ = true;

    // Phase 2: everything the client needs.
    set_.reserve(boundary_ + commits.size() * 8);
    for (size_t i = 0; i < commits.size(); i++) {
        insert(commits[i]);
        walk_tree(commit_trees[i]);
    }
    for (const git_oid &t : want_trees)
        walk_tree(t);
    for (const git_oid &o : want_other)
        insert(o);

    // include-tag: a tag whose chain ends at an object being sent comes along
    // with the tags it goes through.
    std::vector<git_oid> chain;
    for (const git_oid &tag : in.include_tags) {
        if (set_.contains(tag) || !git_odb_exists(odb_.get(), &tag) ||
            type_of(tag) != GIT_OBJECT_TAG)
            continue;
        chain.clear();
        git_oid cur = tag;
        git_object_t type = GIT_OBJECT_TAG;
        while (type == GIT_OBJECT_TAG) {
            chain.push_back(cur);
            git_oid target;
            type = parse_tag(cur, &target);
            cur = target;
        }
        int64_t idx = set_.find(cur);
        if (idx < 0 || size_t(idx) < boundary_)
            continue;
        for (const git_oid &t : chain)
            insert(t);
    }

    progress_.done(set_.size() - boundary_);
    if (boundary_ == 0)
        return Enumeration(set_.take());
    // The members before the boundary are what the client has: kept for
    // thin packs.
    std::vector<git_oid> out(set_.oids().begin() + std::ptrdiff_t(boundary_), set_.oids().end());
    return Enumeration(std::move(out), std::move(set_), boundary_, repo_, std::move(haves),
                       in.parentless);
}

OidSet Enumerator::reachable_from(const std::vector<git_oid> &roots,
                                  const std::vector<git_oid> &parentless) {
    OidSet grafted(parentless.size());
    for (const git_oid &c : parentless)
        grafted.insert(c);
    std::vector<git_oid> commits, parents;
    for (const git_oid &root : roots) {
        git_oid oid = root;
        git_object_t type = type_of(oid);
        while (type == GIT_OBJECT_TAG) {
            set_.insert(oid);
            git_oid target;
            type = parse_tag(oid, &target);
            oid = target;
        }
        if (type == GIT_OBJECT_COMMIT)
            commits.push_back(oid);
        else if (type == GIT_OBJECT_TREE)
            walk_tree(oid);
        else
            set_.insert(oid);
    }
    while (!commits.empty()) {
        git_oid c = commits.back();
        commits.pop_back();
        if (!set_.insert(c).second)
            continue;
        git_oid tree;
        parse_commit(c, &tree, &parents);
        walk_tree(tree);
        if (!grafted.contains(c))
            for (const git_oid &p : parents)
                if (!set_.contains(p))
                    commits.push_back(p);
    }
    return std::move(set_);
}

} // namespace

void Enumeration::widen_known() {
    if (!can_widen())
        return;
    static const ProgressFn kSilent;
    Enumerator e(repo_, kSilent);
    reachable_ = std::make_unique<OidSet>(e.reachable_from(haves_, parentless_));
}

Enumeration enumerate_objects(git_repository *repo, const EnumerateInput &in,
                              const ProgressFn &progress) {
    Enumerator e(repo, progress);
    return e.run(in);
}

} // namespace gsh::pack

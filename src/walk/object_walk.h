// Commits, tags and trees as the object walks read them: straight from the
// pack files through ObjectReader, parsed only as far as a walk needs. A
// commit the repository's commit-graph lists is answered from the graph
// without reading the object, when git would read that graph too.
#pragma once

#include <git2.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "odb/object_reader.h"
#include "odb/pack_index.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"

namespace gsh::pack {

class CommitMemo;

// packs' commit-graph when git would read it for repo, else nullptr.
const CommitGraph *usable_commit_graph(git_repository *repo, const PackSet &packs);

class ObjectParser {
  public:
    // packs must outlive the parser.
    ObjectParser(git_repository *repo, const PackSet &packs);

    // The commit-graph parse_commit() answers from, or nullptr.
    const CommitGraph *commit_graph() const { return graph_; }

    bool exists(const git_oid &oid) const { return git_odb_exists(odb_.get(), &oid); }
    // Throws gsh::Error when the object is missing.
    git_object_t type_of(const git_oid &oid) const;
    // Size of an object's content. Throws gsh::Error when it is missing.
    size_t size_of(const git_oid &oid) const;
    std::pair<git_object_t, size_t> header_of(const git_oid &oid) const;
    // Tree and parents of a commit, from its header lines.
    void parse_commit(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents);
    // The same with the committer date, read as git's parse_commit_date()
    // reads it (0 when the lines are not where git looks for them).
    void parse_commit(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents,
                      int64_t *date);
    // Target and target type of a tag.
    git_object_t parse_tag(const git_oid &oid, git_oid *target);
    // Follows *oid, of the given type, through any chain of tags: on_tag(tag)
    // for each tag passed. *oid ends at the first object that is not a tag,
    // whose type is returned.
    template <typename Fn> git_object_t peel_tags(git_oid *oid, git_object_t type, Fn &&on_tag) {
        while (type == GIT_OBJECT_TAG) {
            on_tag(*oid);
            git_oid target;
            type = parse_tag(*oid, &target);
            *oid = target;
        }
        return type;
    }

    // Calls fn(id, is_tree) for every entry of a tree but gitlinks (commits
    // of other repositories). fn must not use the parser.
    template <typename Fn> void for_each_entry(const git_oid &tree, Fn &&fn) {
        for_each_named_entry(
            tree, [&](const git_oid &id, bool is_tree, std::string_view) { fn(id, is_tree); });
    }

    // The same with each entry's name.
    template <typename Fn> void for_each_named_entry(const git_oid &tree, Fn &&fn) {
        ObjectReader::Object obj = read(tree, GIT_OBJECT_TREE);
        const uint8_t *p = obj.data;
        const uint8_t *end = p + obj.size;
        while (p < end) {
            // "<octal mode> <name>\0<20-byte id>"
            uint32_t mode = 0;
            while (p < end && *p >= '0' && *p <= '7')
                mode = (mode << 3) | uint32_t(*p++ - '0');
            if (p >= end || *p != ' ')
                throw Error("corrupt tree " + oid_hex(tree));
            const uint8_t *nul = static_cast<const uint8_t *>(std::memchr(p, 0, size_t(end - p)));
            if (!nul || size_t(end - nul) < 1 + GIT_OID_RAWSZ)
                throw Error("corrupt tree " + oid_hex(tree));
            const std::string_view name(reinterpret_cast<const char *>(p + 1), size_t(nul - p - 1));
            git_oid id;
            std::memcpy(id.id, nul + 1, GIT_OID_RAWSZ);
            p = nul + 1 + GIT_OID_RAWSZ;
            const uint32_t kind = mode & 0170000;
            if (kind != 0160000)
                fn(id, kind == 0040000, name);
        }
    }

  private:
    ObjectReader::Object read(const git_oid &oid, git_object_t expect, size_t limit = SIZE_MAX);
    // Both parse_commit()s: date null reads no further than the parents.
    void parse_commit_prefix(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents,
                             int64_t *date);
    void read_commit_prefix(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents,
                            int64_t *date);

    OdbPtr odb_;
    ObjectReader reader_;
    const CommitGraph *graph_;
    CommitMemo &commits_;
};

} // namespace gsh::pack

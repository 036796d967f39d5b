// git's commit-graph (gitformat-commit-graph): the tree, parents, date and
// generation of every commit it lists, without inflating the commit. Read
// from a repository's own object folder: objects/info/commit-graph, else a
// split chain (objects/info/commit-graphs/commit-graph-chain, base layers
// first). The files are mapped and their descriptors closed at once, so a
// worker serving many repositories holds no descriptor for them.
//
// Every layer is checked when it is opened (header, chunk table, chunk
// sizes, sorted ids, trailing SHA-1): a file that fails is not used, as git
// stops at the first bad layer of a chain and keeps the layers below it.
// Lookups check every position they follow, so even a crafted file that
// passes the checksum can only make a lookup answer "not here", after which
// the caller parses the object itself.
#pragma once

#include <git2.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gsh::pack {

class CommitGraph {
  public:
    // objects_dir's graph, or nullptr when it has none that can be read.
    static std::unique_ptr<CommitGraph> open(const std::string &objects_dir);
    ~CommitGraph();
    CommitGraph(const CommitGraph &) = delete;
    CommitGraph &operator=(const CommitGraph &) = delete;

    // Commits listed, all layers together.
    uint32_t size() const { return total_; }
    size_t layers() const { return layers_.size(); }
    // Whether generations are corrected commit dates (GDA2 in every layer)
    // rather than topological levels.
    bool corrected_dates() const { return corrected_; }

    // Position of oid in the graph, or false.
    bool find(const git_oid &oid, uint32_t *pos) const;
    // The commit at pos: tree, parents in order, committer date as git
    // stored it. False when the graph contradicts itself there.
    bool commit(uint32_t pos, git_oid *tree, std::vector<git_oid> *parents, int64_t *date) const;
    // Its generation: a parent's is always lower, so a commit of lower
    // generation than c never reaches c. 0 when unknown (out of range, or
    // written by a git that left it 0): then it proves nothing.
    uint64_t generation(uint32_t pos) const;

  private:
    struct Layer;
    CommitGraph();
    const Layer *layer_of(uint32_t pos, uint32_t *local) const;
    bool oid_at(uint32_t pos, git_oid *out) const;
    bool add_layer(std::unique_ptr<Layer> layer);

    std::vector<std::unique_ptr<Layer>> layers_; // base first
    uint32_t total_ = 0;
    bool corrected_ = true;
};

// A PackSet's graph, opened on first use by whichever thread asks first.
class LazyCommitGraph {
  public:
    const CommitGraph *get(const std::string &objects_dir) const {
        std::call_once(once_, [&] { open(objects_dir); });
        return graph_.get();
    }

  private:
    void open(const std::string &objects_dir) const;
    mutable std::once_flag once_;
    mutable std::unique_ptr<CommitGraph> graph_;
};

// Whether git would read repo's commit-graph at all: not with
// core.commitGraph=false, nor when grafts or a shallow file change the
// parents it would answer (commit_graph_compatible()). Replace refs do not
// count: upload-pack and pack-objects never read them.
bool commit_graph_allowed(git_repository *repo);

} // namespace gsh::pack

#include "odb/commit_graph.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "util/big_endian.h"
#include "util/git_ptr.h"
#include "util/sha1.h"
#include "util/sorted_oids.h"

namespace gsh::pack {

namespace {

constexpr size_t kHashSize = GIT_OID_RAWSZ;
constexpr size_t kHeaderSize = 8;
constexpr size_t kChunkEntrySize = 12;
constexpr size_t kCdatEntrySize = kHashSize + 16;
constexpr uint32_t kNoParent = 0x70000000;
constexpr uint32_t kEdgeFlag = 0x80000000;
constexpr uint32_t kPositionMask = 0x7fffffff;

uint32_t chunk_id(const char (&id)[5]) {
    return be32(reinterpret_cast<const uint8_t *>(id));
}

// A whole file mapped read-only; its descriptor is closed once mapped.
class Mapping {
  public:
    Mapping() = default;
    ~Mapping() {
        if (data_)
            ::munmap(const_cast<uint8_t *>(data_), size_);
    }
    Mapping(const Mapping &) = delete;
    Mapping &operator=(const Mapping &) = delete;

    bool map(const std::string &path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return false;
        struct stat st;
        void *m = MAP_FAILED;
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
            m = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        ::close(fd);
        if (m == MAP_FAILED)
            return false;
        data_ = static_cast<const uint8_t *>(m);
        size_ = size_t(st.st_size);
        return true;
    }
    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }

  private:
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

} // namespace

struct CommitGraph::Layer {
    Mapping map;
    uint32_t count = 0; // commits in this layer
    uint32_t base = 0;  // commits in the layers below
    uint32_t bases = 0; // how many layers its BASE chunk names
    const uint8_t *fanout = nullptr, *oids = nullptr, *cdat = nullptr;
    const uint8_t *gda2 = nullptr, *gdo2 = nullptr, *edge = nullptr, *base_ids = nullptr;
    size_t gdo2_count = 0, edge_count = 0;

    const uint8_t *checksum() const { return map.data() + map.size() - kHashSize; }
    bool parse(const std::string &path);

  private:
    bool read_chunks();
    bool check_oids() const;
};

bool CommitGraph::Layer::parse(const std::string &path) {
    if (!map.map(path))
        return false;
    const uint8_t *d = map.data();
    if (map.size() < kHeaderSize + kChunkEntrySize + kHashSize || std::memcmp(d, "CGPH", 4) != 0 ||
        d[4] != 1 || d[5] != 1)
        return false;
    bases = d[7];
    if (!read_chunks() || !check_oids())
        return false;
    const Sha1::Digest sum = Sha1::of(d, map.size() - kHashSize);
    return std::memcmp(sum.data(), checksum(), kHashSize) == 0;
}

// The chunk table: ids with offsets in order, all within the file before
// the trailer; then each chunk's size as the commit count fixes it.
bool CommitGraph::Layer::read_chunks() {
    const uint8_t *d = map.data();
    const size_t chunks = d[6];
    const size_t end = map.size() - kHashSize;
    const size_t table_end = kHeaderSize + (chunks + 1) * kChunkEntrySize;
    if (table_end > end)
        return false;
    struct Found {
        const uint8_t *at = nullptr;
        uint64_t size = 0;
    } oidf, oidl, cdat_c, gda2_c, gdo2_c, edge_c, base_c;
    for (size_t i = 0; i < chunks; i++) {
        const uint8_t *e = d + kHeaderSize + i * kChunkEntrySize;
        const uint64_t from = be64(e + 4), to = be64(e + kChunkEntrySize + 4);
        if (be32(e) == 0 || from < table_end || to < from || to > end)
            return false;
        Found f{d + from, to - from};
        const uint32_t id = be32(e);
        if (id == chunk_id("OIDF"))
            oidf = f;
        else if (id == chunk_id("OIDL"))
            oidl = f;
        else if (id == chunk_id("CDAT"))
            cdat_c = f;
        else if (id == chunk_id("GDA2"))
            gda2_c = f;
        else if (id == chunk_id("GDO2"))
            gdo2_c = f;
        else if (id == chunk_id("EDGE"))
            edge_c = f;
        else if (id == chunk_id("BASE"))
            base_c = f;
    }
    if (be32(d + kHeaderSize + chunks * kChunkEntrySize) != 0 || !oidf.at || oidf.size != 256 * 4 ||
        !oidl.at || !cdat_c.at)
        return false;
    fanout = oidf.at;
    count = be32(fanout + 255 * 4);
    if (oidl.size != uint64_t(count) * kHashSize || cdat_c.size != uint64_t(count) * kCdatEntrySize)
        return false;
    oids = oidl.at;
    cdat = cdat_c.at;
    // A generation chunk of the wrong size is ignored, as git ignores it.
    if (gda2_c.at && gda2_c.size == uint64_t(count) * 4)
        gda2 = gda2_c.at;
    if (gda2 && gdo2_c.at && gdo2_c.size % 8 == 0) {
        gdo2 = gdo2_c.at;
        gdo2_count = size_t(gdo2_c.size / 8);
    }
    if (edge_c.at) {
        if (edge_c.size % 4 != 0)
            return false;
        edge = edge_c.at;
        edge_count = size_t(edge_c.size / 4);
    }
    if (bases > 0) {
        if (!base_c.at || base_c.size != uint64_t(bases) * kHashSize)
            return false;
        base_ids = base_c.at;
    }
    return true;
}

// Ids strictly ascending, each in the fanout bucket of its first byte: a
// binary search can then trust both.
bool CommitGraph::Layer::check_oids() const {
    uint32_t prev_bucket_end = 0;
    for (size_t b = 0; b < 256; b++) {
        const uint32_t bucket_end = be32(fanout + b * 4);
        if (bucket_end < prev_bucket_end || bucket_end > count)
            return false;
        for (uint32_t i = prev_bucket_end; i < bucket_end; i++) {
            const uint8_t *id = oids + size_t(i) * kHashSize;
            if (id[0] != b || (i > 0 && std::memcmp(id - kHashSize, id, kHashSize) >= 0))
                return false;
        }
        prev_bucket_end = bucket_end;
    }
    return true;
}

CommitGraph::CommitGraph() = default;
CommitGraph::~CommitGraph() = default;

// A layer is added when it names as its bases exactly the layers below it.
bool CommitGraph::add_layer(std::unique_ptr<Layer> layer) {
    if (layer->bases != layers_.size() || uint64_t(total_) + layer->count > kPositionMask)
        return false;
    for (size_t i = 0; i < layers_.size(); i++)
        if (std::memcmp(layer->base_ids + i * kHashSize, layers_[i]->checksum(), kHashSize) != 0)
            return false;
    layer->base = total_;
    total_ += layer->count;
    if (!layer->gda2)
        corrected_ = false; // git reads corrected dates only when every layer has them
    layers_.push_back(std::move(layer));
    return true;
}

std::unique_ptr<CommitGraph> CommitGraph::open(const std::string &objects_dir) {
    std::unique_ptr<CommitGraph> g(new CommitGraph());
    // The single file wins over a chain, as in git.
    auto single = std::make_unique<Layer>();
    if (single->parse(objects_dir + "/info/commit-graph")) {
        if (!g->add_layer(std::move(single)))
            return nullptr;
        return g;
    }
    std::ifstream chain(objects_dir + "/info/commit-graphs/commit-graph-chain");
    std::string line;
    while (std::getline(chain, line)) {
        git_oid named;
        if (line.size() != GIT_OID_HEXSZ || git_oid_fromstrn(&named, line.data(), line.size()) < 0)
            break;
        auto layer = std::make_unique<Layer>();
        // Stop at the first layer missing, damaged or not named for its
        // checksum; the ones below still serve.
        if (!layer->parse(objects_dir + "/info/commit-graphs/graph-" + line + ".graph") ||
            std::memcmp(layer->checksum(), named.id, kHashSize) != 0 ||
            !g->add_layer(std::move(layer)))
            break;
    }
    git_error_clear();
    if (g->layers_.empty())
        return nullptr;
    return g;
}

bool CommitGraph::find(const git_oid &oid, uint32_t *pos) const {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
        const Layer &l = **it;
        if (const int64_t at = find_sorted_oid(l.fanout, l.oids, oid.id); at >= 0) {
            *pos = l.base + uint32_t(at);
            return true;
        }
    }
    return false;
}

const CommitGraph::Layer *CommitGraph::layer_of(uint32_t pos, uint32_t *local) const {
    if (pos >= total_)
        return nullptr;
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
        if (pos >= (*it)->base) {
            *local = pos - (*it)->base;
            return it->get();
        }
    return nullptr;
}

bool CommitGraph::oid_at(uint32_t pos, git_oid *out) const {
    uint32_t i;
    const Layer *l = layer_of(pos, &i);
    if (!l)
        return false;
    std::memcpy(out->id, l->oids + size_t(i) * kHashSize, kHashSize);
    return true;
}

bool CommitGraph::commit(uint32_t pos, git_oid *tree, std::vector<git_oid> *parents,
                         int64_t *date) const {
    uint32_t i;
    const Layer *l = layer_of(pos, &i);
    if (!l)
        return false;
    const uint8_t *e = l->cdat + size_t(i) * kCdatEntrySize;
    // A parent lies in the commit's own layer or below.
    const uint32_t limit = l->base + l->count;
    auto add = [&](uint32_t p) {
        git_oid id;
        if (p >= limit || !oid_at(p, &id))
            return false;
        parents->push_back(id);
        return true;
    };
    std::memcpy(tree->id, e, kHashSize);
    parents->clear();
    const uint32_t p1 = be32(e + kHashSize), p2 = be32(e + kHashSize + 4);
    if (p1 != kNoParent && !add(p1))
        return false;
    if (p2 == kNoParent) {
        // nothing more
    } else if (p1 == kNoParent) {
        return false;
    } else if (!(p2 & kEdgeFlag)) {
        if (!add(p2))
            return false;
    } else {
        // The second and later parents of an octopus, the last one flagged.
        for (size_t k = p2 & kPositionMask;; k++) {
            if (k >= l->edge_count)
                return false;
            const uint32_t v = be32(l->edge + k * 4);
            if (!add(v & kPositionMask))
                return false;
            if (v & kEdgeFlag)
                break;
        }
    }
    if (date)
        *date = int64_t(uint64_t(be32(e + kHashSize + 8) & 3) << 32 | be32(e + kHashSize + 12));
    return true;
}

uint64_t CommitGraph::generation(uint32_t pos) const {
    uint32_t i;
    const Layer *l = layer_of(pos, &i);
    if (!l)
        return 0;
    const uint8_t *e = l->cdat + size_t(i) * kCdatEntrySize + kHashSize + 8;
    if (!corrected_)
        return be32(e) >> 2; // topological level
    const uint64_t date = uint64_t(be32(e) & 3) << 32 | be32(e + 4);
    uint64_t offset = be32(l->gda2 + size_t(i) * 4);
    if (offset & kEdgeFlag) {
        const size_t k = size_t(offset & kPositionMask);
        if (k >= l->gdo2_count)
            return 0;
        offset = be64(l->gdo2 + k * 8);
    }
    return date + offset;
}

void LazyCommitGraph::open(const std::string &objects_dir) const {
    try {
        graph_ = CommitGraph::open(objects_dir);
    } catch (...) {
        graph_.reset(); // only a lost shortcut
    }
}

bool commit_graph_allowed(git_repository *repo) {
    int enabled = 1;
    git_config *raw = nullptr;
    if (git_repository_config_snapshot(&raw, repo) == 0) {
        ConfigPtr cfg(raw);
        if (git_config_get_bool(&enabled, cfg.get(), "core.commitgraph") < 0)
            enabled = 1;
    }
    git_error_clear();
    if (!enabled)
        return false;
    std::string dir = git_repository_commondir(repo);
    if (!dir.empty() && dir.back() != '/')
        dir += '/';
    struct stat st;
    if (::stat((dir + "shallow").c_str(), &st) == 0)
        return false;
    return ::stat((dir + "info/grafts").c_str(), &st) != 0 || st.st_size == 0;
}

} // namespace gsh::pack

#include "odb/object_db.h"

#include <git2/sys/commit_graph.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <sys/stat.h>

#include <new>
#include <set>
#include <utility>
#include <vector>

#include "odb/alternates.h"
#include "odb/commit_graph.h"
#include "odb/loose_object.h"
#include "odb/pack_index.h"
#include "util/error.h"

namespace gsh {

namespace {

// libgit2's priorities: packs are asked before loose objects.
constexpr int kPackPriority = 2;
constexpr int kLoosePriority = 1;

struct LooseBackend {
    git_odb_backend parent; // first: libgit2 hands back this address
    std::string dir;
};

const std::string &dir_of(git_odb_backend *b) {
    return reinterpret_cast<LooseBackend *>(b)->dir;
}

int loose_read(void **data, size_t *len, git_object_t *type, git_odb_backend *b,
               const git_oid *id) {
    try {
        LooseObject obj;
        if (const int rc = obj.open(dir_of(b), *id); rc < 0)
            return rc;
        // One more byte for the NUL libgit2's own backend leaves after the data.
        char *buf = static_cast<char *>(git_odb_backend_data_alloc(b, obj.size() + 1));
        if (!buf) {
            git_error_set_oom();
            return GIT_ERROR;
        }
        if (const int rc = obj.read_all(buf); rc < 0) {
            git_odb_backend_data_free(b, buf);
            return rc;
        }
        buf[obj.size()] = '\0';
        *data = buf;
        *len = obj.size();
        *type = obj.type();
        return 0;
    } catch (...) {
        git_error_set_oom();
        return GIT_ERROR;
    }
}

int loose_read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id) {
    try {
        LooseObject obj;
        if (const int rc = obj.open(dir_of(b), *id); rc < 0)
            return rc;
        *len = obj.size();
        *type = obj.type();
        return 0;
    } catch (...) {
        git_error_set_oom();
        return GIT_ERROR;
    }
}

int loose_exists(git_odb_backend *b, const git_oid *id) {
    try {
        struct stat st;
        return ::stat(loose_path(dir_of(b), *id).c_str(), &st) == 0 && S_ISREG(st.st_mode);
    } catch (...) {
        return 0;
    }
}

struct LooseStream {
    git_odb_stream parent; // first, as above
    LooseObject obj;
};

int stream_read(git_odb_stream *s, char *buffer, size_t len) {
    return reinterpret_cast<LooseStream *>(s)->obj.read(buffer, len);
}

void stream_free(git_odb_stream *s) {
    delete reinterpret_cast<LooseStream *>(s);
}

int loose_readstream(git_odb_stream **out, size_t *len, git_object_t *type, git_odb_backend *b,
                     const git_oid *id) {
    LooseStream *s = new (std::nothrow) LooseStream{};
    if (!s) {
        git_error_set_oom();
        return GIT_ERROR;
    }
    int rc;
    try {
        rc = s->obj.open(dir_of(b), *id);
    } catch (...) {
        git_error_set_oom();
        rc = GIT_ERROR;
    }
    if (rc < 0) {
        delete s;
        return rc;
    }
    s->parent.backend = b;
    s->parent.mode = GIT_STREAM_RDONLY;
    s->parent.declared_size = s->obj.size();
    s->parent.read = stream_read;
    s->parent.free = stream_free;
    *len = s->obj.size();
    *type = s->obj.type();
    *out = &s->parent;
    return 0;
}

void loose_free(git_odb_backend *b) {
    delete reinterpret_cast<LooseBackend *>(b);
}

git_odb_backend *new_loose_backend(const std::string &dir) {
    auto *l = new LooseBackend{};
    l->dir = dir;
    if (git_odb_init_backend(&l->parent, GIT_ODB_BACKEND_VERSION) < 0) {
        delete l;
        git_check(-1, "opening the object database");
    }
    l->parent.read = loose_read;
    l->parent.read_header = loose_read_header;
    l->parent.readstream = loose_readstream;
    l->parent.exists = loose_exists;
    l->parent.free = loose_free;
    return &l->parent;
}

class Builder {
  public:
    explicit Builder(git_odb *odb) : odb_(odb) {}

    // dir, then its alternates in the order git links them.
    void add_with_alternates(const std::string &dir, bool alternate) {
        add(dir, alternate);
        for (const std::string &alt : list_alternates(dir))
            add(alt, true);
    }

  private:
    void add(const std::string &dir, bool alternate) {
        struct stat st;
        if (::stat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
            // git warns of a missing alternate and goes on.
            if (alternate)
                return;
            git_error_set(GIT_ERROR_ODB, "object directory %s does not exist", dir.c_str());
            git_check(-1, "opening the object database");
        }
        if (!seen_.insert({st.st_dev, st.st_ino}).second)
            return;
        git_odb_backend *pack = nullptr;
        git_check(git_odb_backend_pack(&pack, dir.c_str()), "opening the object database");
        attach(pack, alternate, kPackPriority);
        attach(new_loose_backend(dir), alternate, kLoosePriority);
    }

    void attach(git_odb_backend *b, bool alternate, int priority) {
        const int rc = alternate ? git_odb_add_alternate(odb_, b, priority)
                                 : git_odb_add_backend(odb_, b, priority);
        if (rc < 0) {
            b->free(b);
            git_check(rc, "opening the object database");
        }
    }

    git_odb *odb_;
    std::set<std::pair<dev_t, ino_t>> seen_;
};

// libgit2's own repository odb reads objects/info/commit-graph unless
// core.commitGraph is false, and its revision walks parse commits from it;
// ours keeps that, under git's rule for when a graph may be read at all.
// libgit2 1.5 reads no split chain: its walks parse those commits.
void use_commit_graph(git_repository *repo, git_odb *odb, const std::string &objects_dir) {
    struct stat st;
    if (::stat((objects_dir + "/info/commit-graph").c_str(), &st) < 0 ||
        !pack::commit_graph_allowed(repo))
        return;
    git_commit_graph *graph = nullptr;
    if (git_commit_graph_open(&graph, objects_dir.c_str()) == 0 &&
        git_odb_set_commit_graph(odb, graph) < 0)
        git_commit_graph_free(graph);
    // A damaged or unreadable graph is only a lost shortcut.
    git_error_clear();
}

} // namespace

OdbPtr open_object_db(const std::string &objects_dir) {
    git_odb *raw = nullptr;
    git_check(git_odb_new(&raw), "opening the object database");
    OdbPtr odb(raw);
    Builder(odb.get()).add_with_alternates(objects_dir, false);
    return odb;
}

void add_object_dir(git_odb *odb, const std::string &objects_dir) {
    Builder(odb).add_with_alternates(objects_dir, true);
}

void free_odb_stream(git_odb_stream *stream) {
    if (!stream)
        return;
    if (stream->hash_ctx)
        git_odb_stream_free(stream);
    else
        stream->free(stream);
}

void use_own_object_db(git_repository *repo) {
    git_buf buf = GIT_BUF_INIT;
    git_check(git_repository_item_path(&buf, repo, GIT_REPOSITORY_ITEM_OBJECTS),
              "opening the object database");
    std::string objects(buf.ptr, buf.size);
    git_buf_dispose(&buf);
    while (objects.size() > 1 && objects.back() == '/')
        objects.pop_back();
    OdbPtr odb = open_object_db(objects);
    use_commit_graph(repo, odb.get(), objects);
    git_check(git_repository_set_odb(repo, odb.get()), "opening the object database");
}

bool object_exists(git_repository *repo, const pack::PackSet &packs, OdbPtr *odb,
                   const git_oid &oid) {
    uint64_t offset;
    if (packs.find(oid, &offset) >= 0)
        return true;
    if (!*odb) {
        git_odb *raw = nullptr;
        git_check(git_repository_odb(&raw, repo), "opening the object database");
        odb->reset(raw);
    }
    return git_odb_exists(odb->get(), &oid);
}

} // namespace gsh

#include "odb/frozen_odb.h"

#include <git2/sys/odb_backend.h>

#include <cstring>
#include <new>

namespace gsh {

namespace {

struct FrozenBackend {
    git_odb_backend parent; // first: libgit2 hands back this address
    git_odb *inner;
};

git_odb *inner_of(git_odb_backend *b) {
    return reinterpret_cast<FrozenBackend *>(b)->inner;
}

bool has(git_odb_backend *b, const git_oid *id) {
    return git_odb_exists_ext(inner_of(b), id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

int read_object(void **data, size_t *len, git_object_t *type, git_odb_backend *b,
                const git_oid *id) {
    if (!has(b, id))
        return GIT_ENOTFOUND;
    git_odb_object *raw = nullptr;
    if (const int rc = git_odb_read(&raw, inner_of(b), id); rc < 0)
        return rc;
    OdbObjectPtr obj(raw);
    *len = git_odb_object_size(obj.get());
    *type = git_odb_object_type(obj.get());
    void *copy = git_odb_backend_data_alloc(b, *len ? *len : 1);
    if (!copy)
        return -1;
    std::memcpy(copy, git_odb_object_data(obj.get()), *len);
    *data = copy;
    return 0;
}

int read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id) {
    if (!has(b, id))
        return GIT_ENOTFOUND;
    return git_odb_read_header(len, type, inner_of(b), id);
}

int exists(git_odb_backend *b, const git_oid *id) {
    return has(b, id) ? 1 : 0;
}

void free_backend(git_odb_backend *b) {
    FrozenBackend *f = reinterpret_cast<FrozenBackend *>(b);
    git_odb_free(f->inner);
    delete f;
}

} // namespace

OdbPtr frozen_odb(OdbPtr inner) {
    git_odb *raw = nullptr;
    git_check(git_odb_new(&raw), "opening the object database");
    OdbPtr odb(raw);
    FrozenBackend *f = new FrozenBackend{};
    git_check(git_odb_init_backend(&f->parent, GIT_ODB_BACKEND_VERSION),
              "opening the object database");
    f->inner = inner.release();
    f->parent.read = read_object;
    f->parent.read_header = read_header;
    f->parent.exists = exists;
    f->parent.free = free_backend;
    if (git_odb_add_backend(odb.get(), &f->parent, 1) < 0) {
        free_backend(&f->parent);
        git_check(-1, "opening the object database");
    }
    return odb;
}

} // namespace gsh

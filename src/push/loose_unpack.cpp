#include "push/loose_unpack.h"

#include <git2/sys/odb_backend.h>

#include <string>
#include <vector>

#include "util/error.h"
#include "util/git_ptr.h"

namespace gsh {

namespace {

std::string hex(const git_oid &id) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &id);
    return buf;
}

std::string libgit2_error(const std::string &what) {
    const git_error *e = git_error_last();
    return what + ": " + (e && e->message ? e->message : "libgit2 error");
}

// The pack alone, as an object database.
OdbPtr open_pack(const std::string &idx_path) {
    git_odb *raw = nullptr;
    git_check(git_odb_new(&raw), "opening the quarantined pack");
    OdbPtr odb(raw);
    git_odb_backend *backend = nullptr;
    if (git_odb_backend_one_pack(&backend, idx_path.c_str()) < 0)
        throw Error(libgit2_error("opening " + idx_path));
    if (git_odb_add_backend(odb.get(), backend, 1) < 0) {
        backend->free(backend);
        throw Error(libgit2_error("opening " + idx_path));
    }
    return odb;
}

} // namespace

size_t unpack_to_loose(const std::string &idx_path, git_odb *repo_odb,
                       const std::string &objects_dir, const LooseWriteOptions &options) {
    OdbPtr pack = open_pack(idx_path);
    std::vector<git_oid> ids;
    const int listed = git_odb_foreach(
        pack.get(),
        [](const git_oid *id, void *payload) {
            static_cast<std::vector<git_oid> *>(payload)->push_back(*id);
            return 0;
        },
        &ids);
    if (listed < 0)
        throw Error(libgit2_error("listing " + idx_path));
    size_t written = 0;
    for (const git_oid &id : ids) {
        if (git_odb_exists(repo_odb, &id))
            continue;
        git_odb_object *raw = nullptr;
        if (git_odb_read(&raw, pack.get(), &id) < 0)
            throw Error(libgit2_error("unpack-objects: reading " + hex(id)));
        OdbObjectPtr obj(raw);
        try {
            write_loose_object(objects_dir, git_odb_object_type(obj.get()),
                               git_odb_object_data(obj.get()), git_odb_object_size(obj.get()),
                               options, &id);
        } catch (const Error &e) {
            throw Error(std::string("unpack-objects: ") + e.what());
        }
        written++;
    }
    return written;
}

} // namespace gsh

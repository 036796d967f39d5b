#include "push/loose_unpack.h"

#include <git2/sys/odb_backend.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "odb/pack_format.h"
#include "odb/pack_index.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/zlib.h"

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

using pack::EntryHeader;
using pack::PackIndex;

constexpr size_t kChunk = 64 * 1024;

// A whole (not delta) entry copied into a loose object a buffer at a time:
// a pushed 200 MB file must not be 200 MB of the worker's memory.
void stream_entry(const PackIndex &pack, uint64_t offset, const EntryHeader &h, const git_oid &id,
                  const std::string &objects_dir, const LooseWriteOptions &options) {
    const uint64_t end = pack.entry_end(offset);
    uint64_t at = offset + h.length;
    LooseObjectStream out(objects_dir, git_object_t(h.type), size_t(h.size), options);
    zlib::Inflater zs;
    std::unique_ptr<unsigned char[]> in(new unsigned char[kChunk]), data(new unsigned char[kChunk]);
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
        if (zs->avail_in == 0) {
            if (at >= end)
                break;
            const size_t n = size_t(std::min<uint64_t>(kChunk, end - at));
            pack::pread_exact(pack.pack_fd(), in.get(), n, at, pack.pack_path());
            at += n;
            zs->next_in = in.get();
            zs->avail_in = uInt(n);
        }
        zs->next_out = data.get();
        zs->avail_out = uInt(kChunk);
        ret = inflate(&zs.z(), Z_NO_FLUSH);
        if (ret != Z_OK && ret != Z_STREAM_END)
            break;
        out.write(data.get(), kChunk - zs->avail_out);
    }
    if (ret != Z_STREAM_END)
        throw Error("unpack-objects: inflate failed for " + hex(id) + " at offset " +
                    std::to_string(offset));
    out.finish(&id);
}

} // namespace

size_t unpack_to_loose(const std::string &idx_path, git_odb *repo_odb,
                       const std::string &objects_dir, const LooseWriteOptions &options) {
    const PackIndex pack(idx_path);
    OdbPtr whole; // libgit2's reading of the pack, for deltas only
    size_t written = 0;
    for (uint32_t pos = 0; pos < pack.count(); pos++) {
        git_oid id;
        git_oid_fromraw(&id, pack.oid_at(pos));
        if (git_odb_exists(repo_odb, &id))
            continue;
        const uint64_t offset = pack.offset_at(pos);
        uint8_t buf[pack::kMaxEntryHeader];
        const size_t len = size_t(std::min<uint64_t>(pack.entry_end(offset) - offset, sizeof buf));
        pack::pread_exact(pack.pack_fd(), buf, len, offset, pack.pack_path());
        EntryHeader h;
        if (!pack::parse_entry_header(buf, len, offset, &h))
            throw Error("unpack-objects: bad entry header at offset " + std::to_string(offset));
        try {
            if (!pack::is_delta(h.type)) {
                stream_entry(pack, offset, h, id, objects_dir, options);
            } else {
                if (!whole)
                    whole = open_pack(idx_path);
                git_odb_object *raw = nullptr;
                if (git_odb_read(&raw, whole.get(), &id) < 0)
                    throw Error(libgit2_error("reading " + hex(id)));
                OdbObjectPtr obj(raw);
                write_loose_object(objects_dir, git_odb_object_type(obj.get()),
                                   git_odb_object_data(obj.get()), git_odb_object_size(obj.get()),
                                   options, &id);
            }
        } catch (const Error &e) {
            const std::string what = e.what();
            throw Error(what.starts_with("unpack-objects: ") ? what : "unpack-objects: " + what);
        }
        written++;
    }
    return written;
}

} // namespace gsh

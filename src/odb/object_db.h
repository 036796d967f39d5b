// The object databases the core reads through.
#pragma once

#include <git2.h>

#include <string>

#include "util/git_ptr.h"

namespace gsh {

// An object database over objects_dir as git reads it: its packs first,
// then its loose objects, then its alternates (objects/info/alternates,
// nested as git allows). Loose objects are read by our own backend, never
// libgit2's, whose inflate spins forever on a file cut off mid-stream (a
// crashed writer, a full disk, a bad copy); ours answers "loose object <id>
// is corrupt" instead.
OdbPtr open_object_db(const std::string &objects_dir);

// Adds objects_dir (packs, loose objects, alternates) to odb as an alternate.
void add_object_dir(git_odb *odb, const std::string &objects_dir);

// Frees a stream from git_odb_open_rstream. libgit2 1.5's
// git_odb_stream_free cleans up a hash context unconditionally, which only
// its own backends can make; a stream from ours has none.
void free_odb_stream(git_odb_stream *stream);
using OdbStreamPtr = GitPtr<git_odb_stream, free_odb_stream>;

namespace pack {
class PackSet;
}

// Whether repo holds oid: packs (repo's) are looked in first, an index
// look-up; what they lack (a loose object, a pack written since) through
// repo's object database, opened into *odb on first need.
bool object_exists(git_repository *repo, const pack::PackSet &packs, OdbPtr *odb,
                   const git_oid &oid);

// Gives repo that object database for its objects directory, before any
// read of libgit2's own.
void use_own_object_db(git_repository *repo);

} // namespace gsh

// receive.unpackLimit: a small push kept as loose objects, as git's
// receive-pack has unpack-objects write it instead of index-pack keeping it.
#pragma once

#include <git2.h>

#include <cstddef>
#include <string>

#include "odb/loose_writer.h"

namespace gsh {

// Writes each object of the indexed pack idx_path as a loose object under
// objects_dir, except those repo_odb already has (the bases a thin pack was
// completed with among them), which git's unpack-objects does not write
// either. Each object is read back from the pack and hashed again: one that
// does not resolve to its id throws gsh::Error (500), never skipped.
// Returns how many were written.
size_t unpack_to_loose(const std::string &idx_path, git_odb *repo_odb,
                       const std::string &objects_dir, const LooseWriteOptions &options);

} // namespace gsh

// The files of the dumb HTTP protocol that git http-backend makes up from
// the repository instead of reading them from disk: info/refs (the same text
// as `git update-server-info` writes), HEAD and objects/info/packs.
#pragma once

#include <string>
#include <vector>

#include "repo/refs.h"

namespace gsh {

// "<oid>\t<name>\n" for every ref under refs/ in refs (HEAD left out), in
// name order, an annotated tag followed by "<peeled>\t<name>^{}\n".
std::string dumb_info_refs(const std::vector<Ref> &refs);

// "ref: <target>\n" when HEAD is a symbolic ref that resolves, "<oid>\n" when
// it is detached, "" when its branch is unborn (or refs has no HEAD).
std::string dumb_head(const std::vector<Ref> &refs);

// "P <name>.pack\n" for every <name>.idx of objects_dir/pack whose .pack is
// a regular file, the most recently modified pack first (as git orders its
// packs; the name breaks ties), then an empty line.
std::string dumb_info_packs(const std::string &objects_dir);

} // namespace gsh

// An object database that never rescans the repository's pack directory.
#pragma once

#include <git2.h>

#include "util/git_ptr.h"

namespace gsh {

// Answers lookups from inner (which it takes) without the rescan of
// objects/pack that libgit2 makes after every miss. The indexer's checks of
// a push look up each object it receives in the repository first, and a
// push of objects the repository lacks is nearly all misses: 145k directory
// scans for one push of the nginx corpus, most of its CPU. Packs added by
// others meanwhile go unseen, which a push needs no more than the refs it
// was advertised.
OdbPtr frozen_odb(OdbPtr inner);

} // namespace gsh

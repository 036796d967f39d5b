#include "repo/refs.h"

#include <algorithm>
#include <optional>
#include <string>

#include "repo/packed_refs.h"
#include "util/error.h"
#include "util/git_ptr.h"

namespace gsh {

namespace {

// Fills oid, symref_target and unborn; false when the ref is broken.
bool resolve(git_repository *repo, git_reference *ref, Ref &out) {
    out.name = git_reference_name(ref);
    if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
        git_oid_cpy(&out.oid, git_reference_target(ref));
        return true;
    }
    git_reference *resolved_raw = nullptr;
    if (git_reference_resolve(&resolved_raw, ref) == 0) {
        RefPtr resolved(resolved_raw);
        out.symref_target = git_reference_name(resolved.get());
        git_oid_cpy(&out.oid, git_reference_target(resolved.get()));
        return true;
    }
    // Follow the chain by hand to find the missing final target.
    std::string target = git_reference_symbolic_target(ref);
    for (int depth = 0; depth < 5; depth++) {
        git_reference *next_raw = nullptr;
        if (git_reference_lookup(&next_raw, repo, target.c_str()) != 0) {
            out.unborn = true;
            out.symref_target = target;
            return true;
        }
        RefPtr next(next_raw);
        if (git_reference_type(next.get()) != GIT_REFERENCE_SYMBOLIC)
            return false;
        target = git_reference_symbolic_target(next.get());
    }
    return false;
}

void peel(git_odb *odb, const PackedRefs *packed, Ref &ref) {
    // packed-refs says what a ref it holds peels to (git writes it so); the
    // value follows from the tag alone, so it holds for the same id whether
    // or not the file changed since libgit2 read the ref.
    if (const PackedRef *p = packed ? packed->find(ref.name) : nullptr;
        p && p->peel_known && git_oid_equal(&p->id, &ref.oid)) {
        if (!git_oid_is_zero(&p->peeled))
            ref.peeled = p->peeled;
        return;
    }
    git_oid peeled;
    if (peel_tag(odb, ref.oid, peeled))
        ref.peeled = peeled;
}

template <typename Fn> void for_each_ref(git_repository *repo, Fn &&fn) {
    git_reference *head_raw = nullptr;
    if (git_reference_lookup(&head_raw, repo, "HEAD") == 0) {
        RefPtr head(head_raw);
        Ref r;
        if (resolve(repo, head.get(), r))
            fn(std::move(r));
    }
    git_reference_iterator *it_raw = nullptr;
    git_check(git_reference_iterator_new(&it_raw, repo), "listing refs");
    RefIterPtr it(it_raw);
    std::vector<Ref> refs;
    git_reference *ref_raw = nullptr;
    int rc;
    while ((rc = git_reference_next(&ref_raw, it.get())) == 0) {
        RefPtr ref(ref_raw);
        Ref r;
        if (std::string_view(git_reference_name(ref.get())).starts_with("refs/") &&
            resolve(repo, ref.get(), r) && !r.unborn)
            refs.push_back(std::move(r));
    }
    if (rc != GIT_ITEROVER)
        git_check(rc, "listing refs");
    std::sort(refs.begin(), refs.end(), [](const Ref &a, const Ref &b) { return a.name < b.name; });
    for (Ref &r : refs)
        fn(std::move(r));
}

} // namespace

RefListing list_refs_and_tips(git_repository *repo, const HiddenRefs &hidden) {
    git_odb *odb_raw = nullptr;
    git_check(git_repository_odb(&odb_raw, repo), "opening the object database");
    OdbPtr odb(odb_raw);
    std::string error;
    const std::string packed_path = std::string(git_repository_commondir(repo)) + "packed-refs";
    const std::optional<PackedRefs> packed = PackedRefs::read(packed_path, packed_path, error);
    RefListing out;
    for_each_ref(repo, [&](Ref &&r) {
        const bool hide = r.name != "HEAD" && hidden.hidden(r.name);
        if (!r.unborn)
            out.tips.push_back({r.oid, hide});
        if (hide)
            return;
        if (!r.unborn)
            peel(odb.get(), packed ? &*packed : nullptr, r);
        out.refs.push_back(std::move(r));
    });
    return out;
}

std::vector<Ref> list_refs(git_repository *repo, const HiddenRefs &hidden) {
    return list_refs_and_tips(repo, hidden).refs;
}

} // namespace gsh

#include "odb/bitmap_order.h"

#include <cstring>
#include <string>
#include <unordered_map>

#include "util/error.h"

namespace gsh::pack {

PackOrder::PackOrder(const PackSet &packs, size_t p) : pack_(packs[p]) {
    count_ = pack_.count();
    covered_.assign(packs.size(), false);
    covered_[p] = true;
    single_pack_ = p;
}

OrderedEntry PackOrder::entry_at_rank(size_t r) const {
    return {uint32_t(single_pack_), pack_.pos_at_rank(r), pack_.offset_at_rank(r),
            pack_.end_at_rank(r)};
}

MidxOrder::MidxOrder(const PackSet &packs, std::unique_ptr<MultiPackIndex> midx)
    : packs_(packs), midx_(std::move(midx)) {
    if (!midx_->has_order())
        throw Error("the multi-pack-index has no reverse index");
    std::unordered_map<std::string, uint32_t> by_name;
    for (size_t p = 0; p < packs.size(); p++) {
        const std::string &path = packs[p].pack_path();
        const size_t slash = path.rfind('/');
        by_name.emplace(path.substr(slash + 1, path.size() - slash - 6) + ".idx", uint32_t(p));
    }
    covered_.assign(packs.size(), false);
    for (const std::string &name : midx_->pack_names()) {
        auto it = by_name.find(name);
        if (it == by_name.end())
            throw Error("the multi-pack-index names a pack that is gone: " + name);
        pack_of_id_.push_back(it->second);
        covered_[it->second] = true;
    }
    count_ = midx_->count();
}

OrderedEntry MidxOrder::entry_at_rank(size_t r) const {
    const uint32_t pos = midx_->pos_at_rank(r);
    OrderedEntry e;
    e.pack = pack_of_id_[midx_->pack_of(pos)];
    e.offset = midx_->offset_of(pos);
    const PackIndex &pack = packs_[e.pack];
    if (!pack.entry_at(e.offset, &e.pos, &e.end) ||
        std::memcmp(pack.oid_at(e.pos), midx_->oid_at(pos), GIT_OID_RAWSZ) != 0)
        throw Error("the multi-pack-index disagrees with " + pack.pack_path());
    return e;
}

} // namespace gsh::pack

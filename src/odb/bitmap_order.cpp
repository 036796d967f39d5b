#include "odb/bitmap_order.h"

#include <algorithm>
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
    blocks_.push_back({uint32_t(p), 0, count_, true});
}

OrderedEntry PackOrder::entry_at_rank(size_t r) const {
    return {uint32_t(single_pack_), pack_.pos_at_rank(r), pack_.offset_at_rank(r),
            pack_.end_at_rank(r)};
}

MidxOrder::MidxOrder(const PackSet &packs, std::unique_ptr<MultiPackIndex> midx)
    : packs_(packs), midx_(std::move(midx)) {
    from_midx_ = true;
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
    find_blocks();
}

// The pseudo-pack order holds each pack's objects together, by offset
// (else the multi-pack-index is refused). A pack whose objects are all there (none went to another
// pack as a duplicate) is read as directly as a single pack, once its offsets are seen to be the
// pack's own in order.
void MidxOrder::find_blocks() {
    for (uint32_t r = 0; r < count_;) {
        const uint32_t id = midx_->pack_of(midx_->pos_at_rank(r));
        Block b{pack_of_id_[id], r, 0, false};
        while (r < count_ && midx_->pack_of(midx_->pos_at_rank(r)) == id)
            r++;
        b.count = r - b.first;
        for (const Block &seen : blocks_)
            if (seen.pack == b.pack)
                throw Error("the multi-pack-index's order splits a pack");
        // The planner reads each pack's entries in increasing offsets.
        for (uint32_t k = b.first + 1; k < r; k++)
            if (midx_->offset_of(midx_->pos_at_rank(k)) <=
                midx_->offset_of(midx_->pos_at_rank(k - 1)))
                throw Error("the multi-pack-index's order is not by offset");
        const PackIndex &pack = packs_[b.pack];
        b.direct = b.count == pack.count();
        for (uint32_t k = 0; b.direct && k < b.count; k++)
            b.direct = midx_->offset_of(midx_->pos_at_rank(b.first + k)) == pack.offset_at_rank(k);
        blocks_.push_back(b);
    }
    std::sort(blocks_.begin(), blocks_.end(),
              [](const Block &a, const Block &b) { return a.pack < b.pack; });
    // Then its ranks are that pack's own: a clone of everything may be the
    // pack file as it is.
    if (blocks_.size() == 1 && blocks_[0].direct)
        single_pack_ = blocks_[0].pack;
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

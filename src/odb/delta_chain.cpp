#include "odb/delta_chain.h"

#include <algorithm>
#include <cstring>

namespace gsh::pack {

DeltaChain::DeltaChain(const PackSet &packs) : packs_(packs) {}

bool DeltaChain::follow(uint32_t pack, uint64_t offset, const Usable &usable, git_oid *base) {
    links_.clear();
    for (;;) {
        Link link{pack, offset, {}};
        if (links_.size() >= kMaxComposeDepth ||
            !packs_[pack].read_entry_header(offset, &link.header) || !is_delta(link.header.type))
            return false;
        links_.push_back(link);
        const PackIndex &p = packs_[pack];
        git_oid oid;
        if (link.header.type == kOfsDelta) {
            const int64_t pos = p.pos_at_offset(link.header.base_offset);
            if (pos < 0)
                return false;
            std::memcpy(oid.id, p.oid_at(uint32_t(pos)), GIT_OID_RAWSZ);
            offset = link.header.base_offset;
        } else {
            oid = link.header.base_oid;
        }
        if (usable(oid)) {
            *base = oid;
            return true;
        }
        if (link.header.type == kRefDelta && !p.lookup(oid, &offset)) {
            // Preferably in the same pack, as git resolves it.
            const int other = packs_.find(oid, &offset);
            if (other < 0)
                return false; // a loose object: not followed
            pack = uint32_t(other);
        }
    }
}

bool DeltaChain::inflate_link(const Link &link, std::vector<uint8_t> *out) {
    const PackIndex &p = packs_[link.pack];
    const uint64_t from = link.offset + link.header.length;
    const uint64_t end = p.entry_end(link.offset);
    if (end <= from || end - from > SIZE_MAX / 2 || link.header.size > SIZE_MAX / 2)
        return false;
    compressed_.resize(size_t(end - from));
    pread_exact(p.pack_fd(), compressed_.data(), compressed_.size(), from, p.pack_path());
    if (zs_)
        zs_->reset();
    else
        zs_.emplace();
    z_stream &zs = zs_->z();
    // One spare byte so that data longer than announced is noticed.
    out->resize(size_t(link.header.size) + 1);
    zs.next_in = compressed_.data();
    zs.next_out = out->data();
    size_t in_left = compressed_.size(), out_left = out->size();
    int rc = Z_OK;
    while (rc == Z_OK) {
        const uInt ai = zlib::chunk(in_left);
        const uInt ao = zlib::chunk(out_left);
        zs.avail_in = ai;
        zs.avail_out = ao;
        rc = ::inflate(&zs, Z_NO_FLUSH);
        in_left -= ai - zs.avail_in;
        out_left -= ao - zs.avail_out;
        if (rc == Z_OK && ai == zs.avail_in && ao == zs.avail_out)
            break; // no progress: truncated
    }
    if (rc != Z_STREAM_END || out_left != 1)
        return false;
    out->resize(size_t(link.header.size));
    return true;
}

bool DeltaChain::compose(std::vector<uint8_t> *out) {
    if (links_.empty() || !inflate_link(links_[0], out))
        return false;
    // From the entry down: delta(B1→D), then delta(B2→B1) under it gives
    // delta(B2→D), and so on to the base follow() found.
    for (size_t i = 1; i < links_.size(); i++) {
        if (!inflate_link(links_[i], &lower_) ||
            !composer_.compose(lower_.data(), lower_.size(), out->data(), out->size(), &next_))
            return false;
        out->swap(next_);
    }
    return true;
}

void DeltaChain::trim(size_t keep) {
    for (std::vector<uint8_t> *b : {&compressed_, &lower_, &next_})
        if (b->capacity() > keep)
            std::vector<uint8_t>().swap(*b);
}

} // namespace gsh::pack

#include "push/index_pack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "odb/pack_format.h"
#include "odb/pack_idx_write.h"
#include "odb/pack_index.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"
#include "util/zlib.h"

namespace gsh::pack {

namespace {

void pwrite_all(int fd, const void *data, size_t len, uint64_t offset, const std::string &path) {
    const auto *p = static_cast<const uint8_t *>(data);
    while (len > 0) {
        const ssize_t n = pwrite(fd, p, len, off_t(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw Error("writing " + path + ": " + strerror(errno));
        p += n;
        len -= size_t(n);
        offset += uint64_t(n);
    }
}

uint64_t now_ms() {
    return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

// git's index-pack deflates the bases it appends at core.compression's
// default, zlib's fastest level: the same bytes, so the same CRCs.
std::string deflate_fast(const uint8_t *data, size_t len) {
    zlib::Deflater d(Z_BEST_SPEED);
    std::string out(deflateBound(&d.z(), uLong(len)), '\0');
    d->next_in = const_cast<Bytef *>(data);
    d->avail_in = uInt(len);
    d->next_out = reinterpret_cast<Bytef *>(out.data());
    d->avail_out = uInt(out.size());
    if (deflate(&d.z(), Z_FINISH) != Z_STREAM_END)
        throw Error("deflating a thin pack's base failed");
    out.resize(out.size() - d->avail_out);
    return out;
}

} // namespace

PackIndexer::PackIndexer(const std::string &pack_dir, git_odb *odb, const IndexPackOptions &options)
    : dir_(pack_dir), odb_(odb), options_(options), checker_(options.limits, this) {
    std::string tmpl = dir_ + "/tmp_pack_XXXXXX";
    fd_ = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd_ < 0)
        throw Error("creating a temporary pack in " + dir_ + ": " + strerror(errno));
    tmp_pack_ = tmpl;
}

PackIndexer::~PackIndexer() {
    if (fd_ >= 0)
        close(fd_);
    if (!done_) {
        unlink(tmp_pack_.c_str());
        for (const std::string &f : written_)
            unlink(f.c_str());
    }
}

bool PackIndexer::refuse(std::string why) {
    if (error_.empty())
        error_ = std::move(why);
    return false;
}

std::string PackIndexer::entry_start(const PackEntryInfo &e) {
    PackObjectEntry o;
    o.offset = e.offset;
    o.size = e.size;
    o.type = e.type;
    o.header_len = e.header_len;
    o.base_offset = e.base_offset;
    if (e.type == kRefDelta) {
        RefBase r;
        std::memcpy(r.base.id, e.base_oid, GIT_OID_RAWSZ);
        r.entry = uint32_t(entries_.size());
        refs_.push_back(r);
    }
    entries_.push_back(o);
    keep_ = e.type == kCommit || e.type == kTree || e.type == kTag;
    content_.clear();
    if (!is_delta(e.type))
        start_object_hash(sha_, e.type, e.size);
    return std::string();
}

std::string PackIndexer::entry_data(const uint8_t *data, size_t len) {
    if (is_delta(entries_.back().type))
        return std::string();
    sha_.update(data, len);
    if (keep_)
        content_.insert(content_.end(), data, data + len);
    return std::string();
}

std::string PackIndexer::entry_end(const PackEntryInfo &e) {
    PackObjectEntry &o = entries_.back();
    o.crc = e.crc;
    if (!is_delta(o.type)) {
        const Sha1::Digest d = sha_.final();
        std::memcpy(o.oid.id, d.data(), GIT_OID_RAWSZ);
        o.real_type = o.type;
        progress_.indexed_objects++;
        if (keep_)
            links_.add(o.oid, o.type, content_.data(), content_.size());
        if (content_.capacity() > (size_t(1) << 20))
            std::vector<uint8_t>().swap(content_);
    } else {
        deltas_++;
    }
    progress_.received_objects = uint32_t(entries_.size());
    progress_.received_bytes = checker_.bytes();
    report(false);
    return std::string();
}

void PackIndexer::report(bool force) {
    if (!options_.progress)
        return;
    const uint64_t ms = now_ms();
    const uint32_t count = progress_.received_objects + progress_.indexed_deltas;
    const uint32_t total = std::max(1u, progress_.total_objects + progress_.total_deltas);
    if (!force && ms - last_report_ms_ < 100 && uint64_t(count - last_report_count_) * 100 < total)
        return;
    last_report_ms_ = ms;
    last_report_count_ = count;
    options_.progress(progress_);
}

bool PackIndexer::feed(const void *data, size_t len) {
    if (!error_.empty())
        return false;
    pwrite_all(fd_, data, len, checker_.bytes(), tmp_pack_);
    if (!checker_.feed(data, len))
        return refuse(checker_.error());
    progress_.total_objects = checker_.count();
    progress_.received_bytes = checker_.bytes();
    return true;
}

std::string PackIndexer::unresolved_message() const {
    uint32_t n = 0;
    const PackObjectEntry *first = nullptr;
    for (const PackObjectEntry &e : entries_)
        if (is_delta(e.type) && e.real_type == 0 && n++ == 0)
            first = &e;
    if (n == 0)
        return std::string();
    std::string base;
    if (first->type == kOfsDelta) {
        base = "offset " + std::to_string(first->base_offset);
    } else {
        for (const RefBase &r : refs_)
            if (entries_[r.entry].offset == first->offset)
                base = oid_hex(r.base);
    }
    return "pack has " + std::to_string(n) + " unresolved delta" + (n == 1 ? "" : "s") +
           " (the first at offset " + std::to_string(first->offset) + ", base " + base + ")";
}

// Appends the object oid from odb to the pack as a whole object; false
// when odb does not have it.
bool PackIndexer::append_base(const git_oid &oid) {
    git_odb_object *raw = nullptr;
    if (git_odb_read(&raw, odb_, &oid) < 0)
        return false;
    OdbObjectPtr obj(raw);
    const auto type = uint8_t(git_odb_object_type(obj.get()));
    const auto *data = static_cast<const uint8_t *>(git_odb_object_data(obj.get()));
    const size_t size = git_odb_object_size(obj.get());
    uint8_t head[16];
    const size_t hl = encode_type_size(head, type, size);
    const std::string z = deflate_fast(data, size);
    PackObjectEntry e;
    e.offset = data_end_;
    e.size = size;
    e.type = type;
    e.real_type = type;
    e.header_len = uint8_t(hl);
    e.oid = oid;
    uLong crc = crc32(0, head, uInt(hl));
    e.crc = uint32_t(crc32(crc, reinterpret_cast<const Bytef *>(z.data()), zlib::chunk(z.size())));
    pwrite_all(fd_, head, hl, data_end_, tmp_pack_);
    pwrite_all(fd_, z.data(), z.size(), data_end_ + hl, tmp_pack_);
    data_end_ += hl + z.size();
    entries_.push_back(e);
    links_.add(oid, type, data, size);
    progress_.local_objects++;
    return true;
}

// git's --fix-thin: each REF delta still unresolved, in pack order, gets its
// base from the repository appended, and what hangs from it resolved.
std::string PackIndexer::complete_thin(DeltaResolver &resolver) {
    std::vector<RefBase> pending = refs_;
    std::sort(pending.begin(), pending.end(),
              [](const RefBase &a, const RefBase &b) { return a.entry < b.entry; });
    for (const RefBase &r : pending) {
        if (entries_[r.entry].real_type != 0 || !append_base(r.base))
            continue;
        resolver.set_data_end(data_end_);
        if (std::string err = resolver.resolve_from(uint32_t(entries_.size() - 1)); !err.empty())
            return err;
    }
    return std::string();
}

// The header's count and the trailer made again after bases were appended.
void PackIndexer::rewrite_trailer() {
    const uint32_t n = uint32_t(entries_.size());
    const uint8_t count[4] = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
    pwrite_all(fd_, count, 4, 8, tmp_pack_);
    Sha1 sha;
    std::vector<uint8_t> buf(1 << 16);
    for (uint64_t pos = 0; pos < data_end_;) {
        const size_t want = size_t(std::min<uint64_t>(buf.size(), data_end_ - pos));
        pread_exact(fd_, buf.data(), want, pos, tmp_pack_);
        sha.update(buf.data(), want);
        pos += want;
    }
    const Sha1::Digest d = sha.final();
    std::memcpy(trailer_, d.data(), 20);
    pwrite_all(fd_, trailer_, 20, data_end_, tmp_pack_);
    if (ftruncate(fd_, off_t(data_end_ + 20)) != 0)
        throw Error("truncating " + tmp_pack_ + ": " + strerror(errno));
}

void PackIndexer::write_files() {
    std::vector<IdxEntry> idx;
    idx.reserve(entries_.size());
    for (const PackObjectEntry &e : entries_)
        idx.push_back({e.oid, e.offset, e.crc});
    std::stable_sort(idx.begin(), idx.end(), [](const IdxEntry &a, const IdxEntry &b) {
        return git_oid_cmp(&a.oid, &b.oid) < 0;
    });
    Sha1::Digest sum;
    std::memcpy(sum.data(), trailer_, sum.size());
    name_ = "pack-" + Sha1::hex(sum);
    const std::string base = dir_ + "/" + name_;
    const std::string tmp_idx = dir_ + "/tmp_idx_" + name_, tmp_rev = dir_ + "/tmp_rev_" + name_;
    written_ = {tmp_idx, tmp_rev};
    write_pack_idx(tmp_idx, idx, trailer_);
    write_pack_rev(tmp_rev, idx, trailer_);
    if (fchmod(fd_, 0444) != 0) // migrate() syncs before it moves the files
        throw Error("writing " + tmp_pack_ + ": " + strerror(errno));
    written_ = {base + ".pack", base + ".rev", base + ".idx", tmp_idx, tmp_rev};
    if (rename(tmp_pack_.c_str(), (base + ".pack").c_str()) != 0 ||
        rename(tmp_rev.c_str(), (base + ".rev").c_str()) != 0 ||
        rename(tmp_idx.c_str(), (base + ".idx").c_str()) != 0)
        throw Error("renaming the indexed pack into " + base + ": " + strerror(errno));
    sorted_.reserve(idx.size());
    for (const PackObjectEntry &e : entries_)
        sorted_.push_back({e.oid, e.real_type});
    std::sort(sorted_.begin(), sorted_.end(), [](const PackedObject &a, const PackedObject &b) {
        return git_oid_cmp(&a.id, &b.id) < 0;
    });
}

bool PackIndexer::finish() {
    if (!error_.empty())
        return false;
    if (!checker_.finish())
        return refuse(checker_.error());
    std::memcpy(trailer_, checker_.trailer().data(), 20);
    data_end_ = checker_.bytes() - 20;
    progress_.total_objects = uint32_t(entries_.size());
    // Known from here on, as libgit2's indexer and git's "Resolving deltas"
    // give it: consumers take the first non-zero total as the total.
    progress_.total_deltas = deltas_;
    report(true);
    DeltaResolveOptions ro;
    ro.threads = options_.threads ? options_.threads : std::thread::hardware_concurrency();
    ro.cache_limit = options_.delta_base_cache_limit;
    ro.on_resolved = [this](uint32_t done) {
        progress_.indexed_deltas = done;
        progress_.indexed_objects = progress_.total_objects - progress_.total_deltas + done;
        report(done == progress_.total_deltas);
    };
    DeltaResolver resolver(fd_, entries_, refs_, ro);
    resolver.set_data_end(data_end_);
    std::string err = resolver.resolve_all();
    if (err.empty())
        err = complete_thin(resolver);
    if (err.empty())
        err = unresolved_message();
    if (!err.empty())
        return refuse(std::move(err));
    links_.append(resolver.take_links());
    if (entries_.size() != checker_.count())
        rewrite_trailer();
    write_files();
    done_ = true;
    return true;
}

} // namespace gsh::pack

// PackWriter: the bytes of a planned pack, in order.
//
// Runs of verbatim entries that are contiguous on disk become one copy,
// read with large preads straight into the caller's buffer where it is
// large enough. Everything else is a staged header followed by a deflate
// stream: of the object resolved whole (a large loose object read as a
// stream), of a delta composed down its chain, or of a delta made against
// the base its plan names. One such delta is held at a time.
#include "pack/pack_writer.h"

#include <git2.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "odb/object_db.h"
#include "odb/object_reader.h"
#include "odb/pack_format.h"
#include "pack/delta_encode.h"
#include "pack/delta_memo.h"
#include "pack/entry_positions.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"
#include "util/sha1.h"
#include "util/zlib.h"

namespace gsh::pack {

namespace {

constexpr uint16_t kLoose = PlanEntry::kLoose;
constexpr uint32_t kNone = PlanEntry::kNone;
constexpr size_t kCopyBuffer = 128 * 1024;
constexpr size_t kStreamThreshold = 16u << 20; // loose objects this large are streamed
constexpr size_t kStreamBuffer = 64 * 1024;
// Composing buffers larger than this are freed after their entry.
constexpr size_t kKeepScratch = 16u << 20;
// Deltas are made (kMaxEncode, kMinEncode) for no more than this many bytes
// of objects and bases read in one pack: bounded work for what is an
// optimisation of the bytes sent.
constexpr uint64_t kEncodeBudget = 256u << 20;
// Resolved delta bases kept while making deltas.
constexpr size_t kEncodeCache = 8u << 20;

void put_be32(uint8_t *p, uint32_t v) {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

int compression_level(git_repository *repo) {
    git_config *cfg = nullptr;
    if (git_repository_config_snapshot(&cfg, repo) < 0)
        return Z_DEFAULT_COMPRESSION;
    ConfigPtr owned(cfg);
    int32_t level;
    for (const char *key : {"pack.compression", "core.compression"})
        if (git_config_get_int32(&level, cfg, key) == 0 && level >= -1 && level <= 9)
            return level;
    git_error_clear();
    return Z_DEFAULT_COMPRESSION;
}

} // namespace

struct PackWriter::Impl {
    explicit Impl(PackPlan plan);

    size_t read(uint8_t *buf, size_t cap);
    bool take_file(size_t min, size_t max, FileRange *out);
    void hash_file(const PackIndex &pack, uint64_t from, size_t len);
    size_t emit_staged(uint8_t *out, size_t room);
    size_t emit_copy(uint8_t *out, size_t room);
    size_t emit_deflate(uint8_t *out, size_t room);
    void end_deflate();
    void stage_trailer();
    void start_next();
    void stage_copy(const PlanEntry &e);
    void count_reused(const PlanEntry &e);
    void hash(const uint8_t *p, size_t n) {
        if (!whole_file_)
            sha_.update(p, n);
    }
    void start_whole(PlanEntry &e);
    bool start_composed(PlanEntry &e);
    bool start_encoded(PlanEntry &e);
    void start_delta(const PlanEntry &e, bool thin, const git_oid &base);
    void start_deflate(const uint8_t *data, size_t size);
    void feed_whole();
    void place(size_t i);
    bool verbatim(const PlanEntry &e, uint64_t at) const;
    DeltaChain &chain() {
        if (!chain_)
            chain_ = std::make_unique<DeltaChain>(packs_);
        return *chain_;
    }

    PackPlan plan_;
    const PackSet &packs_;
    const std::vector<PlanEntry> &entries_;
    EntryPositions pos_;
    uint64_t cur_pos_ = 0; // of the entry started last
    const bool ofs_delta_;
    PackStats stats_;
    Sha1 sha_;
    // The pack produced is a pack file on disk byte for byte: its checksum
    // is known.
    const bool whole_file_;

    // Planned and not yet produced, in this order: staged bytes, a copy
    // from a pack, a deflate stream.
    uint8_t staged_[kMaxEntryHeader + 32];
    size_t staged_len_ = 0, staged_pos_ = 0;
    size_t copy_pack_ = 0;
    uint64_t copy_from_ = 0, copy_to_ = 0;
    std::unique_ptr<uint8_t[]> copy_buf_;
    size_t copy_buf_pos_ = 0, copy_buf_len_ = 0;
    OdbObjectPtr whole_; // the object being deflated, or
    OdbStreamPtr whole_stream_;
    const uint8_t *whole_data_ = nullptr; // whole_'s, whole_copy_'s or composed_'s
    std::unique_ptr<DeltaChain> chain_;   // made on first need
    std::vector<uint8_t> composed_;       // or encoded
    std::unique_ptr<DeltaEncoder> encoder_;
    // Read with a cache of what delta chains resolve to (the versions of a
    // file are one chain on disk, and its bases are met again and again)
    // and of loose objects; made on first need.
    std::unique_ptr<ObjectReader> reader_;
    ObjectReader &reader() {
        if (!reader_)
            reader_ = std::make_unique<ObjectReader>(plan_.repo(), packs_, kEncodeCache);
        return *reader_;
    }
    // A fetch reads what it encodes through the PackSet's ObjectCache: the
    // fetches of the same recent history after it encode the same objects.
    // A clone's are too many to be kept, and would push those out.
    bool share_encoded_ = false;
    ObjectReader::Object read_to_encode(const git_oid &oid) {
        return share_encoded_ ? reader().read_shared(oid) : reader().read(oid);
    }
    std::vector<uint8_t> base_copy_;
    std::vector<uint8_t> whole_copy_; // a loose object being deflated
    uint64_t encode_budget_ = kEncodeBudget;
    size_t whole_size_ = 0, whole_fed_ = 0;
    std::unique_ptr<uint8_t[]> stream_buf_;
    std::unique_ptr<zlib::Deflater> zs_; // made on first need
    bool deflating_ = false;
    // Deltas made here, kept deflated with the packs (delta_memo.h): the
    // one being sent from there, or the one being deflated to be kept.
    DeltaMemo &deltas_;
    std::shared_ptr<const DeltaMemo::Delta> kept_;
    size_t kept_pos_ = 0;
    std::optional<DeltaMemo::Key> keeping_;
    std::string keeping_bytes_; // deflated from composed_ so far
    bool emitting() const { return deflating_ || kept_; }
    size_t emit_kept(uint8_t *out, size_t room);
    void stage_delta_header(const PlanEntry &e, bool thin, const git_oid &base, uint64_t size);
    int level_ = Z_DEFAULT_COMPRESSION;

    size_t next_ = 0;       // next entry to write
    uint64_t plan_pos_ = 0; // output position after everything staged
    bool trailer_ = false;  // the trailer is staged
    // The min of the last take_file: read() stops before runs that long.
    size_t file_min_ = 0;
    // The run take_file took from last (its pack, where it ends).
    size_t taken_run_pack_ = SIZE_MAX;
    uint64_t taken_run_end_ = 0;
    // The copy under way is that run: take_file takes its tail too.
    bool run_taken() const { return taken_run_pack_ == copy_pack_ && taken_run_end_ == copy_to_; }
};

PackWriter::Impl::Impl(PackPlan plan)
    : plan_(std::move(plan)), packs_(plan_.packs()), entries_(plan_.entries()),
      pos_(entries_.size()), ofs_delta_(plan_.options().ofs_delta),
      whole_file_(plan_.whole_file() != SIZE_MAX), deltas_(packs_.memo<DeltaMemo>()) {
    level_ = compression_level(plan_.repo());
    share_encoded_ = plan_.client_has_any();
    if (plan_.count() > UINT32_MAX)
        throw Error("too many objects for one pack");
    std::memcpy(staged_, "PACK", 4);
    put_be32(staged_ + 4, 2);
    put_be32(staged_ + 8, uint32_t(plan_.count()));
    staged_len_ = 12;
    plan_pos_ = 12;
    if (plan_.whole_pack() != SIZE_MAX) {
        const PackIndex &pack = packs_[plan_.whole_pack()];
        copy_pack_ = plan_.whole_pack();
        copy_from_ = 12;
        copy_to_ = pack.pack_size() - 20;
        plan_pos_ = copy_to_;
        stats_.objects = stats_.pack_reused = uint32_t(pack.count());
    }
}

// entries_[i] is written at plan_pos_.
void PackWriter::Impl::place(size_t i) {
    if (plan_pos_ > PlanEntry::kMaxOffset)
        throw Error("the pack produced is too large");
    pos_.set(i, plan_pos_);
}

// Whether e, planned at output position at, is its on-disk bytes unchanged.
bool PackWriter::Impl::verbatim(const PlanEntry &e, uint64_t at) const {
    if (e.action == Action::Copy)
        return true;
    if (e.action != Action::Ofs)
        return false;
    const PlanEntry &base = entries_[e.base];
    return base.pack == e.pack && at - pos_.get(e.base) == e.offset - base.offset;
}

void PackWriter::Impl::count_reused(const PlanEntry &e) {
    stats_.reused++;
    if (is_delta(e.type)) {
        stats_.deltas++;
        stats_.reused_deltas++;
        if (e.action == Action::Thin || (e.action == Action::Copy && e.base == kNone))
            stats_.thin_deltas++;
    }
}

// Stages entries_[next_]: its header, and the copy or the deflate that
// follows it. A fallback changes a copy of the entry, not the plan.
void PackWriter::Impl::start_next() {
    const size_t i = next_++;
    PlanEntry e = entries_[i];
    place(i);
    cur_pos_ = plan_pos_;
    stats_.objects++;
    if (e.action == Action::Compose || e.action == Action::ComposeThin) {
        if (!start_composed(e))
            start_whole(e);
        return;
    }
    if (e.action == Action::Encode || e.action == Action::EncodeThin) {
        if (start_encoded(e) ||
            (e.composable && plan_.compose_to_written(e, i, chain()) && start_composed(e)))
            return;
        if (e.pack == kLoose || is_delta(e.type)) {
            start_whole(e);
            return;
        }
        // Stored whole: copied as it is after all.
        e.action = Action::Copy;
        e.base = kNone;
    }
    if (e.action == Action::Whole) {
        start_whole(e);
        return;
    }
    stage_copy(e);
}

// Stages e, written from its bytes on disk (Copy, Ofs, ToRef, Thin), with a
// new header when it needs one. A verbatim entry takes along the verbatim
// entries that follow it on disk, as one copy.
void PackWriter::Impl::stage_copy(const PlanEntry &e) {
    count_reused(e);
    staged_len_ = staged_pos_ = 0;
    uint64_t from = e.offset;
    if (e.action == Action::Thin) {
        staged_len_ = encode_type_size(staged_, kRefDelta, plan_.size_of(e));
        std::memcpy(staged_ + staged_len_, plan_.thin_bases()[e.base].id, GIT_OID_RAWSZ);
        staged_len_ += GIT_OID_RAWSZ;
        from = e.offset + e.header_len;
    } else if (!verbatim(e, cur_pos_)) {
        const PlanEntry &base = entries_[e.base];
        if (e.action == Action::Ofs) {
            staged_len_ = encode_type_size(staged_, kOfsDelta, plan_.size_of(e));
            staged_len_ += encode_ofs(staged_ + staged_len_, cur_pos_ - pos_.get(e.base));
        } else { // ToRef
            staged_len_ = encode_type_size(staged_, kRefDelta, plan_.size_of(e));
            std::memcpy(staged_ + staged_len_, plan_.oid_of(base).id, GIT_OID_RAWSZ);
            staged_len_ += GIT_OID_RAWSZ;
        }
        from = e.offset + e.header_len;
    }
    const uint64_t end = plan_.end_of(e);
    plan_pos_ += staged_len_ + (end - from);
    copy_pack_ = e.pack;
    copy_from_ = from;
    copy_to_ = end;
    // Extend the copy over the verbatim entries that follow on disk.
    while (next_ < entries_.size()) {
        const PlanEntry &n = entries_[next_];
        if (n.pack != e.pack || n.offset != copy_to_ || !verbatim(n, plan_pos_))
            break;
        place(next_);
        stats_.objects++;
        count_reused(n);
        copy_to_ = plan_.end_of(n);
        plan_pos_ += copy_to_ - n.offset;
        next_++;
    }
}

// Sets up an object to be written whole: its header is staged and its data
// deflated by read(). A large loose object is read as a stream (libgit2 can
// stream loose objects only), so that it is never whole in memory.
void PackWriter::Impl::start_whole(PlanEntry &e) {
    const git_oid oid = plan_.oid_of(e);
    const auto fail = [&oid]() {
        const git_error *err = git_error_last();
        return Error("reading object " + oid_hex(oid) + ": " +
                     (err && err->message ? err->message : "libgit2 error"));
    };
    git_object_t type = GIT_OBJECT_INVALID;
    size_t size = 0;
    whole_stream_.reset();
    whole_.reset();
    const uint8_t *data = nullptr;
    if (whole_copy_.capacity() > kEncodeCache) // not kept for the rest of the pack
        std::vector<uint8_t>().swap(whole_copy_);
    git_odb *odb = plan_.odb();
    if (e.pack == kLoose) {
        if (!reader().loose_header(oid, &type, &size) &&
            git_odb_read_header(&size, &type, odb, &oid) < 0)
            throw fail();
        if (size >= kStreamThreshold) {
            git_odb_stream *st = nullptr;
            if (git_odb_open_rstream(&st, &size, &type, odb, &oid) == 0)
                whole_stream_.reset(st);
            else
                git_error_clear();
        }
        if (!whole_stream_) {
            // Through the reader, which has it cached when encoding it as a
            // delta was tried first.
            const ObjectReader::Object o = reader().read(oid);
            whole_copy_.assign(o.data, o.data + o.size);
            type = o.type;
            size = o.size;
            data = whole_copy_.data();
        }
    } else {
        git_odb_object *obj = nullptr;
        if (git_odb_read(&obj, odb, &oid) < 0)
            throw fail();
        whole_.reset(obj);
        type = git_odb_object_type(obj);
        size = git_odb_object_size(obj);
        data = static_cast<const uint8_t *>(git_odb_object_data(obj));
    }
    staged_len_ = encode_type_size(staged_, type, size);
    staged_pos_ = 0;
    start_deflate(data, size);
}

// Sets up e (Compose or ComposeThin) as the delta from its planned base to
// its object, composed along its chain on disk. False when the chain does
// not compose (a corrupt entry; resolving the object whole reports it) or
// makes a delta larger than the object (written whole then, as git would).
bool PackWriter::Impl::start_composed(PlanEntry &e) {
    const bool thin = e.action == Action::ComposeThin;
    const git_oid target = plan_.base_oid(e);
    git_oid base;
    uint64_t base_size, result_size;
    if (!chain().follow(
            e.pack, e.offset,
            [&target](const git_oid &oid) { return git_oid_equal(&oid, &target) != 0; }, &base) ||
        !chain_->compose(&composed_) ||
        !delta_sizes(composed_.data(), composed_.size(), &base_size, &result_size) ||
        composed_.size() >= result_size)
        return false;
    stats_.composed_deltas++;
    start_delta(e, thin, target);
    return true;
}

// Sets up e (Encode or EncodeThin) as a delta made against its planned
// base. False when either object is too large, the budget is spent, or the
// delta is not less than half the object.
bool PackWriter::Impl::start_encoded(PlanEntry &e) {
    const bool thin = e.action == Action::EncodeThin;
    const git_oid oid = plan_.oid_of(e);
    const git_oid base_oid = plan_.base_oid(e);
    const DeltaMemo::Key key{oid, base_oid, level_};
    if (auto kept = deltas_.find(key)) {
        if (!kept->kept())
            return false;
        stats_.encoded_deltas++;
        stage_delta_header(e, thin, base_oid, kept->size);
        plan_pos_ += staged_len_;
        kept_ = std::move(kept);
        kept_pos_ = 0;
        return true;
    }
    size_t size, base_size;
    git_object_t type, base_type;
    // Unreadable: written whole (a corrupt base is no reason to fail).
    const auto header = [this](const git_oid &id, git_object_t *t, size_t *n) {
        try {
            return reader().loose_header(id, t, n) ||
                   git_odb_read_header(n, t, plan_.odb(), &id) == 0;
        } catch (const Error &) {
            return false;
        }
    };
    if (!header(oid, &type, &size) || !header(base_oid, &base_type, &base_size)) {
        git_error_clear();
        return false;
    }
    if (type != base_type || size > kMaxEncode || base_size > kMaxEncode ||
        size + base_size > encode_budget_ || size < kMinEncode)
        return false;
    encode_budget_ -= size + base_size;
    if (!encoder_)
        encoder_ = std::make_unique<DeltaEncoder>();
    try {
        const ObjectReader::Object b = read_to_encode(base_oid);
        base_copy_.assign(b.data, b.data + b.size);
        const ObjectReader::Object t = read_to_encode(oid);
        // git keeps a delta found by its search when it is under half the
        // object.
        if (t.size != size)
            return false;
        if (!encoder_->encode(base_copy_.data(), base_copy_.size(), t.data, t.size,
                              size / 2 - GIT_OID_RAWSZ, &composed_)) {
            deltas_.keep(key, std::make_shared<const DeltaMemo::Delta>());
            return false;
        }
    } catch (const Error &) {
        return false; // resolving the object whole reports what is wrong
    }
    stats_.encoded_deltas++;
    start_delta(e, thin, base_oid);
    keeping_ = key;
    keeping_bytes_.clear();
    return true;
}

// Writes e's header as a delta of composed_ against base (an OFS_DELTA when
// the base is an earlier entry of this pack and the client takes them, else
// a REF_DELTA naming it) and starts deflating composed_.
void PackWriter::Impl::start_delta(const PlanEntry &e, bool thin, const git_oid &base) {
    whole_.reset();
    whole_stream_.reset();
    stage_delta_header(e, thin, base, composed_.size());
    start_deflate(composed_.data(), composed_.size());
}

// Stages e's header as a delta of size bytes against base.
void PackWriter::Impl::stage_delta_header(const PlanEntry &e, bool thin, const git_oid &base,
                                          uint64_t size) {
    staged_pos_ = 0;
    if (!thin && ofs_delta_ && e.base < next_ - 1) {
        staged_len_ = encode_type_size(staged_, kOfsDelta, size);
        staged_len_ += encode_ofs(staged_ + staged_len_, cur_pos_ - pos_.get(e.base));
    } else {
        staged_len_ = encode_type_size(staged_, kRefDelta, size);
        std::memcpy(staged_ + staged_len_, base.id, GIT_OID_RAWSZ);
        staged_len_ += GIT_OID_RAWSZ;
    }
    stats_.deltas++;
    if (thin)
        stats_.thin_deltas++;
}

size_t PackWriter::Impl::emit_kept(uint8_t *out, size_t room) {
    const std::string &bytes = kept_->deflated;
    const size_t k = std::min(room, bytes.size() - kept_pos_);
    std::memcpy(out, bytes.data() + kept_pos_, k);
    hash(out, k);
    plan_pos_ += k;
    kept_pos_ += k;
    if (kept_pos_ == bytes.size())
        kept_.reset();
    return k;
}

// Starts deflating size bytes at data (or from whole_stream_ when data is
// null) after the staged header.
void PackWriter::Impl::start_deflate(const uint8_t *data, size_t size) {
    whole_data_ = data;
    whole_size_ = size;
    whole_fed_ = 0;
    if (!zs_)
        zs_ = std::make_unique<zlib::Deflater>(level_);
    else
        zs_->reset();
    plan_pos_ += staged_len_;
    (*zs_)->avail_in = 0;
    deflating_ = true;
}

// Gives zlib the next piece of the whole object when it has used the last.
void PackWriter::Impl::feed_whole() {
    z_stream &zs = zs_->z();
    if (zs.avail_in != 0 || whole_fed_ == whole_size_)
        return;
    const size_t left = whole_size_ - whole_fed_;
    if (whole_data_) {
        zs.next_in = const_cast<Bytef *>(whole_data_ + whole_fed_);
        zs.avail_in = zlib::chunk(left);
    } else {
        if (!stream_buf_)
            stream_buf_.reset(new uint8_t[kStreamBuffer]);
        int got =
            git_odb_stream_read(whole_stream_.get(), reinterpret_cast<char *>(stream_buf_.get()),
                                std::min(left, kStreamBuffer));
        if (got <= 0)
            throw Error("reading a loose object: " +
                        std::string(got < 0 && git_error_last() ? git_error_last()->message
                                                                : "shorter than its header says"));
        zs.next_in = stream_buf_.get();
        zs.avail_in = uInt(got);
    }
    whole_fed_ += zs.avail_in;
}

// The staged bytes (a header or the trailer) into out; how many.
size_t PackWriter::Impl::emit_staged(uint8_t *out, size_t room) {
    const size_t k = std::min(room, staged_len_ - staged_pos_);
    std::memcpy(out, staged_ + staged_pos_, k);
    if (!trailer_)
        hash(out, k);
    staged_pos_ += k;
    return k;
}

// The next piece of the copy from a pack into out (0 when it was read into
// copy_buf_, for a caller's buffer too small for a large pread).
size_t PackWriter::Impl::emit_copy(uint8_t *out, size_t room) {
    if (copy_buf_pos_ < copy_buf_len_) {
        const size_t k = std::min(room, copy_buf_len_ - copy_buf_pos_);
        std::memcpy(out, copy_buf_.get() + copy_buf_pos_, k);
        hash(out, k);
        copy_buf_pos_ += k;
        return k;
    }
    const PackIndex &pack = packs_[copy_pack_];
    const uint64_t left = copy_to_ - copy_from_;
    if (room >= kCopyBuffer / 2 || left <= room) {
        // Straight into the caller's buffer.
        const size_t k = size_t(std::min<uint64_t>(room, left));
        pread_exact(pack.pack_fd(), out, k, copy_from_, pack.pack_path());
        hash(out, k);
        copy_from_ += k;
        return k;
    }
    if (!copy_buf_)
        copy_buf_.reset(new uint8_t[kCopyBuffer]);
    const size_t k = size_t(std::min<uint64_t>(kCopyBuffer, left));
    pread_exact(pack.pack_fd(), copy_buf_.get(), k, copy_from_, pack.pack_path());
    copy_from_ += k;
    copy_buf_pos_ = 0;
    copy_buf_len_ = k;
    return 0;
}

// The next piece of the deflate stream into out; how many bytes.
size_t PackWriter::Impl::emit_deflate(uint8_t *out, size_t room) {
    feed_whole();
    z_stream &zs = zs_->z();
    const uInt out_room = zlib::chunk(room);
    zs.next_out = out;
    zs.avail_out = out_room;
    const bool last = whole_fed_ == whole_size_;
    const int rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        throw Error("zlib: deflate failed");
    const size_t k = out_room - zs.avail_out;
    hash(out, k);
    plan_pos_ += k;
    if (keeping_) {
        if (keeping_bytes_.size() + k <= DeltaMemo::kMaxDelta)
            keeping_bytes_.append(reinterpret_cast<const char *>(out), k);
        else
            keeping_.reset();
    }
    if (rc == Z_STREAM_END)
        end_deflate();
    return k;
}

void PackWriter::Impl::end_deflate() {
    deflating_ = false;
    if (keeping_) {
        auto d = std::make_shared<DeltaMemo::Delta>();
        d->size = composed_.size();
        d->deflated = std::move(keeping_bytes_);
        deltas_.keep(*keeping_, std::move(d));
        keeping_.reset();
    }
    whole_data_ = nullptr;
    whole_.reset();
    whole_stream_.reset();
    if (composed_.capacity() > kKeepScratch) {
        std::vector<uint8_t>().swap(composed_);
        if (chain_)
            chain_->trim(kKeepScratch);
    }
}

void PackWriter::Impl::stage_trailer() {
    if (whole_file_) {
        std::memcpy(staged_, packs_[plan_.whole_file()].pack_checksum(), 20);
        staged_len_ = 20;
    } else {
        Sha1::Digest d = sha_.final();
        std::memcpy(staged_, d.data(), d.size());
        staged_len_ = d.size();
    }
    staged_pos_ = 0;
    trailer_ = true;
}

size_t PackWriter::Impl::read(uint8_t *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        if (staged_pos_ < staged_len_)
            n += emit_staged(buf + n, cap - n);
        else if (trailer_)
            break;
        else if (copy_buf_pos_ < copy_buf_len_)
            n += emit_copy(buf + n, cap - n);
        else if (copy_from_ < copy_to_) {
            // Left for take_file, which gets what follows this read.
            if (n > 0 && file_min_ > 0 && (copy_to_ - copy_from_ >= file_min_ || run_taken()))
                break;
            n += emit_copy(buf + n, cap - n);
        } else if (kept_)
            n += emit_kept(buf + n, cap - n);
        else if (deflating_)
            n += emit_deflate(buf + n, cap - n);
        else if (next_ < entries_.size())
            start_next();
        else
            stage_trailer();
    }
    stats_.bytes += n;
    return n;
}

// Hashed through a small buffer that stays in the CPU cache, rather than
// copied whole into the caller's.
void PackWriter::Impl::hash_file(const PackIndex &pack, uint64_t from, size_t len) {
    if (whole_file_)
        return;
    if (!copy_buf_)
        copy_buf_.reset(new uint8_t[kCopyBuffer]);
    constexpr size_t kPiece = 32 * 1024;
    static_assert(kPiece <= kCopyBuffer);
    while (len > 0) {
        const size_t k = std::min(len, kPiece);
        pread_exact(pack.pack_fd(), copy_buf_.get(), k, from, pack.pack_path());
        sha_.update(copy_buf_.get(), k);
        from += k;
        len -= k;
    }
}

bool PackWriter::Impl::take_file(size_t min, size_t max, FileRange *out) {
    file_min_ = min;
    // Get to what comes next, as read() would, short of the trailer.
    while (staged_pos_ == staged_len_ && !trailer_ && copy_buf_pos_ == copy_buf_len_ &&
           copy_from_ == copy_to_ && !emitting() && next_ < entries_.size())
        start_next();
    if (staged_pos_ < staged_len_ || copy_buf_pos_ < copy_buf_len_ || copy_from_ >= copy_to_ ||
        max == 0)
        return false;
    const uint64_t left = copy_to_ - copy_from_;
    // The tail of a run taken so far is taken too, however short.
    if (left < min && !run_taken())
        return false;
    const size_t k = size_t(std::min<uint64_t>(max, left));
    const PackIndex &pack = packs_[copy_pack_];
    hash_file(pack, copy_from_, k);
    *out = FileRange{pack.pack_fd(), copy_from_, k};
    taken_run_pack_ = copy_pack_;
    taken_run_end_ = copy_to_;
    copy_from_ += k;
    stats_.bytes += k;
    return true;
}

PackWriter::PackWriter(PackPlan plan) : impl_(std::make_unique<Impl>(std::move(plan))) {}

PackWriter::~PackWriter() = default;

size_t PackWriter::read(uint8_t *buf, size_t cap) {
    return impl_->read(buf, cap);
}

bool PackWriter::take_file(size_t min, size_t max, FileRange *out) {
    return impl_->take_file(min, max, out);
}

bool PackWriter::done() const {
    return impl_->trailer_ && impl_->staged_pos_ == impl_->staged_len_;
}

const PackStats &PackWriter::stats() const {
    return impl_->stats_;
}

const PackPlan &PackWriter::plan() const {
    return impl_->plan_;
}

uint64_t PackWriter::position(size_t i) const {
    return impl_->pos_.get(i);
}

} // namespace gsh::pack

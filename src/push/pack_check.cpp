#include "push/pack_check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "odb/pack_format.h"
#include "util/big_endian.h"

namespace gsh::pack {

namespace {

constexpr size_t kScratch = 32 * 1024;

// Adds the 7 bits of c at shift to value; false when they do not fit in 64.
bool add_bits(uint64_t &value, unsigned shift, uint8_t c) {
    const uint64_t bits = c & 0x7f;
    if (bits == 0)
        return true;
    if (shift >= 64 || (shift > 57 && (bits >> (64 - shift)) != 0))
        return false;
    value += bits << shift;
    return true;
}

} // namespace

std::string humanise_bytes(uint64_t bytes) {
    char buf[64];
    if (bytes > (1u << 30)) {
        std::snprintf(buf, sizeof buf, "%u.%2.2u GiB", unsigned(bytes >> 30),
                      unsigned(bytes & ((1u << 30) - 1)) / 10737419);
    } else if (bytes > (1u << 20)) {
        const unsigned x = unsigned(bytes + 5243);
        std::snprintf(buf, sizeof buf, "%u.%2.2u MiB", x >> 20,
                      ((x & ((1u << 20) - 1)) * 100) >> 20);
    } else if (bytes > (1u << 10)) {
        const unsigned x = unsigned(bytes + 5);
        std::snprintf(buf, sizeof buf, "%u.%2.2u KiB", x >> 10,
                      ((x & ((1u << 10) - 1)) * 100) >> 10);
    } else {
        std::snprintf(buf, sizeof buf, "%u %s", unsigned(bytes), bytes == 1 ? "byte" : "bytes");
    }
    return buf;
}

PackChecker::PackChecker(const PackCheckLimits &limits, PackEntrySink *sink)
    : limits_(limits), sink_(sink), scratch_(new uint8_t[kScratch]) {}

PackChecker::~PackChecker() = default;

bool PackChecker::fail(std::string why) {
    if (state_ != State::Failed) {
        error_ = std::move(why);
        state_ = State::Failed;
    }
    return false;
}

bool PackChecker::bad_object(const std::string &why) {
    return fail("pack has bad object at offset " + std::to_string(entry_offset_) + ": " + why);
}

bool PackChecker::sink_says(std::string why) {
    return why.empty() || fail(std::move(why));
}

void PackChecker::consume(const uint8_t *p, size_t n) {
    if (state_ != State::Trailer && state_ != State::Done)
        sha_.update(p, n);
    if (sink_ && state_ != State::Header && state_ != State::Trailer && state_ != State::Done)
        info_.crc = uint32_t(crc32(info_.crc, p, zlib::chunk(n)));
    consumed_ += n;
}

bool PackChecker::check_input_size() {
    if (limits_.max_input_size && consumed_ > limits_.max_input_size)
        return fail("pack exceeds maximum allowed size (" + humanise_bytes(limits_.max_input_size) +
                    ")");
    return true;
}

bool PackChecker::check_size(uint64_t size, const char *what) {
    if (limits_.max_object_size && size > limits_.max_object_size)
        return bad_object(std::string(what) + " of " + humanise_bytes(size) +
                          " exceeds the maximum object size (" +
                          humanise_bytes(limits_.max_object_size) + ")");
    return true;
}

bool PackChecker::end_entry_header() {
    switch (type_) {
    case kCommit:
    case kTree:
    case kBlob:
    case kTag:
        return check_size(size_, "object") && start_data();
    case kOfsDelta:
        state_ = State::OfsBase;
        first_byte_ = true;
        base_rel_ = 0;
        return true;
    case kRefDelta:
        state_ = State::RefBase;
        ref_len_ = 0;
        return true;
    default:
        return bad_object("unknown object type " + std::to_string(type_));
    }
}

bool PackChecker::start_data() {
    // The delta itself is held whole by the indexer when it resolves it.
    if (is_delta(type_) && !check_size(size_, "delta"))
        return false;
    // One stream for every entry, made at the first.
    try {
        if (!inflater_)
            inflater_.emplace();
        else
            inflater_->reset();
    } catch (const Error &) {
        return fail(inflater_ ? "inflate: reset failed" : "inflate: out of memory");
    }
    delta_field_ = is_delta(type_) ? 0 : 2;
    delta_value_ = 0;
    delta_shift_ = 0;
    state_ = State::Data;
    if (!sink_)
        return true;
    info_.offset = entry_offset_;
    info_.size = size_;
    info_.type = type_;
    info_.header_len = uint8_t(consumed_ - entry_offset_);
    info_.base_offset = type_ == kOfsDelta ? entry_offset_ - base_rel_ : 0;
    return sink_says(sink_->entry_start(info_));
}

// The base and result sizes that start every delta: the result is refused
// here, before libgit2 allocates it.
bool PackChecker::delta_sizes(const uint8_t *out, size_t n) {
    for (size_t i = 0; i < n && delta_field_ < 2; i++) {
        if (!add_bits(delta_value_, delta_shift_, out[i]))
            delta_value_ = UINT64_MAX; // past any limit
        delta_shift_ += 7;
        if (out[i] & 0x80)
            continue;
        if (delta_field_ == 1 && !check_size(delta_value_, "delta result"))
            return false;
        delta_field_++;
        delta_value_ = 0;
        delta_shift_ = 0;
    }
    return true;
}

bool PackChecker::inflate_some(const uint8_t *&p, size_t &n) {
    z_stream &zs = inflater_->z();
    for (;;) {
        // Never more room than the declared size leaves: a stream that goes
        // on past it stops as git's index-pack stops it (Z_BUF_ERROR).
        const size_t room = size_t(std::min<uint64_t>(size_ - zs.total_out, kScratch));
        zs.next_in = const_cast<Bytef *>(p);
        zs.avail_in = zlib::chunk(n);
        zs.next_out = scratch_.get();
        zs.avail_out = uInt(room);
        const int ret = inflate(&zs, Z_NO_FLUSH);
        const size_t used = size_t(zs.next_in - p);
        const size_t produced = room - zs.avail_out;
        consume(p, used);
        p += used;
        n -= used;
        if (!check_input_size())
            return false;
        if (delta_field_ < 2 && produced > 0 && !delta_sizes(scratch_.get(), produced))
            return false;
        if (sink_ && produced > 0 && !sink_says(sink_->entry_data(scratch_.get(), produced)))
            return false;
        if (ret == Z_STREAM_END) {
            if (zs.total_out != size_)
                return bad_object("inflate returned " + std::to_string(ret));
            if (sink_ && !sink_says(sink_->entry_end(info_)))
                return false;
            done_++;
            first_byte_ = true;
            if (done_ == count_) {
                state_ = State::Trailer;
                head_len_ = 0;
            } else {
                state_ = State::EntryHeader;
            }
            return true;
        }
        if (ret == Z_OK) {
            if (n == 0 && zs.avail_out > 0)
                return true; // wants more input
            continue;
        }
        if (ret == Z_BUF_ERROR && n == 0)
            return true; // no progress without more input
        return bad_object("inflate returned " + std::to_string(ret));
    }
}

// The 12 bytes of "PACK", the version and the object count.
bool PackChecker::feed_header(const uint8_t *&p, size_t &n) {
    const size_t take = std::min(n, 12 - head_len_);
    std::memcpy(head_ + head_len_, p, take);
    head_len_ += take;
    consume(p, take);
    p += take;
    n -= take;
    if (!check_input_size())
        return false;
    if (head_len_ < 12)
        return true;
    if (std::memcmp(head_, "PACK", 4) != 0)
        return fail("pack signature mismatch");
    const uint32_t version = be32(head_ + 4);
    if (version != 2 && version != 3)
        return fail("pack version " + std::to_string(version) + " unsupported");
    count_ = be32(head_ + 8);
    head_len_ = 0;
    state_ = count_ == 0 ? State::Trailer : State::EntryHeader;
    first_byte_ = true;
    return true;
}

// One byte of an entry's type and size.
bool PackChecker::feed_entry_header(const uint8_t *&p, size_t &n) {
    const uint8_t c = *p;
    if (first_byte_) {
        entry_offset_ = consumed_;
        info_.crc = uint32_t(crc32(0, nullptr, 0));
        type_ = (c >> 4) & 7;
        size_ = c & 15;
        shift_ = 4;
        first_byte_ = false;
    } else {
        if (!add_bits(size_, shift_, c))
            return bad_object("object size overflow");
        shift_ += 7;
    }
    consume(p, 1);
    p++;
    n--;
    if (!check_input_size())
        return false;
    return (c & 0x80) || end_entry_header();
}

// One byte of an ofs-delta's base offset.
bool PackChecker::feed_ofs_base(const uint8_t *&p, size_t &n) {
    const uint8_t c = *p;
    if (first_byte_) {
        base_rel_ = c & 127;
        first_byte_ = false;
    } else {
        base_rel_ += 1;
        if (base_rel_ == 0 || (base_rel_ >> 57) != 0)
            return bad_object("offset value overflow for delta base object");
        base_rel_ = (base_rel_ << 7) + (c & 127);
    }
    consume(p, 1);
    p++;
    n--;
    if (!check_input_size())
        return false;
    if (c & 128)
        return true;
    if (base_rel_ == 0 || base_rel_ >= entry_offset_)
        return bad_object("delta base offset is out of bound");
    return start_data();
}

// The object id of a ref-delta's base.
bool PackChecker::feed_ref_base(const uint8_t *&p, size_t &n) {
    const size_t take = std::min(n, size_t(GIT_OID_RAWSZ) - ref_len_);
    std::memcpy(info_.base_oid + ref_len_, p, take);
    ref_len_ += take;
    consume(p, take);
    p += take;
    n -= take;
    if (!check_input_size())
        return false;
    return ref_len_ < GIT_OID_RAWSZ || start_data();
}

// The pack's SHA-1 of everything before it.
bool PackChecker::feed_trailer(const uint8_t *&p, size_t &n) {
    if (head_len_ == 0)
        digest_ = sha_.final();
    const size_t take = std::min(n, size_t(GIT_OID_RAWSZ) - head_len_);
    std::memcpy(head_ + head_len_, p, take);
    head_len_ += take;
    consume(p, take);
    p += take;
    n -= take;
    if (!check_input_size())
        return false;
    if (head_len_ < GIT_OID_RAWSZ)
        return true;
    if (std::memcmp(head_, digest_.data(), GIT_OID_RAWSZ) != 0)
        return fail("pack is corrupted (SHA1 mismatch)");
    state_ = State::Done;
    return true;
}

bool PackChecker::feed(const void *data, size_t len) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    size_t n = len;
    while (n > 0) {
        bool ok = false;
        switch (state_) {
        case State::Failed:
            return false;
        case State::Header:
            ok = feed_header(p, n);
            break;
        case State::EntryHeader:
            ok = feed_entry_header(p, n);
            break;
        case State::OfsBase:
            ok = feed_ofs_base(p, n);
            break;
        case State::RefBase:
            ok = feed_ref_base(p, n);
            break;
        case State::Data:
            ok = inflate_some(p, n);
            break;
        case State::Trailer:
            ok = feed_trailer(p, n);
            break;
        case State::Done:
            return fail("pack has junk at the end");
        }
        if (!ok)
            return false;
    }
    return state_ != State::Failed;
}

bool PackChecker::finish() {
    if (state_ == State::Failed)
        return false;
    if (state_ != State::Done)
        return fail("early EOF");
    return true;
}

} // namespace gsh::pack

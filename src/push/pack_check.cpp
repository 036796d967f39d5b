#include "push/pack_check.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "odb/pack_format.h"

namespace gsh::pack {

namespace {

constexpr size_t kScratch = 32 * 1024;

uint32_t be32(const uint8_t *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

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

PackChecker::PackChecker(const PackCheckLimits &limits)
    : limits_(limits), scratch_(new uint8_t[kScratch]) {}

PackChecker::~PackChecker() {
    if (zs_open_)
        inflateEnd(&zs_);
}

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

void PackChecker::consume(const uint8_t *p, size_t n) {
    if (state_ != State::Trailer && state_ != State::Done)
        sha_.update(p, n);
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
    if (!zs_open_) {
        if (inflateInit(&zs_) != Z_OK)
            return fail("inflate: out of memory");
        zs_open_ = true;
    } else if (inflateReset(&zs_) != Z_OK) {
        return fail("inflate: reset failed");
    }
    delta_field_ = is_delta(type_) ? 0 : 2;
    delta_value_ = 0;
    delta_shift_ = 0;
    state_ = State::Data;
    return true;
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
    for (;;) {
        // Never more room than the declared size leaves: a stream that goes
        // on past it stops as git's index-pack stops it (Z_BUF_ERROR).
        const size_t room = size_t(std::min<uint64_t>(size_ - zs_.total_out, kScratch));
        zs_.next_in = const_cast<Bytef *>(p);
        zs_.avail_in = uInt(std::min<size_t>(n, UINT_MAX));
        zs_.next_out = scratch_.get();
        zs_.avail_out = uInt(room);
        const int ret = inflate(&zs_, Z_NO_FLUSH);
        const size_t used = size_t(zs_.next_in - p);
        const size_t produced = room - zs_.avail_out;
        consume(p, used);
        p += used;
        n -= used;
        if (!check_input_size())
            return false;
        if (delta_field_ < 2 && produced > 0 && !delta_sizes(scratch_.get(), produced))
            return false;
        if (ret == Z_STREAM_END) {
            if (zs_.total_out != size_)
                return bad_object("inflate returned " + std::to_string(ret));
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
            if (n == 0 && zs_.avail_out > 0)
                return true; // wants more input
            continue;
        }
        if (ret == Z_BUF_ERROR && n == 0)
            return true; // no progress without more input
        return bad_object("inflate returned " + std::to_string(ret));
    }
}

bool PackChecker::feed(const void *data, size_t len) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    size_t n = len;
    while (n > 0) {
        switch (state_) {
        case State::Failed:
            return false;
        case State::Header: {
            const size_t take = std::min(n, 12 - head_len_);
            std::memcpy(head_ + head_len_, p, take);
            head_len_ += take;
            consume(p, take);
            p += take;
            n -= take;
            if (!check_input_size())
                return false;
            if (head_len_ < 12)
                break;
            if (std::memcmp(head_, "PACK", 4) != 0)
                return fail("pack signature mismatch");
            const uint32_t version = be32(head_ + 4);
            if (version != 2 && version != 3)
                return fail("pack version " + std::to_string(version) + " unsupported");
            count_ = be32(head_ + 8);
            head_len_ = 0;
            state_ = count_ == 0 ? State::Trailer : State::EntryHeader;
            first_byte_ = true;
            break;
        }
        case State::EntryHeader: {
            const uint8_t c = *p;
            if (first_byte_) {
                entry_offset_ = consumed_;
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
            if (!(c & 0x80) && !end_entry_header())
                return false;
            break;
        }
        case State::OfsBase: {
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
                break;
            if (base_rel_ == 0 || base_rel_ >= entry_offset_)
                return bad_object("delta base offset is out of bound");
            if (!start_data())
                return false;
            break;
        }
        case State::RefBase: {
            const size_t take = std::min(n, size_t(GIT_OID_RAWSZ) - ref_len_);
            ref_len_ += take;
            consume(p, take);
            p += take;
            n -= take;
            if (!check_input_size())
                return false;
            if (ref_len_ == GIT_OID_RAWSZ && !start_data())
                return false;
            break;
        }
        case State::Data:
            if (!inflate_some(p, n))
                return false;
            break;
        case State::Trailer: {
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
                break;
            if (std::memcmp(head_, digest_.data(), GIT_OID_RAWSZ) != 0)
                return fail("pack is corrupted (SHA1 mismatch)");
            state_ = State::Done;
            break;
        }
        case State::Done:
            return fail("pack has junk at the end");
        }
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

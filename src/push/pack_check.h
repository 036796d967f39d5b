// A pushed pack checked as it streams in, on the same bytes as libgit2's
// indexer and before it sees them: git's index-pack refuses what libgit2
// stores (a declared size the zlib stream does not inflate to, a wrong
// trailer), and libgit2 resolves a delta whatever result size it declares.
// It is the one pack parser of a push: push/index_pack.h builds the index on
// what it reports to a PackEntrySink. This parses every entry header, inflates each entry into a
// small scratch buffer to count its bytes, reads the two sizes at the start of each delta, and
// hashes the pack for its trailer. Memory is constant: nothing of an entry is kept. Refusals carry
// git's index-pack wording where git has one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "util/sha1.h"
#include "util/zlib.h"

namespace gsh::pack {

// One entry as the checker reads it; crc once the entry is read whole.
struct PackEntryInfo {
    uint64_t offset = 0;
    uint64_t size = 0;        // declared: the object's, or the delta's
    uint64_t base_offset = 0; // an OFS delta's base (absolute)
    uint8_t base_oid[20] = {};
    uint8_t type = 0;       // as in the pack (odb/pack_format.h PackType)
    uint8_t header_len = 0; // bytes before the zlib stream
    uint32_t crc = 0;       // CRC32 of the entry's bytes, header to stream end
};

// What a parser built on the checker (push/index_pack.h) is told of each
// entry as it streams by. Each returns "" to go on, else why the pack is
// refused (the checker's error() then).
class PackEntrySink {
  public:
    virtual ~PackEntrySink() = default;
    // The entry's header is read; its data follows.
    virtual std::string entry_start(const PackEntryInfo &e) = 0;
    // Inflated bytes of the entry, in order (never more than its size).
    virtual std::string entry_data(const uint8_t *data, size_t len) = 0;
    // The entry's zlib stream ended at its declared size.
    virtual std::string entry_end(const PackEntryInfo &e) = 0;
};

struct PackCheckLimits {
    // Every non-delta object's declared size, every delta's declared size
    // and declared result size; 0: no limit.
    uint64_t max_object_size = 0;
    // The whole pack, trailer included (git's --max-input-size); 0: none.
    uint64_t max_input_size = 0;
};

class PackChecker {
  public:
    // sink, when given, must outlive the checker.
    explicit PackChecker(const PackCheckLimits &limits = {}, PackEntrySink *sink = nullptr);
    ~PackChecker();
    PackChecker(const PackChecker &) = delete;
    PackChecker &operator=(const PackChecker &) = delete;

    // The next bytes of the pack, in any pieces. False once the pack is
    // refused (then and after: error() says why, and nothing more is read).
    bool feed(const void *data, size_t len);
    // The end of the pack: false when it is refused or incomplete.
    bool finish();

    const std::string &error() const { return error_; }
    // Entries read whole so far.
    uint32_t objects() const { return done_; }
    uint64_t bytes() const { return consumed_; }
    // The object count of the header (once read).
    uint32_t count() const { return count_; }
    // The pack's trailer (once finish() accepted it).
    const Sha1::Digest &trailer() const { return digest_; }

  private:
    enum class State { Header, EntryHeader, OfsBase, RefBase, Data, Trailer, Done, Failed };

    bool fail(std::string why);
    bool bad_object(const std::string &why);
    void consume(const uint8_t *p, size_t n);
    bool check_input_size();
    bool start_data();
    bool end_entry_header();
    // Each reads what its state takes of the n bytes at p and moves past it.
    bool feed_header(const uint8_t *&p, size_t &n);
    bool feed_entry_header(const uint8_t *&p, size_t &n);
    bool feed_ofs_base(const uint8_t *&p, size_t &n);
    bool feed_ref_base(const uint8_t *&p, size_t &n);
    bool inflate_some(const uint8_t *&p, size_t &n);
    bool feed_trailer(const uint8_t *&p, size_t &n);
    bool delta_sizes(const uint8_t *out, size_t n);
    bool check_size(uint64_t size, const char *what);
    bool sink_says(std::string why);

    PackCheckLimits limits_;
    PackEntrySink *sink_ = nullptr;
    PackEntryInfo info_;
    State state_ = State::Header;
    std::string error_;
    Sha1 sha_;
    Sha1::Digest digest_{};
    uint64_t consumed_ = 0; // bytes of the pack read, trailer included

    uint8_t head_[20];
    size_t head_len_ = 0; // bytes of the pack header or trailer so far
    uint32_t count_ = 0, done_ = 0;

    // The entry being read.
    uint64_t entry_offset_ = 0;
    uint8_t type_ = 0;
    uint64_t size_ = 0;
    unsigned shift_ = 0;
    uint64_t base_rel_ = 0;
    size_t ref_len_ = 0;
    bool first_byte_ = true;

    // A delta's base and result sizes, read from its inflated start.
    int delta_field_ = 0; // 0: base size, 1: result size, 2: both read
    uint64_t delta_value_ = 0;
    unsigned delta_shift_ = 0;

    std::optional<zlib::Inflater> inflater_; // from the first entry's data on
    std::unique_ptr<uint8_t[]> scratch_;
};

// git's strbuf_humanise_bytes(): "1.00 GiB", "128.00 MiB", "3 bytes".
std::string humanise_bytes(uint64_t bytes);

} // namespace gsh::pack

// A pushed pack checked as it streams in, on the same bytes as libgit2's
// indexer and before it sees them: git's index-pack refuses what libgit2
// stores (a declared size the zlib stream does not inflate to, a wrong
// trailer), and libgit2 resolves a delta whatever result size it declares.
// This parses every entry header, inflates each entry into a small scratch
// buffer to count its bytes, reads the two sizes at the start of each delta,
// and hashes the pack for its trailer. Memory is constant: nothing of an
// entry is kept. Refusals carry git's index-pack wording where git has one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "util/sha1.h"
#include "util/zlib.h"

namespace gsh::pack {

struct PackCheckLimits {
    // Every non-delta object's declared size, every delta's declared size
    // and declared result size; 0: no limit.
    uint64_t max_object_size = 0;
    // The whole pack, trailer included (git's --max-input-size); 0: none.
    uint64_t max_input_size = 0;
};

class PackChecker {
  public:
    explicit PackChecker(const PackCheckLimits &limits = {});
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

    PackCheckLimits limits_;
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

#include "service/pack_section.h"

#include <algorithm>
#include <optional>

#include "protocol/pkt_line.h"

namespace gsh {

PackSection::PackSection(git_repository *repo, std::shared_ptr<const pack::PackSet> packs,
                         pack::EnumerateInput input, pack::PackOptions options, bool progress,
                         size_t max_pkt)
    : repo_(repo), packs_(std::move(packs)), input_(std::move(input)), options_(options),
      progress_(progress && max_pkt > 0), max_pkt_(max_pkt) {}

namespace {

// As a set: a client names the same wants in another order, or twice, and
// is answered the same objects.
void hash_oids(pack::Sha1 &h, std::vector<git_oid> oids) {
    auto less = [](const git_oid &a, const git_oid &b) { return git_oid_cmp(&a, &b) < 0; };
    auto same = [](const git_oid &a, const git_oid &b) { return git_oid_equal(&a, &b) != 0; };
    std::sort(oids.begin(), oids.end(), less);
    oids.erase(std::unique(oids.begin(), oids.end(), same), oids.end());
    const uint64_t n = oids.size();
    h.update(&n, sizeof n);
    for (const git_oid &o : oids)
        h.update(o.id, GIT_OID_RAWSZ);
}

void hash_filter(pack::Sha1 &h, const pack::ObjectFilter &f) {
    const int64_t fields[] = {int64_t(f.kind), int64_t(f.value), int64_t(f.type),
                              int64_t(f.sparse_oid.size()), int64_t(f.subs.size())};
    h.update(fields, sizeof fields);
    h.update(f.sparse_oid.data(), f.sparse_oid.size());
    for (const pack::ObjectFilter &sub : f.subs)
        hash_filter(h, sub);
}

} // namespace

bool PackSection::hash_request(pack::Sha1 &h) const {
    // sparse:oid names its blob as a revision (a ref, a reflog entry),
    // which a key of the request's text cannot pin down.
    if (!input_.haves.empty() || !input_.filter.by_content())
        return false;
    hash_oids(h, input_.wants);
    hash_oids(h, input_.include_tags);
    hash_oids(h, input_.parentless);
    hash_filter(h, input_.filter);
    const uint64_t framing[] = {options_.ofs_delta, options_.thin, progress_, max_pkt_};
    h.update(framing, sizeof framing);
    return true;
}

void PackSection::progress(std::string *spill, std::string_view text) {
    if (progress_)
        proto::sideband_write(*spill, 2, text, max_pkt_);
}

void PackSection::fail(std::string *spill, std::string_view why) const {
    if (max_pkt_ > 0)
        proto::sideband_write(*spill, 3, why, max_pkt_);
}

void PackSection::start(const PostFn &post, const std::function<void()> &checkpoint) {
    std::string pkts;
    const auto say = [&](std::string_view text) {
        if (!progress_)
            return;
        pkts.clear();
        progress(&pkts, text);
        post(pkts);
    };
    // Counting is the enumeration; planning is what the pack stream does
    // before its first byte (delta search and order, pack/pack_stream.h).
    std::optional<PhaseTimes::Scope> count(std::in_place, times_, Phase::count);
    pack::Enumeration objects =
        pack::enumerate_objects(repo_, packs_, input_, [&](std::string_view text) {
            // Empty text is the walk checking in.
            if (text.empty()) {
                if (checkpoint)
                    checkpoint();
                return;
            }
            say(text);
        });
    count.reset();
    std::string n = std::to_string(objects.count());
    say("Counting objects: 100% (" + n + "/" + n + "), done.\n");
    if (checkpoint)
        checkpoint();
    PhaseTimes::Scope plan(times_, Phase::plan);
    stream_ = std::make_unique<pack::PackStream>(repo_, std::move(objects), options_, checkpoint);
}

namespace {

constexpr size_t kHeader = 5;
// Shorter runs of a pack file are copied: a file piece costs the caller a
// buffer and a system call of its own.
constexpr size_t kMinFilePiece = 8192;
// A bare pack's pieces are not bounded by pkt-lines.
constexpr size_t kMaxBareFilePiece = 1u << 20;

} // namespace

size_t PackSection::produce(uint8_t *buf, size_t cap, std::string *spill, ResponsePieces *pieces) {
    if (finished_)
        return 0;
    if (!stream_) {
        start([spill](std::string_view pkts) { spill->append(pkts); }, nullptr);
        return 0;
    }
    // Only the core's own work: the wait for the client to take the bytes
    // is between calls.
    PhaseTimes::Scope write(times_, Phase::write);
    // A file range is a side-band pkt-line's data (its header in buf), or
    // a stretch of a bare pack.
    const size_t header = sideband() ? kHeader : 0;
    const size_t max_piece = sideband() ? max_pkt_ - kHeader : kMaxBareFilePiece;
    if (pieces && pieces->room() && max_piece >= kMinFilePiece && cap >= header) {
        pack::FileRange r;
        if (stream_->take_file(kMinFilePiece, max_piece, &r)) {
            if (header) {
                proto::pkt_header(reinterpret_cast<char *>(buf), r.len + kHeader);
                buf[4] = 1;
            }
            pieces->add_file(buf + header, r);
            return header;
        }
    }
    if (max_pkt_ == 0) {
        size_t n = stream_->read(buf, cap);
        finished_ = n == 0;
        return n;
    }
    if (cap <= kHeader) {
        // Too little room for a useful pkt-line: make one in the spill instead.
        uint8_t tmp[4096];
        size_t n = produce(tmp, sizeof(tmp), spill);
        spill->append(reinterpret_cast<const char *>(tmp), n);
        return 0;
    }
    size_t n = stream_->read(buf + kHeader, std::min(cap - kHeader, max_pkt_ - kHeader));
    if (n > 0) {
        proto::pkt_header(reinterpret_cast<char *>(buf), n + kHeader);
        buf[4] = 1;
        return n + kHeader;
    }
    const pack::PackStats &s = stream_->stats();
    progress(spill, "Total " + std::to_string(s.objects) + " (delta " + std::to_string(s.deltas) +
                        "), reused " + std::to_string(s.reused) + " (delta " +
                        std::to_string(s.reused_deltas) + "), pack-reused " +
                        std::to_string(s.pack_reused) + "\n");
    proto::pkt_flush(*spill);
    finished_ = true;
    return 0;
}

} // namespace gsh

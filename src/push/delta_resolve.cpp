#include "push/delta_resolve.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "odb/pack_format.h"
#include "util/error.h"
#include "util/oid_hex.h"
#include "util/sha1.h"
#include "util/zlib.h"

namespace gsh::pack {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
bool oid_less(const RefBase &a, const RefBase &b) {
    return git_oid_cmp(&a.base, &b.base) < 0;
}

std::string bad_object(uint64_t offset, const std::string &why) {
    return "pack has bad object at offset " + std::to_string(offset) + ": " + why;
}

} // namespace

// A delta base on a thread's chain: the object at entry, its content when
// loaded, and the children still to resolve against it.
struct DeltaResolver::Frame {
    uint32_t entry;
    std::vector<uint8_t> data;
    bool loaded = false;
    std::vector<uint32_t> kids;
    size_t next = 0;
};

// What each thread owns.
struct DeltaResolver::Worker {
    Sha1 sha;
    zlib::Inflater inflater;
    std::vector<uint8_t> in;
    std::vector<uint8_t> delta;
    ObjectLinks links;
};

DeltaResolver::DeltaResolver(int fd, std::vector<PackObjectEntry> &entries,
                             const std::vector<RefBase> &refs, const DeltaResolveOptions &options)
    : fd_(fd), entries_(entries), options_(options), refs_(refs) {
    std::sort(refs_.begin(), refs_.end(), oid_less);
    for (uint32_t i = 0; i < entries_.size(); i++)
        if (entries_[i].type == kOfsDelta)
            ofs_.emplace_back(entries_[i].base_offset, i);
    std::sort(ofs_.begin(), ofs_.end());
    claimable_ = entries_.size();
    claimed_.reset(new std::atomic<bool>[claimable_]);
    for (size_t i = 0; i < claimable_; i++)
        claimed_[i].store(false, std::memory_order_relaxed);
}

DeltaResolver::~DeltaResolver() = default;

std::vector<uint32_t> DeltaResolver::children_of(uint32_t entry) const {
    std::vector<uint32_t> kids;
    const PackObjectEntry &e = entries_[entry];
    auto o = std::lower_bound(ofs_.begin(), ofs_.end(), std::make_pair(e.offset, uint32_t(0)));
    for (; o != ofs_.end() && o->first == e.offset; ++o)
        kids.push_back(o->second);
    const RefBase key{e.oid, 0};
    for (auto r = std::lower_bound(refs_.begin(), refs_.end(), key, oid_less);
         r != refs_.end() && git_oid_equal(&r->base, &e.oid); ++r)
        kids.push_back(r->entry);
    return kids;
}

// Inflates the data of entries[entry] (its declared size) from the pack file.
std::string DeltaResolver::inflate_entry(Worker &w, uint32_t entry,
                                         std::vector<uint8_t> &out) const {
    const PackObjectEntry &e = entries_[entry];
    uint64_t pos = e.offset + e.header_len;
    const uint64_t end = entry + 1 < entries_.size() ? entries_[entry + 1].offset : data_end_;
    out.resize(size_t(e.size));
    w.inflater.reset();
    z_stream &zs = w.inflater.z();
    zs.next_out = out.data();
    zs.avail_out = zlib::chunk(out.size());
    w.in.resize(kReadChunk);
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
        if (zs.avail_in == 0) {
            const size_t want = size_t(std::min<uint64_t>(kReadChunk, end - pos));
            const ssize_t n = want ? pread(fd_, w.in.data(), want, off_t(pos)) : 0;
            if (n <= 0)
                return bad_object(e.offset, "inflate: unexpected end of entry");
            pos += uint64_t(n);
            zs.next_in = w.in.data();
            zs.avail_in = uInt(n);
        }
        ret = inflate(&zs, Z_NO_FLUSH);
        if (ret != Z_OK && ret != Z_STREAM_END)
            return bad_object(e.offset, "inflate returned " + std::to_string(ret));
        if (zs.avail_out == 0 && ret != Z_STREAM_END && size_t(zs.total_out) < out.size())
            zs.avail_out = zlib::chunk(out.size() - size_t(zs.total_out));
    }
    if (zs.total_out != e.size)
        return bad_object(e.offset, "inflate returned " + std::to_string(ret));
    return std::string();
}

// The object of the delta entries[entry] applied to base, into out; every
// size and copy checked.
std::string DeltaResolver::apply(Worker &w, uint32_t entry, const std::vector<uint8_t> &base,
                                 std::vector<uint8_t> &out) const {
    if (std::string err = inflate_entry(w, entry, w.delta); !err.empty())
        return err;
    const PackObjectEntry &e = entries_[entry];
    // git's words, whichever check fails: the offset names the entry.
    const std::string failed = bad_object(e.offset, "failed to apply delta");
    uint64_t base_size = 0, result_size = 0;
    if (!delta_sizes(w.delta.data(), w.delta.size(), &base_size, &result_size) ||
        base_size != base.size())
        return failed;
    out.resize(size_t(result_size));
    // Every copy inside the base, the result exactly of its declared size.
    if (!apply_delta(base.data(), base.size(), w.delta.data(), w.delta.size(), out.data(),
                     out.size()))
        return failed;
    if (w.delta.capacity() > (size_t(1) << 20))
        std::vector<uint8_t>().swap(w.delta);
    return std::string();
}

void DeltaResolver::drop(Frame &f) {
    if (!f.loaded)
        return;
    cached_ -= f.data.size();
    std::vector<uint8_t>().swap(f.data);
    f.loaded = false;
}

// Makes stack[level]'s content again: from the nearest loaded frame below
// it (or the whole object at the bottom), each delta applied in turn.
std::string DeltaResolver::load(Worker &w, std::vector<Frame> &stack, size_t level) {
    if (stack[level].loaded)
        return std::string();
    size_t from = level;
    while (from > 0 && !stack[from - 1].loaded)
        from--;
    std::vector<uint8_t> cur, next;
    if (from == 0) {
        if (std::string err = inflate_entry(w, stack[0].entry, cur); !err.empty())
            return err;
    } else {
        if (std::string err = apply(w, stack[from].entry, stack[from - 1].data, cur); !err.empty())
            return err;
    }
    for (size_t k = from + 1; k <= level; k++) {
        if (std::string err = apply(w, stack[k].entry, cur, next); !err.empty())
            return err;
        cur.swap(next);
    }
    stack[level].data = std::move(cur);
    stack[level].loaded = true;
    cached_ += stack[level].data.size();
    return std::string();
}

// Counts the top frame's content against the cache, and drops the lowest
// others while the cache is over its limit.
void DeltaResolver::keep(Worker &, std::vector<Frame> &stack) {
    cached_ += stack.back().data.size();
    for (size_t k = 0; k + 1 < stack.size() && cached_.load() > options_.cache_limit; k++)
        drop(stack[k]);
}

void DeltaResolver::fail(std::string why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_.exchange(true))
        error_ = std::move(why);
}

// why long: one depth-first walk down a base's tree of deltas, each child
// claimed, applied, hashed and its links kept, its own children next.
std::string DeltaResolver::resolve_tree(Worker &w, uint32_t root) {
    std::vector<Frame> stack;
    stack.push_back(Frame{root, {}, false, children_of(root), 0});
    std::vector<uint8_t> result;
    while (!stack.empty()) {
        if (failed_.load(std::memory_order_relaxed))
            break;
        if (stack.back().next == stack.back().kids.size()) {
            drop(stack.back());
            stack.pop_back();
            continue;
        }
        const uint32_t c = stack.back().kids[stack.back().next++];
        if (c >= claimable_ || claimed_[c].exchange(true))
            continue;
        if (std::string err = load(w, stack, stack.size() - 1); !err.empty())
            return err;
        if (std::string err = apply(w, c, stack.back().data, result); !err.empty())
            return err;
        PackObjectEntry &e = entries_[c];
        const uint8_t type = entries_[stack.back().entry].real_type;
        e.oid = object_hash(w.sha, type, result.data(), result.size());
        e.real_type = type;
        w.links.add(e.oid, type, result.data(), result.size());
        if (options_.on_resolved) {
            // Counted under the lock: the reports go up, the last is all.
            std::lock_guard<std::mutex> lock(mutex_);
            options_.on_resolved(++resolved_);
        } else {
            ++resolved_;
        }
        // A base whose children are all made is not needed again: a chain
        // (one child each, the usual shape) holds one base at a time.
        if (stack.back().next == stack.back().kids.size())
            drop(stack.back());
        std::vector<uint32_t> kids = children_of(c);
        if (!kids.empty()) {
            stack.push_back(Frame{c, std::move(result), true, std::move(kids), 0});
            result = std::vector<uint8_t>();
            keep(w, stack);
        }
    }
    for (Frame &f : stack)
        drop(f);
    return std::string();
}

void DeltaResolver::run(Worker &w) {
    for (;;) {
        if (failed_.load())
            return;
        const size_t r = next_root_++;
        if (r >= roots_.size())
            return;
        try {
            if (std::string err = resolve_tree(w, roots_[r]); !err.empty())
                return fail(std::move(err));
        } catch (const std::exception &e) {
            return fail(std::string("index-pack: ") + e.what());
        }
    }
}

std::string DeltaResolver::resolve_all() {
    for (uint32_t i = 0; i < entries_.size(); i++)
        if (!is_delta(entries_[i].type) && !children_of(i).empty())
            roots_.push_back(i);
    const unsigned n = std::max(1u, std::min<unsigned>(options_.threads, unsigned(roots_.size())));
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned i = 0; i < std::max(1u, n); i++)
        workers.push_back(std::make_unique<Worker>());
    std::vector<std::thread> threads;
    try {
        for (unsigned i = 1; i < n; i++)
            threads.emplace_back([this, &workers, i] { run(*workers[i]); });
    } catch (const std::system_error &) {
        // Fewer threads than asked: the others do the work.
    }
    run(*workers[0]);
    for (std::thread &t : threads)
        t.join();
    for (auto &w : workers)
        links_.append(std::move(w->links));
    return error_;
}

std::string DeltaResolver::resolve_from(uint32_t root) {
    Worker w;
    std::string err;
    try {
        err = resolve_tree(w, root);
    } catch (const std::exception &e) {
        err = std::string("index-pack: ") + e.what();
    }
    links_.append(std::move(w.links));
    if (err.empty() && failed_.load())
        err = error_;
    return err;
}

ObjectLinks DeltaResolver::take_links() {
    ObjectLinks out = std::move(links_);
    links_ = ObjectLinks();
    return out;
}

} // namespace gsh::pack

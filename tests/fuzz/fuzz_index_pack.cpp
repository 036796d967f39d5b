// Our index-pack (push/index_pack.h) over any bytes, mutated real packs
// mostly. The first input byte picks the size of the pieces the rest is fed
// in: the verdict must be the one the whole input gets at once, on one
// thread; on two threads it must accept exactly what one thread accepts. A
// refused pack leaves nothing in the directory; an accepted one leaves its
// .pack, .idx and .rev. Thin bases are looked for in an empty object
// database.
#include <git2.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "push/index_pack.h"

namespace {

// Small enough that a few bytes of input reach the limit checks, and that
// no delta makes a large result.
constexpr uint64_t kMaxObject = 1 << 16;

struct Env {
    std::string dir;
    git_odb *odb = nullptr;
    Env() {
        git_libgit2_init();
        char tmpl[] = "/tmp/fuzz_index_pack_XXXXXX";
        if (!mkdtemp(tmpl))
            abort();
        dir = tmpl;
        if (git_odb_new(&odb) < 0)
            abort();
    }
    ~Env() {
        git_odb_free(odb);
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

size_t files(const std::string &dir) {
    size_t n = 0;
    for (const auto &e : std::filesystem::directory_iterator(dir))
        n += !e.path().empty();
    return n;
}

void clear(const std::string &dir) {
    for (const auto &e : std::filesystem::directory_iterator(dir))
        std::filesystem::remove(e.path());
}

std::string verdict(Env &env, const uint8_t *data, size_t size, size_t step, unsigned threads) {
    gsh::pack::IndexPackOptions opts;
    opts.limits.max_object_size = kMaxObject;
    opts.threads = threads;
    std::string err;
    {
        gsh::pack::PackIndexer ix(env.dir, env.odb, opts);
        bool ok = true;
        for (size_t pos = 0; ok && pos < size; pos += step)
            ok = ix.feed(data + pos, std::min(step, size - pos));
        if (ok)
            ok = ix.finish();
        err = ok ? std::string() : ix.error();
        if (!ok && err.empty())
            abort();
    }
    if (files(env.dir) != (err.empty() ? 3u : 0u))
        abort();
    clear(env.dir);
    return err;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Env env;
    if (size < 1)
        return 0;
    const size_t step = 1 + data[0] % 61;
    data++;
    size--;
    const std::string whole = verdict(env, data, size, size ? size : 1, 1);
    const std::string pieces = verdict(env, data, size, step, 1);
    if (whole != pieces)
        abort();
    const std::string threaded = verdict(env, data, size, step, 2);
    if (whole.empty() != threaded.empty())
        abort();
    if (!whole.empty() && whole.find('\n') != std::string::npos)
        abort();
    return 0;
}

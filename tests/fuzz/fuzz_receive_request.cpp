// A push request body (commands, capabilities, push options, pack) answered
// through the C API, as the module does for POST <repo>/git-receive-pack, on
// a copy of the fixture's push.git (receive-pack on for anyone): a client's
// mistake is a 4xx or a refusal in the report, never a crash or a 5xx, and
// no input leaves a quarantine, a temporary file or a lock behind. The copy
// is put back after every input that changed it, so that accepted pushes
// neither accumulate nor fill the disk (a pack is never larger than its
// input).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>

#include "fuzz_fixture.h"
#include "git_smart_http.h"

namespace {

namespace fs = std::filesystem;

// Every file and folder under a repository: size and mtime for files (a ref
// rewritten in place changes its mtime), nothing for folders (their mtime
// changes with every quarantine made and removed).
using Listing = std::map<std::string, std::pair<std::uintmax_t, fs::file_time_type>>;

Listing list(const std::string &dir) {
    Listing out;
    for (const fs::directory_entry &e : fs::recursive_directory_iterator(dir)) {
        const std::string rel = fs::relative(e.path(), dir).string();
        if (e.is_regular_file())
            out[rel] = {e.file_size(), e.last_write_time()};
        else
            out[rel] = {0, fs::file_time_type()};
    }
    return out;
}

// What an ended push may never leave: its quarantine (objects/incoming-*),
// a temporary file of libgit2 or git (tmp_*, tmp-*, outside refs), a lock
// (*.lock).
void check_nothing_left(const Listing &listing) {
    for (const auto &[rel, info] : listing) {
        const std::string name = fs::path(rel).filename().string();
        // A pushed ref may well be named refs/heads/tmp-x (its reflog too);
        // no ref name ends in .lock.
        const bool ref = rel.starts_with("refs/") || rel.starts_with("logs/");
        if ((!ref && (name.starts_with("incoming-") || name.starts_with("tmp_") ||
                      name.starts_with("tmp-"))) ||
            name.ends_with(".lock")) {
            std::fprintf(stderr, "the push left %s behind\n", rel.c_str());
            abort();
        }
    }
}

class PushRepo {
  public:
    PushRepo() {
        pristine_ = fs::path(gsh::fuzz::fixture_repo()).parent_path() / "push.git";
        root_ = gsh::fuzz::temp_folder().str() + "/served";
        live_ = root_ + "/push.git";
        if (gsh_global_init() != 0)
            abort();
        restore();
    }

    const std::string &root() const { return root_; }

    // After an input: checks what it left, and puts the copy back if it
    // changed anything.
    void after_input() {
        const Listing now = list(live_);
        check_nothing_left(now);
        if (now != listing_)
            restore();
    }

  private:
    void restore() {
        std::error_code ec;
        fs::remove_all(live_, ec);
        fs::create_directories(root_);
        fs::copy(pristine_, live_, fs::copy_options::recursive, ec);
        if (ec) {
            std::fprintf(stderr, "fuzz fixture: copying %s: %s\n", pristine_.c_str(),
                         ec.message().c_str());
            abort();
        }
        listing_ = list(live_);
    }

    std::string pristine_, root_, live_;
    Listing listing_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static PushRepo repo;
    static const char kName[] = "push.git";
    static const char kAddr[] = "127.0.0.1";
    gsh_request req = {};
    req.kind = GSH_RPC_RECEIVE_PACK;
    req.root = repo.root().data();
    req.root_len = repo.root().size();
    req.repo = kName;
    req.repo_len = sizeof kName - 1;
    req.export_all = 1;
    // Small, so that the fuzzer can reach it.
    req.max_request_size = 1 << 20;
    req.remote_addr = kAddr;
    req.remote_addr_len = sizeof kAddr - 1;
    gsh_session *s = gsh_session_create(&req);
    if (!s || gsh_session_add_body(s, data, size) != 0)
        abort();
    const int status = gsh_session_open(s);
    if (status >= 500 || (status != 200 && status < 400)) {
        std::fprintf(stderr, "push body gave HTTP %d: %s\n", status, gsh_session_message(s));
        abort();
    }
    if (status == 200) {
        unsigned char buf[65536];
        int rc = GSH_AGAIN;
        for (int round = 0; rc == GSH_AGAIN; round++) {
            if (round > 10000) {
                std::fprintf(stderr, "the push response does not end\n");
                abort();
            }
            size_t written = 0;
            rc = gsh_session_read(s, buf, sizeof buf, &written);
        }
        if (rc != GSH_DONE) {
            std::fprintf(stderr, "push response failed: %s\n", gsh_session_message(s));
            abort();
        }
    }
    gsh_session_destroy(s);
    repo.after_input();
    return 0;
}

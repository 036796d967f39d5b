// The extern "C" functions of git_smart_http.h: no exception gets past them.
#include "git_smart_http.h"

#include <git2.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <string>

#include "protocol/v2_request.h"
#include "repo/repo_cache.h"
#include "repo/repo_path.h"
#include "service/response_tee.h"
#include "service/session.h"
#include "util/error.h"

struct gsh_session {
    explicit gsh_session(const gsh_request &req) : impl(req) {}
    gsh::Session impl;
    gsh::ResponseTee tee;
    std::string log_message; // impl.message with client bytes escaped
    std::string log_note;    // impl.client_note(), likewise
};

namespace {

// Messages quote what the client sent; the error log must not receive its
// control characters (forged lines, terminal escapes) or raw non-ASCII bytes.
std::string escaped(const std::string &in) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(in.size());
    for (unsigned char c : in) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(char(c));
        } else {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::atomic<size_t> live_sessions{0};

constexpr size_t kMinMapped = size_t(256) << 20;

// The HTTP status of an open, with the message of a failure.
template <typename Open> int open_status(gsh_session *s, Open &&open) {
    try {
        return open();
    } catch (const gsh::Error &e) {
        s->impl.message = e.what();
        return e.http_status();
    } catch (const std::bad_alloc &) {
        s->impl.message = "out of memory";
        return 500;
    } catch (const std::exception &e) {
        s->impl.message = e.what();
        return 500;
    } catch (...) {
        s->impl.message = "unknown error";
        return 500;
    }
}

} // namespace

extern "C" {

int gsh_global_init(void) {
    if (git_libgit2_init() < 0)
        return -1;
    // Repositories on a server belong to other users; git's safe.directory
    // guards a user's own shell, not a daemon serving them.
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
    return 0;
}

// The size is shared: a quarter for libgit2's object cache (commits and
// trees parsed through the handles the repository cache keeps; libgit2
// bounds it over all of them), the rest for the repository cache. Pack
// files likewise: a quarter for libgit2's (it closes the least recently
// used one that no read is using), the rest for our snapshots. libgit2's
// mapped pack windows are file pages, not anonymous memory: they get the
// size, but at least kMinMapped, since below that reads that alternate
// between packs would unmap and map windows again and again.
int gsh_cache_configure(size_t bytes, size_t open_files) {
    if (bytes == 0 || open_files == 0)
        return -1;
    try {
        const size_t git_bytes = bytes / 4;
        const size_t git_files = open_files / 4 ? open_files / 4 : 1;
        if (git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, ssize_t(git_bytes)) < 0 ||
            git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, git_files) < 0 ||
            git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, std::max(bytes, kMinMapped)) < 0)
            return -1;
        gsh::CacheLimits limits;
        limits.bytes = bytes - git_bytes;
        limits.open_files = open_files > git_files ? open_files - git_files : 1;
        gsh::RepoCache::process().set_limits(limits);
        return 0;
    } catch (...) {
        return -1;
    }
}

size_t gsh_live_sessions(void) {
    return live_sessions.load(std::memory_order_relaxed);
}

void gsh_release_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

int gsh_repository_status(const gsh_request *req) {
    try {
        gsh::resolve_repository(std::string_view(req->root, req->root_len),
                                std::string_view(req->repo, req->repo_len), req->export_all != 0);
        return 200;
    } catch (const gsh::Error &e) {
        return e.http_status();
    } catch (...) {
        return 500;
    }
}

gsh_session *gsh_session_create(const gsh_request *req) {
    try {
        gsh_session *s = new gsh_session(*req);
        live_sessions.fetch_add(1, std::memory_order_relaxed);
        return s;
    } catch (...) {
        return nullptr;
    }
}

int gsh_session_add_body(gsh_session *s, const void *data, size_t len) {
    try {
        s->impl.body().add_memory(data, len);
        return 0;
    } catch (...) {
        return -1;
    }
}

int gsh_session_add_body_file(gsh_session *s, int fd, off_t offset, size_t len) {
    try {
        s->impl.body().add_file(fd, offset, len);
        return 0;
    } catch (...) {
        return -1;
    }
}

int gsh_session_open(gsh_session *s) {
    return open_status(s, [s] { return s->impl.open(); });
}

int gsh_session_open_on_loop(gsh_session *s) {
    return open_status(s, [s] { return s->impl.open_on_loop(); });
}

const char *gsh_session_content_type(const gsh_session *s) {
    return s->impl.content_type();
}

long long gsh_session_content_length(const gsh_session *s) {
    return s->impl.content_length();
}

const char *gsh_session_repo_path(const gsh_session *s) {
    return s->impl.repo_path().c_str();
}

const char *gsh_session_file_dir(const gsh_session *s) {
    return s->impl.file_dir().c_str();
}

const char *gsh_session_warning(const gsh_session *s) {
    return s->impl.warning().c_str();
}

const char *gsh_session_message(const gsh_session *s) {
    auto *session = const_cast<gsh_session *>(s);
    try {
        session->log_message = escaped(s->impl.message);
        return session->log_message.c_str();
    } catch (...) {
        return "out of memory";
    }
}

const char *gsh_session_client_note(const gsh_session *s) {
    auto *session = const_cast<gsh_session *>(s);
    try {
        session->log_note = escaped(s->impl.client_note());
        return session->log_note.c_str();
    } catch (...) {
        return "";
    }
}

int gsh_session_read(gsh_session *s, unsigned char *buf, size_t cap, size_t *written) {
    try {
        const int rc = s->impl.read(buf, cap, written);
        s->tee.add(buf, *written);
        return rc;
    } catch (...) {
        *written = 0;
        s->impl.message = "unexpected failure while writing the response";
        return GSH_ERROR;
    }
}

int gsh_session_read_pieces(gsh_session *s, unsigned char *buf, size_t cap, size_t *written,
                            gsh_piece *pieces, size_t max, size_t *npieces) {
    *npieces = 0;
    if (max < 4) {
        *written = 0;
        s->impl.message = "gsh_session_read_pieces: fewer than 4 pieces";
        return GSH_ERROR;
    }
    try {
        gsh::ResponsePieces out(buf, pieces, max);
        const int rc = s->impl.read(buf, cap, written, &out);
        *npieces = out.finish(buf + *written);
        s->tee.add(buf, pieces, *npieces);
        return rc;
    } catch (...) {
        *written = 0;
        *npieces = 0;
        s->impl.message = "unexpected failure while writing the response";
        return GSH_ERROR;
    }
}

int gsh_session_cache_key(const gsh_session *s, unsigned char key[20], unsigned char stamp[20]) {
    try {
        return s->impl.cache_key(key, stamp) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

void gsh_session_tee(gsh_session *s, int fd) {
    s->tee.start(fd);
}

const char *gsh_session_tee_error(const gsh_session *s) {
    return s->tee.error().c_str();
}

unsigned long long gsh_session_pack_objects(const gsh_session *s) {
    return s->impl.pack_objects();
}

unsigned long long gsh_session_pack_bytes(const gsh_session *s) {
    return s->impl.pack_bytes();
}

void gsh_session_get_stats(const gsh_session *s, gsh_session_stats *st) {
    const gsh::RequestSummary &sum = s->impl.summary();
    st->command = sum.command.empty() ? nullptr : sum.command.c_str();
    st->wants = sum.wants;
    st->haves = sum.haves;
    st->depth = sum.depth;
    st->filter = sum.filter ? sum.filter->data() : nullptr;
    st->filter_len = sum.filter ? sum.filter->size() : 0;
    st->refused = s->impl.refused() ? 1 : 0;
    st->pack = s->impl.sends_pack() ? 1 : 0;
    st->pack_objects = s->impl.pack_objects();
    st->pack_bytes = s->impl.pack_bytes();
    for (size_t i = 0; i < GSH_PHASES; i++)
        st->phase_seconds[i] = s->impl.times().seconds(static_cast<gsh::Phase>(i));
}

static_assert(gsh::kPhaseCount == GSH_PHASES &&
                  static_cast<int>(gsh::Phase::hooks) == GSH_PHASE_HOOKS,
              "gsh::Phase and gsh_phase name the same phases in the same order");

const char *gsh_phase_name(int phase) {
    static const char *const names[] = {"parse",   "negotiate", "count", "plan", "write",
                                        "receive", "index",     "check", "refs", "hooks"};
    static_assert(sizeof(names) / sizeof(names[0]) == GSH_PHASES);
    return phase >= 0 && phase < GSH_PHASES ? names[phase] : nullptr;
}

int gsh_protocol_version(const char *git_protocol, size_t len) {
    if (!git_protocol || len == 0)
        return 0;
    return gsh::proto::protocol_version(std::string_view(git_protocol, len));
}

int gsh_session_sends_pack(const gsh_session *s) {
    return s->impl.sends_pack() ? 1 : 0;
}

const char *gsh_session_metrics_command(const gsh_session *s) {
    return s->impl.command();
}

int gsh_session_metrics_protocol(const gsh_session *s) {
    return s->impl.protocol_version();
}

void gsh_session_stop_pack(gsh_session *s) {
    s->impl.stop_pack();
}

size_t gsh_session_interim(gsh_session *s, unsigned char *buf, size_t cap) {
    try {
        return s->impl.interim(buf, cap);
    } catch (...) {
        return 0;
    }
}

void gsh_session_destroy(gsh_session *s) {
    if (s)
        live_sessions.fetch_sub(1, std::memory_order_relaxed);
    delete s;
}
}

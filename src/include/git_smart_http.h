/*
 * The C boundary of the git Smart HTTP core. ngx_module/ sees only this file.
 *
 * A session answers one HTTP request. It is created on the event loop (no I/O),
 * then opened and read on a thread-pool thread (blocking I/O allowed), never on
 * two threads at once. No C++ exception crosses this boundary: every function
 * catches and reports through its return value and gsh_session_message().
 */
#ifndef GIT_SMART_HTTP_H
#define GIT_SMART_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsh_session gsh_session;

/* What the HTTP request asks for. */
typedef enum {
    GSH_ADVERTISE_UPLOAD_PACK = 0, /* GET  <repo>/info/refs?service=git-upload-pack */
    GSH_RPC_UPLOAD_PACK = 1,       /* POST <repo>/git-upload-pack */
    GSH_ADVERTISE_RECEIVE_PACK = 2, /* GET  <repo>/info/refs?service=git-receive-pack */
    GSH_RPC_RECEIVE_PACK = 3,       /* POST <repo>/git-receive-pack */
    /* The dumb protocol (git_smart_http_dumb), GET or HEAD: */
    GSH_DUMB_INFO_REFS = 4,  /* <repo>/info/refs without ?service */
    GSH_DUMB_HEAD = 5,       /* <repo>/HEAD */
    GSH_DUMB_INFO_PACKS = 6, /* <repo>/objects/info/packs */
    GSH_DUMB_FILE = 7,       /* a file the module sends itself (objects,
                                packs, alternates): the session only finds
                                the repository and checks http.getanyfile */
    /* Published base packs (git_smart_http_publish), GET or HEAD: */
    GSH_PUBLISHED_FILE = 8,  /* <repo>/published/pack-<hash>.pack or
                                bundle-<hash>.bundle: a file the module sends
                                from gsh_session_file_dir() */
    GSH_PUBLISHED_LIST = 9   /* <repo>/published/bundle-list: the bundle
                                list (git config format), made by the session,
                                which publishes a base first when one is due */
} gsh_request_kind;

/* Results of gsh_session_read(). */
enum { GSH_AGAIN = 0, GSH_DONE = 1, GSH_ERROR = -1 };

typedef struct {
    gsh_request_kind kind;
    const char *root; /* absolute path of the repositories' root */
    size_t root_len;
    const char *repo; /* URI after the location prefix, decoded, without the
                         /info/refs or /git-upload-pack suffix */
    size_t repo_len;
    const char *git_protocol; /* value of the Git-Protocol header, or NULL */
    size_t git_protocol_len;
    const char *content_encoding; /* value of Content-Encoding, or NULL */
    size_t content_encoding_len;
    int export_all;          /* serve repositories without git-daemon-export-ok */
    size_t max_request_size; /* request body after gzip inflation; 0: 64 MiB */
    size_t max_wants;        /* per request; 0: unlimited */
    size_t max_haves;        /* per request; 0: unlimited */
    int allow_filter;        /* partial clone, when the repository allows it too
                                (uploadpack.allowFilter) */
    /* Push (the receive-pack kinds only; the module sends those kinds only
     * when git_smart_http_receive_pack is on). */
    const char *remote_user; /* $remote_user, or NULL when nginx has none: as
                                git http-backend's REMOTE_USER, it enables
                                receive-pack unless http.receivepack says */
    size_t remote_user_len;
    const char *remote_addr; /* $remote_addr, for the committer identity of
                                reflogs and hooks, as git http-backend sets it */
    size_t remote_addr_len;
    int run_hooks;           /* git_smart_http_hooks: run pre-receive, update,
                                post-receive and post-update */
    size_t max_object_size;  /* git_smart_http_max_object_size: every pushed
                                object's declared size and every delta's
                                declared result size; 0: no limit */
    /* Published base packs (git_smart_http_publish); upload-pack and the
     * published kinds only. */
    const char *publish_dir; /* the folder, or NULL: publishing is off */
    size_t publish_dir_len;
    long long publish_interval; /* seconds: a new base once the current one
                                   is this old and the refs changed */
    long long publish_grace;    /* seconds a replaced base's files stay */
    const char *publish_url;    /* where clients find the repository's
                                   published files: the URL that names
                                   pack-<hash>.pack when the name is appended */
    size_t publish_url_len;
    int packfile_uris;          /* offer packfile-uris to a v2 clone that
                                   asks for them */
    int bundle_uri;             /* advertise and answer the v2 bundle-uri
                                   command */
} gsh_request;

/* Once per process, before any session (e.g. in init_process). 0 on success. */
int gsh_global_init(void);

/* The process's caches (git_smart_http_cache_size): at most bytes for the
 * repositories served lately and libgit2's caches, and at most open_files
 * pack files held open by them. Once per process, after gsh_global_init()
 * and before any session. 0 on success, -1 when bytes or open_files is 0. */
int gsh_cache_configure(size_t bytes, size_t open_files);

/* Sessions of this process not yet destroyed. */
size_t gsh_live_sessions(void);

/* Gives the memory that the process's allocator holds unused (every
 * thread's arena) back to the system. For when no session is live: it
 * walks every arena, a millisecond or so with many. */
void gsh_release_memory(void);

/* Whether req names a repository that is served: 200, or 404 as
 * gsh_session_open() would answer. A few stat() calls and no more, so that
 * refusals (403, 415) can say 404 first for a missing repository, as git
 * http-backend does, without a thread hop. */
int gsh_repository_status(const gsh_request *req);

/* Copies what it needs from req; does no I/O. NULL only when out of memory. */
gsh_session *gsh_session_create(const gsh_request *req);

/* Request body pieces, in order. Memory is copied; a file piece is read by
 * gsh_session_open() with pread(), so fd must stay open until then.
 * 0 on success, -1 when out of memory. */
int gsh_session_add_body(gsh_session *s, const void *data, size_t len);
int gsh_session_add_body_file(gsh_session *s, int fd, off_t offset, size_t len);

/* Blocking. Finds and opens the repository, reads and checks the request.
 * Returns the HTTP status of the response: 200, or 400/403/404/413/500 with
 * gsh_session_message() saying why (for the error log, not the client). */
int gsh_session_open(gsh_session *s);

/* gsh_session_open() for what can be answered on the event loop: the
 * advertisement or ls-refs of a repository whose state is cached and has not
 * changed (checked with a few stat() and readdir() calls, as nginx's static
 * handler does), or an error found without reading anything. Returns 0 when
 * the request needs gsh_session_open() on a thread instead; otherwise as
 * gsh_session_open(), and the whole response is then in memory:
 * gsh_session_read() does not block. */
int gsh_session_open_on_loop(gsh_session *s);

/* Content-Type of a 200 response. Valid after gsh_session_open(). */
const char *gsh_session_content_type(const gsh_session *s);

/* The length of a 200 response's body when it is known after the open (the
 * dumb kinds), else -1. */
long long gsh_session_content_length(const gsh_session *s);

/* The repository's git directory (absolute, resolved, NUL-terminated) after
 * an open that found it, else "". */
const char *gsh_session_repo_path(const gsh_session *s);

/* The folder a GSH_DUMB_FILE (the git directory) or a GSH_PUBLISHED_FILE
 * (the repository's published files) is read from, after an open that found
 * it, else "". NUL-terminated. */
const char *gsh_session_file_dir(const gsh_session *s);

/* What went wrong that the response survives, for the error log (a publish
 * that failed: the clone then gets a whole pack), or "". Valid after
 * gsh_session_open(). */
const char *gsh_session_warning(const gsh_session *s);

/* Why the last call failed, or "" (NUL-terminated, owned by the session,
 * valid until the next call on it). Bytes the client sent are \xNN-escaped
 * unless printable ASCII, so the text is safe for the error log. */
const char *gsh_session_message(const gsh_session *s);

/* What the client says about itself that git only records: its session-id
 * and its protocol v2 server options, e.g. `session-id "x", server-option
 * "y"`, escaped as gsh_session_message() is; "" when it said nothing. Valid
 * after gsh_session_open(), until the next call on the session. */
const char *gsh_session_client_note(const gsh_session *s);

/* Blocking. Writes at most cap bytes of the response body into buf and sets
 * *written. Returns GSH_AGAIN while more is to come, GSH_DONE after the last
 * byte, GSH_ERROR when the response cannot be completed (the message says
 * why; whatever was written before stays valid to send). */
int gsh_session_read(gsh_session *s, unsigned char *buf, size_t cap, size_t *written);

/* A piece of a response as gsh_session_read_pieces() hands it out: the next
 * len bytes of the caller's buffer (fd < 0), or len bytes of an open file at
 * offset, to be sent as they are (sendfile). */
typedef struct {
    int fd;
    off_t offset;
    size_t len;
} gsh_piece;

/* As gsh_session_read(), but pack bytes that are a pack file's bytes on disk
 * may come as file pieces instead of being copied into buf. Fills up to max
 * pieces (at least 4) in the order they are to be sent and sets *npieces;
 * the buffer pieces take buf's *written bytes in turn. A read that takes a
 * file piece may end before buf is full. The files stay open until
 * gsh_session_destroy(). */
int gsh_session_read_pieces(gsh_session *s, unsigned char *buf, size_t cap, size_t *written,
                            gsh_piece *pieces, size_t max, size_t *npieces);

/* --- For the module's pack cache. --- */

/* After gsh_session_open() with 200: 1 when the response may be kept and
 * replayed to the same request on the same repository state: a fetch whose
 * pack does not depend on what the client has (no haves), not yet read.
 * key (20 bytes) then names the repository and the request as normalised
 * (wants as a set; depth, shallow, filter and every capability that changes
 * the bytes; not the agent or session-id); stamp (20 bytes) the repository's
 * refs and packs, which a push or repack changes. 0 for any other. */
int gsh_session_cache_key(const gsh_session *s, unsigned char key[20], unsigned char stamp[20]);

/* Every byte that reads hand out from now on (memory and file pieces) is
 * also written to fd, by the reading thread, in order. fd stays the
 * caller's. A write that fails ends the copy, not the response: see
 * gsh_session_tee_error(). */
void gsh_session_tee(gsh_session *s, int fd);

/* Why the copy of gsh_session_tee() stopped (NUL-terminated), or "". */
const char *gsh_session_tee_error(const gsh_session *s);

/* Counters for logs, valid at any time: the pack sent, or for a push the
 * pack received. */
unsigned long long gsh_session_pack_objects(const gsh_session *s);
unsigned long long gsh_session_pack_bytes(const gsh_session *s);

/* The phases of a request whose time is measured: a fetch's parse (the
 * request's lines), negotiate (haves with ACK/NAK, shallow; not for a clone),
 * count (the objects to send), plan (deltas and order) and write (the pack's
 * bytes, the core's own time only, summed over reads); a push's parse (its
 * commands), receive (the pack read, with the indexer's first pass), index
 * (deltas resolved, the .idx, the connectivity walk; a small push exploded to
 * loose objects), check (fsck and each command's checks), refs (objects
 * migrated and refs updated) and hooks (all four summed). */
typedef enum {
    GSH_PHASE_PARSE = 0,
    GSH_PHASE_NEGOTIATE,
    GSH_PHASE_COUNT,
    GSH_PHASE_PLAN,
    GSH_PHASE_WRITE,
    GSH_PHASE_RECEIVE,
    GSH_PHASE_INDEX,
    GSH_PHASE_CHECK,
    GSH_PHASE_REFS,
    GSH_PHASE_HOOKS,
    GSH_PHASES /* how many */
} gsh_phase;

/* "parse", "negotiate", ... as the enum names them, lower case; NULL for a
 * value out of range. A static string. */
const char *gsh_phase_name(int phase);

/* What a request asked for and what it got, for access-log variables. A
 * field is "not known" (NULL or -1) until the request has been read that
 * far: a request refused before its body was read has no command. */
typedef struct {
    const char *command; /* "advertise", "ls-refs", "fetch", "object-info",
                            "receive-pack" (NUL-terminated), or NULL */
    long long wants;     /* want and want-ref lines of a fetch request as
                            sent; -1 for other commands */
    long long haves;     /* have lines, likewise */
    long long depth;     /* N of "deepen N" (--depth, --deepen,
                            --unshallow sends 2147483647); -1: none */
    const char *filter;  /* the filter spec as the client sent it (raw
                            bytes, filter_len of them), or NULL */
    size_t filter_len;
    int refused;                     /* the response is a refusal the client shows
                                        (an ERR line: not our ref, a limit, a filter
                                        the repository refuses) */
    int pack;                        /* a pack is part of the response */
    unsigned long long pack_objects; /* written so far */
    unsigned long long pack_bytes;   /* pack bytes written so far */
    double phase_seconds[GSH_PHASES]; /* by gsh_phase, so far; < 0: the
                                         phase did not happen */
} gsh_session_stats;

/* Fills *st. Not while a task runs on the session; the pointers stay valid
 * until the next call on the session. */
void gsh_session_get_stats(const gsh_session *s, gsh_session_stats *st);

/* The protocol version a Git-Protocol header value asks for (0, 1 or 2), as
 * the session reads it and as git reads GIT_PROTOCOL: the highest of the
 * ':'-separated items that are exactly "version=0", "version=1" or
 * "version=2"; anything else ("version=23", " version=2", "VERSION=2") is
 * ignored. len 0 or NULL: 0. The module's one reading of the header. */
int gsh_protocol_version(const char *git_protocol, size_t len);
/* --- For shared limits, the pack timeout and metrics (the module's zone and
 * metrics files). --- */

/* Whether the response goes on to a pack after what open() prepared (a fetch
 * that is done negotiating), as opposed to an advertisement, ls-refs,
 * object-info or a negotiation round. Valid after gsh_session_open(). */
int gsh_session_sends_pack(const gsh_session *s);

/* What the request was, for metrics labels: "advertise", "ls-refs", "fetch"
 * (a v2 fetch, or a v0/v1 upload-pack POST), "object-info", "receive-pack"
 * (a push; its advertisement is "advertise"), or "unknown" when
 * the request could not be parsed. A static string. */
const char *gsh_session_metrics_command(const gsh_session *s);

/* The protocol version the request asked for with Git-Protocol: 0, 1 or 2
 * (gsh_protocol_version() of the header value it was given). */
int gsh_session_metrics_protocol(const gsh_session *s);

/* One of the two calls that may be made while a read runs on another
 * thread: asks the session to end its pack. The read in flight (or the next
 * one) stops at its next check (between pack chunks, every 1024 objects of
 * the count, between the steps of planning the pack) and ends the response
 * with a side-band 3 message (a bare v0 pack is cut short instead) and
 * GSH_ERROR. A read blocked in a system call stops only after that call
 * returns. */
void gsh_session_stop_pack(gsh_session *s);

/* The other call that may be made while a read runs on another thread
 * (never two of these at once). A read that starts a pack first returns
 * what precedes it; the next read counts the objects and plans the pack,
 * which may take long with nothing written. While it does, this call writes
 * into buf (at most cap bytes, whole pkt-lines only) what may go out ahead
 * of that read's result: the count's progress lines (side-band 2, unless the
 * client said no-progress), or, when nothing went out for
 * uploadpack.keepAlive seconds (default 5, 0: none), git's keepalive, an
 * empty side-band 1 pkt-line. A push (GSH_RPC_RECEIVE_PACK) does all its
 * work in its first read; while it runs, this hands out its side-band 2
 * (progress unless the client said quiet, hook output, errors) and, once
 * the pack is read, keepalives after receive.keepAlive seconds of silence,
 * when the client asked for side-band-64k. Returns the bytes written, 0 when
 * there is nothing to send now or interim output is not allowed (no count
 * or push under way, a bare v0 pack, a push without side-band). Bytes it returned must be sent before the buffer of the
 * read in flight. Never blocks for long: the caller is the event loop. */
size_t gsh_session_interim(gsh_session *s, unsigned char *buf, size_t cap);

void gsh_session_destroy(gsh_session *s);

#ifdef __cplusplus
}
#endif

#endif

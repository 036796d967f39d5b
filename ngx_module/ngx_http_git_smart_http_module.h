
/*
 * Git Smart HTTP for nginx: declarations shared by the module's C files.
 *
 *   ngx_http_git_smart_http_module.c   the module: directives, their merge,
 *                                      the zone's registration, process init
 *   ngx_http_git_smart_http_handler.c  content handler: routing, URI checks,
 *                                      request body, session creation
 *   ngx_http_git_smart_http_route.c    the routing and URI checks in plain
 *                                      C, no nginx header (fuzzed alone)
 *   ngx_http_git_smart_http_stream.c   thread-pool tasks, the pack progress
 *                                      timeout, streaming of the response
 *                                      with back-pressure
 *   ngx_http_git_smart_http_interim.c  progress and keepalives sent while a
 *                                      task plans a pack or does a push
 *   ngx_http_git_smart_http_dumb.c     the dumb protocol's object and pack
 *                                      files, sent as static files
 *   ngx_http_git_smart_http_limit.c    max_concurrent and queue: a request's
 *                                      pack slot, its wait, its refusal
 *   ngx_http_git_smart_http_zone.c     the shared zone: its slot table and
 *                                      workers, where the counters live
 *   ngx_http_git_smart_http_metrics.c  counters in the zone, Prometheus
 *                                      text on a location of its own
 *   ngx_http_git_smart_http_outcome.c  how a request ended, for $git_status
 *                                      and the metrics
 *   ngx_http_git_smart_http_variables.c  the $git_* variables for logs
 *   ngx_http_git_smart_http_user.c     who is pushing
 *   ngx_http_git_smart_http_util.c     header and log helpers that call no
 *                                      other file
 *   ngx_http_git_smart_http_memory.c   the worker's memory given back to
 *                                      the system once no request runs
 *                                      (a thread-pool task)
 *   ngx_http_git_smart_http_cache.c    a request's way with the pack cache:
 *                                      the writer's copy, hits, followers
 *   ngx_http_git_smart_http_cache_zone.c  the pack cache's index in a
 *                                      shared zone, its directives
 *   ngx_http_git_smart_http_publish.c  published base packs: directives,
 *                                      what a request is told of them
 *
 * A file calls only files of a lower layer (none calls back up):
 *   module
 *   handler, variables
 *   stream
 *   interim, dumb, limit, cache
 *   metrics
 *   outcome, zone, user, util, route, memory, cache_zone, publish
 *                                              (these call no other file)
 */


#ifndef _NGX_HTTP_GIT_SMART_HTTP_MODULE_H_INCLUDED_
#define _NGX_HTTP_GIT_SMART_HTTP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <git_smart_http.h>


#if !(NGX_THREADS)
#error the git_smart_http module requires nginx built with --with-threads
#endif


/*
 * Response buffers: the first is small, as most responses are (an
 * advertisement, ls-refs); a response that goes on gets large ones, each a
 * thread hop and a few syscalls fewer per megabyte.  At most
 * NGX_HTTP_GSH_BUFS large ones at once: one filled while one is sent.
 */
#define NGX_HTTP_GSH_FIRST_BUF_SIZE  65536
#define NGX_HTTP_GSH_BUF_SIZE        262144
#define NGX_HTTP_GSH_BUFS            2

/*
 * Pieces a read task may hand out (gsh_session_read_pieces): pack bytes
 * that are a pack file's on disk go out as file buffers (sendfile) between
 * pieces of the memory buffer, up to about half this many pkt-lines of
 * 64 KB per read.
 */
#define NGX_HTTP_GSH_PIECES          256

/* how long a request waits for a pack slot unless told (queue timeout=) */
#define NGX_HTTP_GSH_QUEUE_TIMEOUT  30000

/* period of the timer that marks a task in flight (see task_timer) */
#define NGX_HTTP_GSH_TASK_TIMER  60000

/*
 * while a read task counts objects and plans a pack, or does a push, the
 * core's interim output (progress lines, hook output, keepalives) is asked
 * for this often and sent in a buffer of this size
 */
#define NGX_HTTP_GSH_INTERIM_TIMER  1000
/* sooner while the core has more than a buffer's worth to hand out */
#define NGX_HTTP_GSH_INTERIM_AGAIN  10
#define NGX_HTTP_GSH_INTERIM_SIZE   4096

/* git_smart_http_cache_size and _open_files unless told */
#define NGX_HTTP_GSH_CACHE_SIZE        (64 * 1024 * 1024)
#define NGX_HTTP_GSH_CACHE_OPEN_FILES  128

/*
 * once no request runs, the worker's free memory goes back to the system
 * after this many milliseconds: at most that often under load
 */
#define NGX_HTTP_GSH_TRIM_DELAY  1000

/*
 * the pack cache: how often a follower looks at a file being written, and
 * the file's mode while it is written and once it is whole (the mark a
 * follower reads)
 */
#define NGX_HTTP_GSH_CACHE_TICK   10
#define NGX_HTTP_GSH_CACHE_TICK_MAX  320
/* a follower whose file has not grown for this long ends, unless
   git_smart_http_timeout (which bounds its writer too) is shorter */
#define NGX_HTTP_GSH_CACHE_IDLE   600000
#define NGX_HTTP_GSH_CACHE_PART   0600
#define NGX_HTTP_GSH_CACHE_WHOLE  0640


/* $git_cache_status, as $upstream_cache_status names them */
typedef enum {
    ngx_http_gsh_cache_none = 0,        /* not a cached location's pack */
    ngx_http_gsh_cache_miss,
    ngx_http_gsh_cache_hit,
    ngx_http_gsh_cache_updating,        /* followed a file being written */
    ngx_http_gsh_cache_expired,         /* made on an older repository
                                           state: made again */
    ngx_http_gsh_cache_bypass,          /* depends on the client's haves */
    ngx_http_gsh_cache_n
} ngx_http_gsh_cache_status_e;


/* a git_smart_http_pack_cache_path: see the cache zone file */
typedef struct ngx_http_gsh_cache_s  ngx_http_gsh_cache_t;


typedef struct {
    ngx_flag_t                  used;       /* "git_smart_http on" anywhere */
    ngx_flag_t                  metrics;    /* "git_smart_http_metrics" */
    ngx_shm_zone_t             *zone;       /* see the zone file */
    size_t                      cache_size; /* per worker */
    ngx_uint_t                  cache_open_files;
    ngx_array_t                *pack_caches; /* ngx_http_gsh_cache_t *,
                                                for the metrics */
} ngx_http_gsh_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;

    /*
     * the name of the location where "git_smart_http on" was given; the
     * repository is the URI after it; empty for regex and named locations
     * (then the whole URI names the repository); data is NULL when unset
     */
    ngx_str_t                   prefix;

    ngx_str_t                   root;       /* absolute, NUL-terminated */
    ngx_flag_t                  export_all;
    ngx_flag_t                  upload_pack;
    ngx_flag_t                  dumb;       /* the dumb protocol's files */
    ngx_flag_t                  receive_pack;
    ngx_flag_t                  hooks;      /* run the repository's hooks
                                               on push */
    ngx_http_complex_value_t   *user;       /* git_smart_http_user; NULL:
                                               see the user file */
    ngx_flag_t                  filter;     /* partial clone (--filter) */
    size_t                      max_request_size; /* after gzip inflation */
    size_t                      max_object_size;  /* pushed; 0: unlimited */
    ngx_uint_t                  max_wants;        /* 0: unlimited */
    ngx_uint_t                  max_haves;        /* 0: unlimited */
    ngx_thread_pool_t          *thread_pool;

    /* shared limits (the zone file) */
    ngx_int_t                   max_concurrent;   /* 0: unlimited */
    uint32_t                    limit_key;  /* where max_concurrent is set */
    ngx_int_t                   queue;
    ngx_msec_t                  queue_timeout;
    ngx_msec_t                  timeout;    /* pack progress; 0: none */

    ngx_shm_zone_t             *pack_cache; /* NULL: off */
    /* published base packs: see the publish file */
    ngx_str_t                   publish;    /* the folder, NUL-terminated;
                                               data NULL: unset, len 0: off */
    time_t                      publish_interval;
    time_t                      publish_grace;
    ngx_http_complex_value_t   *publish_url; /* NULL: the request's own */
    ngx_flag_t                  packfile_uris;
    ngx_flag_t                  bundle_uri;
} ngx_http_gsh_loc_conf_t;


typedef enum {
    ngx_http_gsh_op_open = 0,
    ngx_http_gsh_op_read
} ngx_http_gsh_op_e;


/*
 * What a thread-pool task sees.  The event loop does not touch it while
 * the task is in flight.
 */
typedef struct {
    gsh_session                *session;
    ngx_http_gsh_op_e           op;
    u_char                     *buf;
    size_t                      cap;
    size_t                      written;
    int                         rc;
    unsigned                    use_pieces:1;
    unsigned                    want_cache_key:1; /* an open, for the pack
                                                     cache */
    int                         cacheable;
    u_char                      cache_key[20];
    u_char                      cache_stamp[20];
    size_t                      npieces;
    gsh_piece                   pieces[NGX_HTTP_GSH_PIECES];
} ngx_http_gsh_task_ctx_t;


/*
 * A piece of a read sent by a buffer of its own: a part of the memory
 * buffer the read filled, or a range of a pack file.  The last piece of a
 * read gives the memory buffer back once it is sent.
 */
typedef struct ngx_http_gsh_piece_buf_s  ngx_http_gsh_piece_buf_t;

struct ngx_http_gsh_piece_buf_s {
    ngx_chain_t                 link;
    ngx_buf_t                   buf;
    ngx_file_t                  file;
    ngx_chain_t                *owner;      /* the memory buffer, or NULL */
    ngx_http_gsh_piece_buf_t   *next_free;
};


/* how a request ended: see the outcome file */
typedef enum {
    ngx_http_gsh_outcome_none = 0,      /* not known yet */
    ngx_http_gsh_outcome_ok,
    ngx_http_gsh_outcome_refused,       /* an ERR line the client shows */
    ngx_http_gsh_outcome_aborted,       /* the pack failed */
    ngx_http_gsh_outcome_timeout,
    ngx_http_gsh_outcome_client_closed,
    ngx_http_gsh_outcome_error,
    ngx_http_gsh_outcome_bad_request,
    ngx_http_gsh_outcome_forbidden,
    ngx_http_gsh_outcome_not_found,
    ngx_http_gsh_outcome_method_not_allowed,
    ngx_http_gsh_outcome_too_large,
    ngx_http_gsh_outcome_unsupported_media_type
} ngx_http_gsh_outcome_e;


typedef struct ngx_http_gsh_limit_s  ngx_http_gsh_limit_t;


typedef enum {
    ngx_http_gsh_err_limit = 0,         /* 429: slots and queue are full */
    ngx_http_gsh_err_queue_timeout,     /* 429: waited for too long */
    ngx_http_gsh_err_zone_full,         /* 503: no holder entry left */
    ngx_http_gsh_err_pack_timeout,      /* git_smart_http_timeout */
    ngx_http_gsh_err_pack_failed,       /* the core could not go on */
    ngx_http_gsh_err_client_closed,     /* the response was cut short */
    ngx_http_gsh_err_send_timeout,      /* nginx's send_timeout */
    ngx_http_gsh_err_client_error,      /* a 4xx answer of the core */
    ngx_http_gsh_err_server_error,      /* a 5xx answer */
    ngx_http_gsh_err_n
} ngx_http_gsh_err_e;


typedef struct {
    ngx_http_request_t         *request;
    gsh_session                *session;
    ngx_http_gsh_limit_t       *limit;      /* the limit file's; NULL when
                                               no slot is taken */
    ngx_thread_pool_t          *thread_pool;
    ngx_thread_task_t          *task;       /* one per request, reused */

    /*
     * armed while a task is in flight: a worker that shuts down gracefully
     * exits as soon as no timer is left, and must wait for the task
     */
    ngx_event_t                 task_timer;

    /* armed while a read task of a pack is in flight: see the stream file */
    ngx_event_t                 progress;   /* git_smart_http_timeout */
    ngx_msec_t                  task_start;
    ngx_msec_t                  pack_msec;  /* read tasks of the pack */

    /* armed while a large request body is read: see the body file */
    ngx_event_t                 body_timer;

    /* armed while a read task is in flight: see the interim file */
    ngx_event_t                 interim_timer;
    u_char                     *interim_data; /* NGX_HTTP_GSH_INTERIM_SIZE */
    ngx_buf_t                  *interim_sent; /* the last one sent */

    ngx_chain_t                *filling;    /* buffer the task writes into */
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    ngx_http_gsh_piece_buf_t   *free_pieces;
    ngx_uint_t                  nbufs;      /* large buffers made */
    off_t                       file_bytes; /* sent as file buffers */
    ngx_int_t                   open_status; /* of an open on the loop */

    gsh_request_kind            kind;
    ngx_str_t                   repo;       /* decoded, relative to root;
                                               data is NULL until known */
    ngx_str_t                   repo_log;   /* repo, escaped for error_log */
    ngx_str_t                   service;    /* "git-upload-pack", ... */
    ngx_int_t                   protocol;   /* of Git-Protocol; -1: unset */
    ngx_int_t                   error;      /* an ngx_http_gsh_err_e the
                                               metrics counted, or -1 */

    /* the pack cache: see the cache file */
    ngx_http_gsh_cache_t       *cache;
    u_char                      cache_key[20];
    u_char                      cache_stamp[20];
    uint64_t                    cache_gen;
    off_t                       cache_size; /* a HIT's, from the index */
    ngx_msec_t                  cache_idle; /* a follower's wait so far */
    ngx_msec_t                  cache_next; /* its next look, in ms */
    ngx_fd_t                    cache_fd;   /* written, or read */
    off_t                       cache_sent; /* read and handed to output */
    ngx_file_t                  cache_file; /* read */
    ngx_buf_t                  *cache_buf;
    ngx_event_t                 cache_tick; /* a follower's next look */
    ngx_http_gsh_cache_status_e cache_status;

    /*
     * a dumb file: its name in the git directory, its Content-Type; or a
     * published file's name in the repository's published folder
     */
    ngx_str_t                   file;
    const char                 *file_type;

    unsigned                    first_buf:1; /* the small one is made */
    unsigned                    on_loop:1;  /* answered with no thread */
    unsigned                    zero_copy:1; /* reads may hand out files */
    unsigned                    body_paced:1; /* SO_RCVLOWAT is set */
    unsigned                    task_busy:1;
    unsigned                    result:1;   /* a finished task to handle */
    unsigned                    streaming:1;
    unsigned                    eof:1;
    unsigned                    failed:1;
    unsigned                    pack:1;     /* a pack (or a push) runs:
                                               timed, counted, holds its slot */
    unsigned                    pack_ended:1;
    unsigned                    file_immutable:1; /* a dumb file that never
                                                     changes (objects, packs) */
    unsigned                    cache_write:1; /* the core copies into
                                                  cache_fd */
    unsigned                    cache_read:1;  /* the answer is cache_fd's */
    unsigned                    cache_hit:1;   /* cache_fd is finished */
    unsigned                    cache_keyed:1; /* to claim with its slot */
    unsigned                    cache_alone:1; /* a writer whose client is
                                                  gone: the pack goes on
                                                  into cache_fd only */
} ngx_http_gsh_ctx_t;


extern ngx_module_t  ngx_http_git_smart_http_module;


/* what the limit file calls when a queued request gets its slot */
typedef void (*ngx_http_gsh_granted_pt)(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);


/* the handler file: the location's content handler */
ngx_int_t ngx_http_gsh_handler(ngx_http_request_t *r);

/* the stream file: opens the session and answers with it */
ngx_int_t ngx_http_gsh_open(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx);

/* the body file: a large request body read in fewer wakeups */
void ngx_http_gsh_body_pace(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx);
void ngx_http_gsh_body_unpace(ngx_http_gsh_ctx_t *ctx);

/* the pieces file: a read's memory buffer and file ranges as nginx buffers */
ngx_uint_t ngx_http_gsh_zero_copy(ngx_http_request_t *r);
ngx_chain_t *ngx_http_gsh_pieces_chain(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_chain_t *owner, gsh_piece *pieces, size_t n);
void ngx_http_gsh_drop_chains(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t **out);
void ngx_http_gsh_update_chains(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_chain_t **out);

/* the cache file: a request's way with the pack cache */
ngx_uint_t ngx_http_gsh_cache_wanted(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
ngx_int_t ngx_http_gsh_cache_start(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
ngx_int_t ngx_http_gsh_cache_claim(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
void ngx_http_gsh_cache_check_tee(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
void ngx_http_gsh_cache_send(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx);
void ngx_http_gsh_cache_written(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
void ngx_http_gsh_cache_abandon(ngx_http_gsh_ctx_t *ctx);
ngx_int_t ngx_http_gsh_cache_alone(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, const char *why);
const char *ngx_http_gsh_cache_status_name(
    ngx_http_gsh_cache_status_e status);

/* the cache zone file: the pack cache's directives */
char *ngx_http_gsh_cache_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gsh_cache_use(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_gsh_cache_check(ngx_conf_t *cf, ngx_shm_zone_t *zone);
ngx_uint_t ngx_http_gsh_cache_metrics_size(ngx_array_t *caches);
u_char *ngx_http_gsh_cache_metrics(u_char *p, u_char *last,
    ngx_array_t *caches);

/* the interim file: the interim_timer's handler */
void ngx_http_gsh_interim_handler(ngx_event_t *ev);

/* the dumb file: a dumb protocol's file sent as nginx sends static files */
ngx_int_t ngx_http_gsh_send_file(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);

/* the limit file: a pack slot for the request */
void ngx_http_gsh_limit_init_process(void);
void ngx_http_gsh_memory_init_process(ngx_cycle_t *cycle);
void ngx_http_gsh_memory_session_ended(ngx_thread_pool_t *pool);
ngx_int_t ngx_http_gsh_limit_enter(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_granted_pt granted);
void ngx_http_gsh_limit_release(ngx_http_gsh_ctx_t *ctx);

/* the metrics file */
ngx_int_t ngx_http_gsh_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_gsh_metrics_log(ngx_http_request_t *r);
void ngx_http_gsh_metrics_error(ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_err_e kind);
void ngx_http_gsh_metrics_pack(ngx_http_gsh_ctx_t *ctx);

/* the outcome file: how the request ended, and its name for $git_status */
ngx_http_gsh_outcome_e ngx_http_gsh_outcome(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
const char *ngx_http_gsh_outcome_name(ngx_http_gsh_outcome_e outcome);

/* the zone file: the counts of this worker's requests in flight */
void ngx_http_gsh_zone_in_flight_add(ngx_int_t n);

/* the variables file */
ngx_int_t ngx_http_gsh_add_variables(ngx_conf_t *cf);

/* the user file: who is pushing */
ngx_int_t ngx_http_gsh_user(ngx_http_request_t *r, ngx_str_t *user);
void ngx_http_gsh_user_check_conf(ngx_conf_t *cf,
    ngx_http_gsh_loc_conf_t *conf);

/* the util file */
ngx_table_elt_t *ngx_http_gsh_find_header(ngx_http_request_t *r,
    const char *name, size_t len);
ngx_uint_t ngx_http_gsh_protocol(ngx_http_request_t *r);
ngx_int_t ngx_http_gsh_add_header(ngx_http_request_t *r, const char *key,
    size_t key_len, const char *value, size_t value_len);
ngx_int_t ngx_http_gsh_set_nocache(ngx_http_request_t *r);
ngx_int_t ngx_http_gsh_error(ngx_http_request_t *r, ngx_int_t status);
ngx_int_t ngx_http_gsh_log_escape(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_int_t ngx_http_gsh_wait_client(ngx_http_request_t *r, ngx_uint_t pending);


/* the publish file: published base packs */
char *ngx_http_gsh_publish(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_gsh_publish_merge(ngx_conf_t *cf,
    ngx_http_gsh_loc_conf_t *prev, ngx_http_gsh_loc_conf_t *conf);
char *ngx_http_gsh_publish_check(ngx_conf_t *cf,
    ngx_http_gsh_loc_conf_t *conf);
ngx_int_t ngx_http_gsh_publish_request(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, gsh_request *req);


#endif /* _NGX_HTTP_GIT_SMART_HTTP_MODULE_H_INCLUDED_ */


/*
 * Git Smart HTTP for nginx: the shared memory zone that all workers (and the
 * workers of the next configuration after "nginx -s reload") see.  It holds
 * the pack slots of git_smart_http_max_concurrent, their queue, and the
 * metrics counters.  Only the zone and metrics files include this.
 */


#ifndef _NGX_HTTP_GIT_SMART_HTTP_ZONE_H_INCLUDED_
#define _NGX_HTTP_GIT_SMART_HTTP_ZONE_H_INCLUDED_


#include "ngx_http_git_smart_http_module.h"


/* bumped whenever the layout below changes (the size usually does too) */
#define NGX_HTTP_GSH_ZONE_MAGIC    0x67736804

/* packs running or waiting at once, all limits and workers together */
#define NGX_HTTP_GSH_HOLDERS       1024

/* a waiting request tries again this often (sooner when woken up) */
#define NGX_HTTP_GSH_RETRY         100


typedef enum {
    ngx_http_gsh_svc_none = 0,
    ngx_http_gsh_svc_upload_pack,
    ngx_http_gsh_svc_receive_pack,
    ngx_http_gsh_svc_n
} ngx_http_gsh_svc_e;


typedef enum {
    ngx_http_gsh_cmd_none = 0,          /* refused before a session */
    ngx_http_gsh_cmd_advertise,
    ngx_http_gsh_cmd_ls_refs,
    ngx_http_gsh_cmd_fetch,
    ngx_http_gsh_cmd_object_info,
    ngx_http_gsh_cmd_unknown,           /* not parsed */
    ngx_http_gsh_cmd_receive_pack,      /* a push's POST */
    ngx_http_gsh_cmd_n
} ngx_http_gsh_cmd_e;


#define NGX_HTTP_GSH_VERSIONS      3
#define NGX_HTTP_GSH_STATUSES      17   /* the list in the metrics file */


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


#define NGX_HTTP_GSH_BUCKETS       13   /* the list in the metrics file */


typedef struct {
    ngx_pid_t                   pid;        /* 0: a free entry */
    uint32_t                    key;        /* the limit it counts against */
    uint32_t                    waiting;    /* 1: queued, 0: holds a slot */
    uint64_t                    ticket;     /* queue order */
} ngx_http_gsh_holder_t;


typedef struct {
    ngx_pid_t                   pid;        /* the worker in this slot */
    ngx_atomic_t                in_flight;  /* its requests with a session */
} ngx_http_gsh_worker_t;


typedef struct {
    uint32_t                    magic;
    uint64_t                    next_ticket;        /* under the mutex */
    ngx_http_gsh_holder_t       holders[NGX_HTTP_GSH_HOLDERS];
    ngx_http_gsh_worker_t       workers[NGX_MAX_PROCESSES];

    /* the counters: only ever incremented, with atomics */
    ngx_atomic_t                requests[ngx_http_gsh_svc_n]
                                        [ngx_http_gsh_cmd_n]
                                        [NGX_HTTP_GSH_VERSIONS]
                                        [NGX_HTTP_GSH_STATUSES];
    ngx_atomic_t                body_bytes[ngx_http_gsh_cmd_n];
    ngx_atomic_t                pack_bytes;
    ngx_atomic_t                pack_objects;
    ngx_atomic_t                pack_msec_buckets[NGX_HTTP_GSH_BUCKETS + 1];
    ngx_atomic_t                pack_msec_sum;
    ngx_atomic_t                errors[ngx_http_gsh_err_n];
} ngx_http_gsh_shctx_t;


struct ngx_http_gsh_limit_s {
    ngx_http_request_t         *request;
    ngx_http_gsh_ctx_t         *ctx;
    ngx_http_gsh_shctx_t       *sh;         /* NULL: no zone */

    ngx_int_t                   holder;     /* index, or -1 */
    uint32_t                    key;
    ngx_int_t                   max;        /* the limit it waits for */
    ngx_msec_t                  deadline;   /* of the wait */
    ngx_event_t                 wait;       /* retries while queued */
    ngx_queue_t                 queue;      /* this worker's waiters */

    ngx_event_t                 progress;   /* git_smart_http_timeout */
    ngx_msec_t                  task_start;
    ngx_msec_t                  pack_msec;  /* read tasks of the pack */

    ngx_int_t                   error;      /* an ngx_http_gsh_err_e, or -1 */

    unsigned                    counted:1;  /* in workers[].in_flight */
    unsigned                    pack:1;     /* a pack was started */
    unsigned                    pack_ended:1;
};


ngx_http_gsh_shctx_t *ngx_http_gsh_shctx(void);
ngx_uint_t ngx_http_gsh_zone_count(ngx_http_gsh_shctx_t *sh,
    ngx_uint_t *waiting);
void ngx_http_gsh_metrics_error(ngx_http_gsh_limit_t *lim,
    ngx_http_gsh_err_e kind);
void ngx_http_gsh_metrics_pack(ngx_http_gsh_limit_t *lim);


#endif /* _NGX_HTTP_GIT_SMART_HTTP_ZONE_H_INCLUDED_ */


/*
 * Git Smart HTTP for nginx: the shared memory zone that all workers (and the
 * workers of the next configuration after "nginx -s reload") see.  It holds
 * the pack slots of git_smart_http_max_concurrent, their queue, and the
 * metrics counters.  Only the zone, limit, metrics and module files include
 * this.
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
    ngx_atomic_t                pack_file_bytes;
    ngx_atomic_t                pack_objects;
    ngx_atomic_t                pack_msec_buckets[NGX_HTTP_GSH_BUCKETS + 1];
    ngx_atomic_t                pack_msec_sum;
    /* the core's time per phase (gsh_phase), by command */
    ngx_atomic_t                phase_msec_buckets[ngx_http_gsh_cmd_n]
                                                  [GSH_PHASES]
                                                  [NGX_HTTP_GSH_BUCKETS + 1];
    ngx_atomic_t                phase_usec_sum[ngx_http_gsh_cmd_n]
                                              [GSH_PHASES];
    ngx_atomic_t                errors[ngx_http_gsh_err_n];
} ngx_http_gsh_shctx_t;


ngx_int_t ngx_http_gsh_zone_add(ngx_conf_t *cf);
ngx_int_t ngx_http_gsh_zone_init_process(ngx_cycle_t *cycle);
void ngx_http_gsh_zone_exit_process(ngx_cycle_t *cycle);
ngx_http_gsh_shctx_t *ngx_http_gsh_shctx(void);
ngx_int_t ngx_http_gsh_zone_take(ngx_http_gsh_shctx_t *sh, uint32_t key,
    ngx_uint_t max, ngx_uint_t queue, ngx_uint_t *waiting);
ngx_uint_t ngx_http_gsh_zone_waiting(ngx_http_gsh_shctx_t *sh, ngx_int_t idx);
ngx_uint_t ngx_http_gsh_zone_try_slot(ngx_http_gsh_shctx_t *sh, ngx_int_t idx,
    uint32_t key, ngx_uint_t max);
void ngx_http_gsh_zone_free(ngx_http_gsh_shctx_t *sh, ngx_int_t idx);
ngx_uint_t ngx_http_gsh_zone_count(ngx_http_gsh_shctx_t *sh,
    ngx_uint_t *waiting);
ngx_atomic_uint_t ngx_http_gsh_zone_in_flight(ngx_http_gsh_shctx_t *sh);


#endif /* _NGX_HTTP_GIT_SMART_HTTP_ZONE_H_INCLUDED_ */


/*
 * Git Smart HTTP for nginx: the pack cache's index in shared memory (see
 * the cache zone file) and what the cache file asks of it.
 */


#ifndef _NGX_HTTP_GIT_SMART_HTTP_CACHE_ZONE_H_INCLUDED_
#define _NGX_HTTP_GIT_SMART_HTTP_CACHE_ZONE_H_INCLUDED_


#include "ngx_http_git_smart_http_module.h"


#define NGX_HTTP_GSH_CACHE_KEY_LEN  20

/* the index's layout, checked when a reload reuses the zone */
#define NGX_HTTP_GSH_CACHE_MAGIC    0x67736302

/* files a call may let go of; more wait for the next fresh start */
#define NGX_HTTP_GSH_CACHE_GONE     16


typedef enum {
    ngx_http_gsh_cache_counting = 0,    /* uses counted, no file yet */
    ngx_http_gsh_cache_writing,         /* <key>.<gen>.tmp is written */
    ngx_http_gsh_cache_ready            /* <key>.<gen> is whole */
} ngx_http_gsh_cache_state_e;


typedef struct {
    ngx_rbtree_node_t           node;       /* key: the key's first bytes */
    ngx_queue_t                 queue;
    u_char                      node_key[NGX_HTTP_GSH_CACHE_KEY_LEN];
    u_char                      stamp[NGX_HTTP_GSH_CACHE_KEY_LEN];
    ngx_http_gsh_cache_state_e  state;
    ngx_uint_t                  uses;       /* while counting */
    uint64_t                    gen;        /* 0: none yet */
    off_t                       size;       /* once ready */
    time_t                      used;
    ngx_pid_t                   writer;     /* while writing */
    ngx_uint_t                  followers;  /* of this generation, now */
} ngx_http_gsh_cache_node_t;


typedef struct {
    uint32_t                    magic;
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;      /* most recently used first */
    off_t                       size;       /* of the ready entries */
    ngx_uint_t                  entries;    /* ready ones */
    uint64_t                    next_gen;
    ngx_atomic_t                requests[ngx_http_gsh_cache_n];
    ngx_atomic_t                bytes;      /* sent from cache files */
    ngx_atomic_t                evictions;
} ngx_http_gsh_cache_sh_t;


struct ngx_http_gsh_cache_s {
    ngx_http_gsh_cache_sh_t    *sh;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *shm_zone;
    ngx_path_t                 *path;
    off_t                       max_size;
    time_t                      inactive;
    ngx_uint_t                  min_uses;
};


/*
 * What a request does: status is what $git_cache_status says; with write,
 * the request makes generation gen's file, open as fd; with status hit, it
 * sends gen's finished file of size bytes; with updating, it follows gen's
 * file as it is written; else it answers without the cache.
 */
typedef struct {
    ngx_http_gsh_cache_status_e  status;
    unsigned                     write:1;
    ngx_fd_t                     fd;        /* with write: the .tmp file */
    uint64_t                     gen;
    off_t                        size;
} ngx_http_gsh_cache_way_t;


typedef struct {
    ngx_uint_t                  n;
    u_char                      key[NGX_HTTP_GSH_CACHE_GONE]
                                   [NGX_HTTP_GSH_CACHE_KEY_LEN];
    uint64_t                    gen[NGX_HTTP_GSH_CACHE_GONE];
    u_char                      tmp[NGX_HTTP_GSH_CACHE_GONE];
} ngx_http_gsh_cache_gone_t;


void ngx_http_gsh_cache_find(ngx_http_gsh_cache_t *cache, const u_char *key,
    const u_char *stamp, ngx_uint_t claim, ngx_http_gsh_cache_way_t *way,
    ngx_log_t *log);
ngx_uint_t ngx_http_gsh_cache_finish(ngx_http_gsh_cache_t *cache,
    const u_char *key, uint64_t gen, off_t size, ngx_log_t *log);
void ngx_http_gsh_cache_drop(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, ngx_log_t *log);
void ngx_http_gsh_cache_unfollow(ngx_http_gsh_cache_t *cache,
    const u_char *key, uint64_t gen);
ngx_uint_t ngx_http_gsh_cache_followed(ngx_http_gsh_cache_t *cache,
    const u_char *key, uint64_t gen);
ngx_int_t ngx_http_gsh_cache_state(ngx_http_gsh_cache_t *cache,
    const u_char *key, uint64_t gen, off_t *size);
void ngx_http_gsh_cache_count(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_status_e status, off_t bytes);
/* buf: at least NGX_MAX_PATH bytes */
void ngx_http_gsh_cache_file_name(ngx_http_gsh_cache_t *cache,
    const u_char *key, uint64_t gen, ngx_uint_t tmp, u_char *buf);
void ngx_http_gsh_cache_delete(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, ngx_uint_t tmp, ngx_log_t *log);


#endif /* _NGX_HTTP_GIT_SMART_HTTP_CACHE_ZONE_H_INCLUDED_ */

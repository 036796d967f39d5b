
/*
 * Git Smart HTTP for nginx: limits shared by all workers.
 *
 * One implicit zone, "git_smart_http", is added whenever the module is used.
 * A pack-producing request (a fetch done negotiating; never an
 * advertisement, ls-refs or a negotiation round) takes a holder entry in it
 * before its response starts: a slot when fewer than
 * git_smart_http_max_concurrent packs of the same limit run, else a place
 * in the queue.  Each entry is tagged with the worker's pid, so that the
 * entries of a worker that died without releasing them are reclaimed when
 * its successor starts, and whenever a request would otherwise be refused.
 *
 * A limit is identified by the file and line of its max_concurrent
 * directive: every location inheriting it shares its slots, and the slots
 * of packs still running in old workers after a reload count against the
 * same directive of the new configuration.
 */


#include "ngx_http_git_smart_http_zone.h"


static ngx_int_t ngx_http_gsh_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_gsh_holder_alloc(ngx_http_gsh_shctx_t *sh,
    uint32_t key, ngx_uint_t waiting);
static void ngx_http_gsh_count(ngx_http_gsh_shctx_t *sh, uint32_t key,
    uint64_t ticket, ngx_uint_t *active, ngx_uint_t *ahead);
static void ngx_http_gsh_reclaim(ngx_http_gsh_shctx_t *sh);
static ngx_int_t ngx_http_gsh_pid_alive(ngx_pid_t pid);
static void ngx_http_gsh_release(ngx_http_gsh_limit_t *lim);
static ngx_int_t ngx_http_gsh_refuse_busy(ngx_http_request_t *r,
    ngx_http_gsh_limit_t *lim, ngx_int_t status, ngx_http_gsh_err_e kind);
static void ngx_http_gsh_wait_handler(ngx_event_t *ev);
static void ngx_http_gsh_stop_waiting(ngx_http_gsh_limit_t *lim);
static void ngx_http_gsh_progress_handler(ngx_event_t *ev);
static void ngx_http_gsh_limit_cleanup(void *data);


static ngx_str_t  ngx_http_gsh_zone_name = ngx_string("git_smart_http");

/* this worker's waiting requests, woken up when it releases a slot */
static ngx_queue_t  ngx_http_gsh_waiters;


char *
ngx_http_gsh_max_concurrent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;
    u_char      where[NGX_MAX_PATH + NGX_INT_T_LEN + 2], *p;

    if (glcf->max_concurrent != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        n = 0;

    } else {
        n = ngx_atoi(value[1].data, value[1].len);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes a number of packs greater than "
                               "0, or \"off\", not \"%V\"",
                               &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    glcf->max_concurrent = n;

    p = ngx_snprintf(where, sizeof(where), "%V:%ui",
                     &cf->conf_file->file.name, cf->conf_file->line);

    glcf->limit_key = ngx_crc32_long(where, p - where);

    return NGX_CONF_OK;
}


char *
ngx_http_gsh_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   t;
    ngx_uint_t   i;

    if (glcf->queue != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a number of waiting requests (0 or "
                           "more), not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (n > NGX_HTTP_GSH_HOLDERS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" %i is more than the zone holds (%d)",
                           &cmd->name, n, NGX_HTTP_GSH_HOLDERS);
        return NGX_CONF_ERROR;
    }

    glcf->queue = n;
    glcf->queue_timeout = NGX_HTTP_GSH_QUEUE_TIMEOUT;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            t = ngx_parse_time(&s, 0);

            if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": invalid timeout \"%V\"",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            glcf->queue_timeout = t;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_gsh_zone_add(ngx_conf_t *cf)
{
    size_t                     size;
    ngx_shm_zone_t            *zone;
    ngx_http_gsh_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_git_smart_http_module);

    if (!gmcf->used && !gmcf->metrics) {
        return NGX_OK;
    }

    /*
     * the same size for the same layout, so that a reload finds the zone
     * again and keeps the counters; room for the slab pool's own pages
     */

    size = ngx_align(sizeof(ngx_http_gsh_shctx_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    zone = ngx_shared_memory_add(cf, &ngx_http_gsh_zone_name, size,
                                 &ngx_http_git_smart_http_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_gsh_zone_init;

    gmcf->zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gsh_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_gsh_shctx_t *osh = data;

    ngx_slab_pool_t       *shpool;
    ngx_http_gsh_shctx_t  *sh;

    if (osh) {
        /* a reload: the workers of both configurations share it */

        if (osh->magic != NGX_HTTP_GSH_ZONE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "git_smart_http: the shared zone \"%V\" has "
                          "another layout; restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = osh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_gsh_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->magic = NGX_HTTP_GSH_ZONE_MAGIC;
    sh->next_ticket = 1;

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


ngx_http_gsh_shctx_t *
ngx_http_gsh_shctx(void)
{
    ngx_http_gsh_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_git_smart_http_module);

    if (gmcf == NULL || gmcf->zone == NULL) {
        return NULL;
    }

    return gmcf->zone->data;
}


static ngx_slab_pool_t *
ngx_http_gsh_shpool(void)
{
    ngx_http_gsh_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_git_smart_http_module);

    return (ngx_slab_pool_t *) gmcf->zone->shm.addr;
}


ngx_int_t
ngx_http_gsh_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_slab_pool_t       *shpool;
    ngx_http_gsh_shctx_t  *sh;

    ngx_queue_init(&ngx_http_gsh_waiters);

    sh = ngx_http_gsh_shctx();

    if (sh == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    /* a worker that died left its slot and maybe holder entries behind */

    sh->workers[ngx_process_slot].pid = ngx_pid;
    sh->workers[ngx_process_slot].in_flight = 0;

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);
    ngx_http_gsh_reclaim(sh);
    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


void
ngx_http_gsh_zone_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_slab_pool_t       *shpool;
    ngx_http_gsh_shctx_t  *sh;

    sh = ngx_http_gsh_shctx();

    if (sh == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return;
    }

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_HTTP_GSH_HOLDERS; i++) {
        if (sh->holders[i].pid == ngx_pid) {
            sh->holders[i].pid = 0;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (sh->workers[ngx_process_slot].pid == ngx_pid) {
        sh->workers[ngx_process_slot].in_flight = 0;
        sh->workers[ngx_process_slot].pid = 0;
    }
}


/* the per-request state, and its cleanup, for every request with a session */

ngx_int_t
ngx_http_gsh_limit_start(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_gsh_limit_t  *lim;

    if (ctx->limit) {
        return NGX_OK;
    }

    lim = ngx_pcalloc(r->pool, sizeof(ngx_http_gsh_limit_t));
    if (lim == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    lim->request = r;
    lim->ctx = ctx;
    lim->sh = ngx_http_gsh_shctx();
    lim->holder = -1;
    lim->error = -1;

    lim->wait.handler = ngx_http_gsh_wait_handler;
    lim->wait.data = lim;
    lim->wait.log = r->connection->log;

    lim->progress.handler = ngx_http_gsh_progress_handler;
    lim->progress.data = lim;
    lim->progress.log = r->connection->log;

    cln->handler = ngx_http_gsh_limit_cleanup;
    cln->data = lim;

    ctx->limit = lim;

    if (lim->sh) {
        (void) ngx_atomic_fetch_add(
                              &lim->sh->workers[ngx_process_slot].in_flight, 1);
        lim->counted = 1;
    }

    return NGX_OK;
}


/*
 * Called when the session is open with a 200: NGX_OK to send the response
 * now, NGX_AGAIN when it waits for a slot (ngx_http_gsh_send_response()
 * follows later), or the status of a refusal.
 */

ngx_int_t
ngx_http_gsh_limit_enter(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_int_t                 idx;
    ngx_uint_t                active, waiting, pass;
    ngx_slab_pool_t          *shpool;
    ngx_http_gsh_limit_t     *lim;
    ngx_http_gsh_shctx_t     *sh;
    ngx_http_gsh_loc_conf_t  *glcf;

    lim = ctx->limit;

    /*
     * a push takes a slot as a pack does: receiving, indexing and checking
     * a pack costs the server what sending one does
     */

    if (lim == NULL
        || (ctx->kind != GSH_RPC_RECEIVE_PACK
            && !gsh_session_sends_pack(ctx->session)))
    {
        return NGX_OK;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);
    sh = lim->sh;

    if (glcf->max_concurrent == 0 || sh == NULL) {
        lim->pack = 1;
        return NGX_OK;
    }

    lim->key = glcf->limit_key;
    lim->max = glcf->max_concurrent;

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    for (pass = 0; /* void */ ; pass++) {

        ngx_http_gsh_count(sh, lim->key, (uint64_t) -1, &active, &waiting);

        if (active < (ngx_uint_t) lim->max && waiting == 0) {
            idx = ngx_http_gsh_holder_alloc(sh, lim->key, 0);

        } else if (waiting < (ngx_uint_t) glcf->queue) {
            idx = ngx_http_gsh_holder_alloc(sh, lim->key, 1);

        } else {
            idx = NGX_DECLINED;
        }

        if (idx >= 0 || pass == 1) {
            break;
        }

        /* before a refusal: the entries of workers that died are free */
        ngx_http_gsh_reclaim(sh);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (idx == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": %i packs running "
                      "and %ui waiting, refused",
                      &ctx->repo_log, lim->max, waiting);

        return ngx_http_gsh_refuse_busy(r, lim, NGX_HTTP_TOO_MANY_REQUESTS,
                                        ngx_http_gsh_err_limit);
    }

    if (idx == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": the shared zone "
                      "holds %d packs and queued requests at most, refused",
                      &ctx->repo_log, NGX_HTTP_GSH_HOLDERS);

        return ngx_http_gsh_refuse_busy(r, lim, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        ngx_http_gsh_err_zone_full);
    }

    lim->holder = idx;

    if (!sh->holders[idx].waiting) {
        lim->pack = 1;
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "git_smart_http: repository \"%V\": waiting for one of %i "
                  "pack slots", &ctx->repo_log, lim->max);

    lim->deadline = ngx_current_msec + glcf->queue_timeout;

    ngx_queue_insert_tail(&ngx_http_gsh_waiters, &lim->queue);

    ngx_add_timer(&lim->wait, ngx_min(NGX_HTTP_GSH_RETRY, glcf->queue_timeout));

    return NGX_AGAIN;
}


/* with the mutex held: NGX_ERROR when the table is full */

static ngx_int_t
ngx_http_gsh_holder_alloc(ngx_http_gsh_shctx_t *sh, uint32_t key,
    ngx_uint_t waiting)
{
    ngx_uint_t              i;
    ngx_http_gsh_holder_t  *h;

    for (i = 0; i < NGX_HTTP_GSH_HOLDERS; i++) {
        h = &sh->holders[i];

        if (h->pid != 0) {
            continue;
        }

        h->pid = ngx_pid;
        h->key = key;
        h->waiting = waiting;
        h->ticket = sh->next_ticket++;

        return i;
    }

    return NGX_ERROR;
}


/*
 * With the mutex held: the slots taken for the key, and the requests queued
 * for it before the given ticket.
 */

static void
ngx_http_gsh_count(ngx_http_gsh_shctx_t *sh, uint32_t key, uint64_t ticket,
    ngx_uint_t *active, ngx_uint_t *ahead)
{
    ngx_uint_t              i;
    ngx_http_gsh_holder_t  *h;

    *active = 0;
    *ahead = 0;

    for (i = 0; i < NGX_HTTP_GSH_HOLDERS; i++) {
        h = &sh->holders[i];

        if (h->pid == 0 || h->key != key) {
            continue;
        }

        if (!h->waiting) {
            (*active)++;

        } else if (h->ticket < ticket) {
            (*ahead)++;
        }
    }
}


/* packs running and waiting, all limits: for the metrics */

ngx_uint_t
ngx_http_gsh_zone_count(ngx_http_gsh_shctx_t *sh, ngx_uint_t *waiting)
{
    ngx_uint_t        i, active;
    ngx_slab_pool_t  *shpool;

    active = 0;
    *waiting = 0;

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_HTTP_GSH_HOLDERS; i++) {
        if (sh->holders[i].pid == 0) {
            continue;
        }

        if (sh->holders[i].waiting) {
            (*waiting)++;

        } else {
            active++;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return active;
}


/* with the mutex held */

static void
ngx_http_gsh_reclaim(ngx_http_gsh_shctx_t *sh)
{
    ngx_pid_t   dead, alive;
    ngx_uint_t  i;

    dead = 0;
    alive = ngx_pid;

    for (i = 0; i < NGX_HTTP_GSH_HOLDERS; i++) {

        if (sh->holders[i].pid == 0 || sh->holders[i].pid == alive) {
            continue;
        }

        if (sh->holders[i].pid != dead) {
            if (ngx_http_gsh_pid_alive(sh->holders[i].pid)) {
                alive = sh->holders[i].pid;
                continue;
            }

            dead = sh->holders[i].pid;

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "git_smart_http: reclaiming the pack slots of "
                          "process %P, which is gone", dead);
        }

        sh->holders[i].pid = 0;
    }
}


static ngx_int_t
ngx_http_gsh_pid_alive(ngx_pid_t pid)
{
    /* EPERM: a process of another user has that pid: not ours, but alive */
    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


static void
ngx_http_gsh_release(ngx_http_gsh_limit_t *lim)
{
    ngx_queue_t           *q;
    ngx_slab_pool_t       *shpool;
    ngx_http_gsh_limit_t  *w;

    if (lim->holder < 0) {
        return;
    }

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    if (lim->sh->holders[lim->holder].pid == ngx_pid) {
        lim->sh->holders[lim->holder].pid = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    lim->holder = -1;

    /* this worker's waiters need not wait for their next retry */

    for (q = ngx_queue_head(&ngx_http_gsh_waiters);
         q != ngx_queue_sentinel(&ngx_http_gsh_waiters);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_gsh_limit_t, queue);

        if (w->key == lim->key && !w->wait.posted) {
            ngx_post_event(&w->wait, &ngx_posted_events);
        }
    }
}


static ngx_int_t
ngx_http_gsh_refuse_busy(ngx_http_request_t *r, ngx_http_gsh_limit_t *lim,
    ngx_int_t status, ngx_http_gsh_err_e kind)
{
    u_char                   *p;
    ngx_table_elt_t          *h;
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    ngx_http_gsh_metrics_error(lim, kind);

    if (ngx_http_gsh_set_nocache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* as long as a queued request could have waited, and at least 1s */

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%M",
                               ngx_max((glcf->queue_timeout + 999) / 1000, 1))
                   - p;

    return status;
}


static void
ngx_http_gsh_wait_handler(ngx_event_t *ev)
{
    ngx_uint_t             active, ahead;
    ngx_msec_int_t         left;
    ngx_slab_pool_t       *shpool;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_gsh_limit_t  *lim;
    ngx_http_gsh_holder_t *h;

    lim = ev->data;
    r = lim->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (lim->holder < 0) {
        return;
    }

    h = &lim->sh->holders[lim->holder];
    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_gsh_count(lim->sh, lim->key, h->ticket, &active, &ahead);

    if (h->pid == ngx_pid && active + ahead < (ngx_uint_t) lim->max) {
        h->waiting = 0;
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_http_gsh_stop_waiting(lim);
        lim->pack = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "git_smart_http: got a pack slot");

        ngx_http_gsh_send_response(r, lim->ctx);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    left = (ngx_msec_int_t) (lim->deadline - ngx_current_msec);

    if (left > 0) {
        ngx_add_timer(ev, ngx_min(NGX_HTTP_GSH_RETRY, (ngx_msec_t) left));
        return;
    }

    ngx_http_gsh_stop_waiting(lim);
    ngx_http_gsh_release(lim);

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "git_smart_http: repository \"%V\": no pack slot within "
                  "the queue timeout, refused", &lim->ctx->repo_log);

    ngx_http_finalize_request(r,
        ngx_http_gsh_refuse_busy(r, lim, NGX_HTTP_TOO_MANY_REQUESTS,
                                 ngx_http_gsh_err_queue_timeout));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_gsh_stop_waiting(ngx_http_gsh_limit_t *lim)
{
    if (lim->wait.timer_set) {
        ngx_del_timer(&lim->wait);
    }

    if (lim->wait.posted) {
        ngx_delete_posted_event(&lim->wait);
    }

    if (lim->queue.next) {
        ngx_queue_remove(&lim->queue);
        lim->queue.next = NULL;
    }
}


/*
 * git_smart_http_timeout: a read task of a pack is posted only when a
 * buffer is free, that is when the client is not what the pack waits for;
 * a task that has not returned after the timeout has produced nothing for
 * that long.  The thread cannot be interrupted: the session is asked to
 * stop, which it does at its next check (see gsh_session_stop_pack()).
 */

void
ngx_http_gsh_progress_arm(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_limit_t     *lim;
    ngx_http_gsh_loc_conf_t  *glcf;

    lim = ctx->limit;

    if (lim == NULL || !lim->pack) {
        return;
    }

    lim->task_start = ngx_current_msec;

    /*
     * the timeout watches the making of a pack to send; a push's work
     * (index-pack, the connectivity check, hooks) is not cut short by it
     */

    if (ctx->kind == GSH_RPC_RECEIVE_PACK) {
        return;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    if (glcf->timeout && lim->error != ngx_http_gsh_err_pack_timeout) {
        ngx_add_timer(&lim->progress, glcf->timeout);
    }
}


void
ngx_http_gsh_progress_done(ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_limit_t     *lim;
    ngx_http_gsh_task_ctx_t  *t;

    lim = ctx->limit;
    t = ctx->task->ctx;

    if (lim == NULL || !lim->pack || t->op != ngx_http_gsh_op_read) {
        return;
    }

    lim->pack_msec += ngx_current_msec - lim->task_start;

    if (lim->progress.timer_set) {
        ngx_del_timer(&lim->progress);
    }
}


static void
ngx_http_gsh_progress_handler(ngx_event_t *ev)
{
    ngx_http_gsh_limit_t     *lim;
    ngx_http_gsh_loc_conf_t  *glcf;

    lim = ev->data;

    glcf = ngx_http_get_module_loc_conf(lim->request,
                                        ngx_http_git_smart_http_module);

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "git_smart_http: repository \"%V\": the pack made no "
                  "progress for %M ms, ending it",
                  &lim->ctx->repo_log, glcf->timeout);

    ngx_http_gsh_metrics_error(lim, ngx_http_gsh_err_pack_timeout);

    gsh_session_stop_pack(lim->ctx->session);
}


/* the last byte of a pack is out, or the pack failed, or the request ends */

void
ngx_http_gsh_pack_end(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_limit_t  *lim;

    lim = ctx->limit;

    if (lim == NULL || !lim->pack || lim->pack_ended) {
        return;
    }

    lim->pack_ended = 1;

    ngx_http_gsh_release(lim);
    ngx_http_gsh_metrics_pack(lim);
}


static void
ngx_http_gsh_limit_cleanup(void *data)
{
    ngx_http_gsh_limit_t *lim = data;

    ngx_http_gsh_stop_waiting(lim);

    if (lim->progress.timer_set) {
        ngx_del_timer(&lim->progress);
    }

    ngx_http_gsh_pack_end(lim->request, lim->ctx);
    ngx_http_gsh_release(lim);

    if (lim->counted) {
        (void) ngx_atomic_fetch_add(
                     &lim->sh->workers[ngx_process_slot].in_flight, -1);
        lim->counted = 0;
    }
}

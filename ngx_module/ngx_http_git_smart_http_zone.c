
/*
 * Git Smart HTTP for nginx: the shared memory zone and its slot table.
 *
 * One implicit zone, "git_smart_http", is added whenever the module is used
 * (by the postconfiguration of the module file).  Its table of holder
 * entries is what the limit file takes pack slots and queue places from;
 * each entry is tagged with the worker's pid, so that the entries of a
 * worker that died without releasing them are reclaimed when its successor
 * starts, and whenever a request would otherwise be refused.  The zone also
 * holds each worker's count of requests in flight and the metrics
 * counters, which a reload keeps as it keeps the zone.
 */


#include "ngx_http_git_smart_http_zone.h"


static ngx_int_t ngx_http_gsh_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_slab_pool_t *ngx_http_gsh_shpool(void);
static ngx_int_t ngx_http_gsh_holder_alloc(ngx_http_gsh_shctx_t *sh,
    uint32_t key, ngx_uint_t waiting);
static void ngx_http_gsh_count(ngx_http_gsh_shctx_t *sh, uint32_t key,
    uint64_t ticket, ngx_uint_t *active, ngx_uint_t *ahead);
static void ngx_http_gsh_reclaim(ngx_http_gsh_shctx_t *sh);
static ngx_int_t ngx_http_gsh_pid_alive(ngx_pid_t pid);


static ngx_str_t  ngx_http_gsh_zone_name = ngx_string("git_smart_http");


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


/*
 * A holder entry for the key: a slot when fewer than max of its slots are
 * taken and nobody waits, else a place in the queue while fewer than queue
 * wait.  Returns the entry's index, NGX_DECLINED when slots and queue are
 * full, NGX_ERROR when the table is; *waiting is the queue's length.
 */

ngx_int_t
ngx_http_gsh_zone_take(ngx_http_gsh_shctx_t *sh, uint32_t key,
    ngx_uint_t max, ngx_uint_t queue, ngx_uint_t *waiting)
{
    ngx_int_t         idx;
    ngx_uint_t        active, pass;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    for (pass = 0; /* void */ ; pass++) {

        ngx_http_gsh_count(sh, key, (uint64_t) -1, &active, waiting);

        if (active < max && *waiting == 0) {
            idx = ngx_http_gsh_holder_alloc(sh, key, 0);

        } else if (*waiting < queue) {
            idx = ngx_http_gsh_holder_alloc(sh, key, 1);

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

    return idx;
}


ngx_uint_t
ngx_http_gsh_zone_waiting(ngx_http_gsh_shctx_t *sh, ngx_int_t idx)
{
    return sh->holders[idx].waiting;
}


/*
 * 1 when the queued entry idx now gets a slot: it is still this worker's,
 * and fewer than max slots are taken or queued ahead of it.
 */

ngx_uint_t
ngx_http_gsh_zone_try_slot(ngx_http_gsh_shctx_t *sh, ngx_int_t idx,
    uint32_t key, ngx_uint_t max)
{
    ngx_uint_t              active, ahead, got;
    ngx_slab_pool_t        *shpool;
    ngx_http_gsh_holder_t  *h;

    h = &sh->holders[idx];
    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_gsh_count(sh, key, h->ticket, &active, &ahead);

    got = (h->pid == ngx_pid && active + ahead < max);

    if (got) {
        h->waiting = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return got;
}


void
ngx_http_gsh_zone_free(ngx_http_gsh_shctx_t *sh, ngx_int_t idx)
{
    ngx_slab_pool_t  *shpool;

    shpool = ngx_http_gsh_shpool();

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->holders[idx].pid == ngx_pid) {
        sh->holders[idx].pid = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);
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


/* this worker's requests with a session: n is 1 or -1 */

void
ngx_http_gsh_zone_in_flight_add(ngx_int_t n)
{
    ngx_http_gsh_shctx_t  *sh;

    sh = ngx_http_gsh_shctx();

    if (sh) {
        (void) ngx_atomic_fetch_add(&sh->workers[ngx_process_slot].in_flight,
                                    n);
    }
}


/*
 * Requests in flight, all workers; what workers that are gone left behind
 * does not count.
 */

ngx_atomic_uint_t
ngx_http_gsh_zone_in_flight(ngx_http_gsh_shctx_t *sh)
{
    ngx_uint_t          i;
    ngx_pid_t           pid;
    ngx_atomic_uint_t   in_flight;

    in_flight = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        pid = sh->workers[i].pid;

        if (pid == 0) {
            continue;
        }

        if (pid != ngx_pid && kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
            continue;
        }

        in_flight += sh->workers[i].in_flight;
    }

    return in_flight;
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


/*
 * Git Smart HTTP for nginx: a request's way with the pack cache
 * (git_smart_http_pack_cache).
 *
 * Once the session is open, a fetch whose pack does not depend on what the
 * client has gets a key from the core, and the cache zone file says what
 * the request does with it:
 *
 *   - it writes the answer (MISS, EXPIRED): the core copies every byte it
 *     hands out into <key>.<gen>.tmp, on the reading thread; once the last
 *     one is out, the file is marked whole (its mode becomes
 *     NGX_HTTP_GSH_CACHE_WHOLE), renamed to <key>.<gen> and served from
 *     then on.  A writer that fails or loses its client removes the file
 *     and the entry;
 *   - it sends the finished file (HIT), as nginx sends a static file;
 *   - it follows a file being written (UPDATING): what is there is sent,
 *     and the file is looked at again every NGX_HTTP_GSH_CACHE_TICK ms
 *     until it is marked whole.  A follower whose writer is gone before
 *     that closes its connection: its client sees a cut response, never a
 *     wrong one.
 *
 * Whether a file is whole is read from the file itself (fstat on the
 * follower's descriptor), so an entry that is evicted or renamed while
 * followed does not matter.
 */


#include "ngx_http_git_smart_http_cache_zone.h"


static ngx_int_t ngx_http_gsh_cache_follow(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_cache_way_t *way);
static void ngx_http_gsh_cache_reading(ngx_http_request_t *r);
static ngx_uint_t ngx_http_gsh_cache_may_go_alone(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_cache_open(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_cache_cleanup(void *data);
static void ngx_http_gsh_cache_write_handler(ngx_http_request_t *r);
static void ngx_http_gsh_cache_tick_handler(ngx_event_t *ev);
static void ngx_http_gsh_cache_pump(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_cache_next(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_cache_idle(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_uint_t *whole);
static ngx_buf_t *ngx_http_gsh_cache_range(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, off_t size, ngx_uint_t whole);


static const char  *ngx_http_gsh_cache_names[ngx_http_gsh_cache_n] = {
    "", "MISS", "HIT", "UPDATING", "EXPIRED", "BYPASS"
};


const char *
ngx_http_gsh_cache_status_name(ngx_http_gsh_cache_status_e status)
{
    return (status < ngx_http_gsh_cache_n) ? ngx_http_gsh_cache_names[status]
                                           : "";
}


/* whether the open task is to ask the core for a key (on its thread) */

ngx_uint_t
ngx_http_gsh_cache_wanted(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    return glcf->pack_cache != NULL && ctx->kind == GSH_RPC_UPLOAD_PACK;
}


/*
 * After the open of a fetch that sends a pack: NGX_OK when the answer
 * comes from a cache file (ngx_http_gsh_cache_send() sends it once the
 * header is out), NGX_DECLINED when the core makes it; a request with a
 * key then claims the entry once it holds its pack slot.
 */

ngx_int_t
ngx_http_gsh_cache_start(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_gsh_cache_way_t   way;
    ngx_http_gsh_task_ctx_t   *t;
    ngx_http_gsh_loc_conf_t   *glcf;

    if (!ngx_http_gsh_cache_wanted(r, ctx) || ctx->on_loop) {
        return NGX_DECLINED;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);
    ctx->cache = glcf->pack_cache->data;

    t = ctx->task->ctx;

    if (!t->cacheable) {
        ctx->cache_status = ngx_http_gsh_cache_bypass;
        ngx_http_gsh_cache_count(ctx->cache, ctx->cache_status, 0);
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_gsh_cache_cleanup;
    cln->data = ctx;

    ngx_memcpy(ctx->cache_key, t->cache_key, NGX_HTTP_GSH_CACHE_KEY_LEN);
    ngx_memcpy(ctx->cache_stamp, t->cache_stamp, NGX_HTTP_GSH_CACHE_KEY_LEN);
    ctx->cache_keyed = 1;

    ngx_http_gsh_cache_find(ctx->cache, ctx->cache_key, ctx->cache_stamp, 0,
                            &way, r->connection->log);

    return ngx_http_gsh_cache_follow(r, ctx, &way);
}


/* the request holds its pack slot: the answer is written here, unless it
   was or is being written meanwhile (NGX_OK, as ngx_http_gsh_cache_start) */

ngx_int_t
ngx_http_gsh_cache_claim(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_cache_way_t  way;

    if (!ctx->cache_keyed || ctx->cache_status != ngx_http_gsh_cache_none) {
        return NGX_DECLINED;
    }

    ngx_http_gsh_cache_find(ctx->cache, ctx->cache_key, ctx->cache_stamp, 1,
                            &way, r->connection->log);

    if (!way.write) {
        return ngx_http_gsh_cache_follow(r, ctx, &way);
    }

    ctx->cache_status = way.status;
    ctx->cache_gen = way.gen;
    ctx->cache_fd = way.fd;
    ctx->cache_write = 1;

    gsh_session_tee(ctx->session, way.fd);

    if (r->read_event_handler == ngx_http_test_reading) {
        r->read_event_handler = ngx_http_gsh_cache_reading;
    }

    ngx_http_gsh_cache_count(ctx->cache, ctx->cache_status, 0);

    return NGX_DECLINED;
}


/*
 * The writer's read event: a client that leaves does not end a pack that
 * others follow (ngx_http_gsh_cache_alone()), it is seen when a write
 * fails; else as nginx's own test.
 */

static void
ngx_http_gsh_cache_reading(ngx_http_request_t *r)
{
    ngx_http_gsh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);

    if (ctx && ngx_http_gsh_cache_may_go_alone(r, ctx)) {
        ngx_http_block_reading(r);
        return;
    }

    ngx_http_test_reading(r);
}


/*
 * Whether a writer whose client left goes on alone: while its pack goes
 * on and requests follow the entry, so a client that leaves at once costs
 * no whole pack.  Not over HTTP/2 or 3, whose frames still queued on the
 * connection point into the buffers the pack would go on with.
 */

static ngx_uint_t
ngx_http_gsh_cache_may_go_alone(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx)
{
    return ctx->cache_write && !ctx->eof && !ctx->failed
           && r->http_version < NGX_HTTP_VERSION_20
           && ngx_http_gsh_cache_followed(ctx->cache, ctx->cache_key,
                                          ctx->cache_gen);
}


/* a HIT or UPDATING way is taken if its file can be opened */

static ngx_int_t
ngx_http_gsh_cache_follow(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_cache_way_t *way)
{
    if (way->status == ngx_http_gsh_cache_none) {
        /* to be claimed with the slot */
        return NGX_DECLINED;
    }

    ctx->cache_status = way->status;
    ctx->cache_gen = way->gen;

    if (way->status == ngx_http_gsh_cache_hit
        || way->status == ngx_http_gsh_cache_updating)
    {
        ctx->cache_hit = (way->status == ngx_http_gsh_cache_hit);
        ctx->cache_size = way->size;

        if (ngx_http_gsh_cache_open(r, ctx) == NGX_OK) {
            ngx_http_gsh_cache_count(ctx->cache, ctx->cache_status, 0);
            return NGX_OK;
        }

        /* gone meanwhile (removed by hand, say): the entry goes too */

        ngx_http_gsh_cache_drop(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                r->connection->log);
        ctx->cache_status = ngx_http_gsh_cache_miss;
    }

    ngx_http_gsh_cache_count(ctx->cache, ctx->cache_status, 0);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_gsh_cache_open(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    size_t    len;
    u_char   *p, name[NGX_MAX_PATH];
    ngx_fd_t  fd;

    fd = NGX_INVALID_FILE;

    /* a writer renames its file once it is whole: then look for that */

    if (!ctx->cache_hit) {
        ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key,
                                     ctx->cache_gen, 1, name);
        fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    }

    if (fd == NGX_INVALID_FILE) {
        ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key,
                                     ctx->cache_gen, 0, name);
        fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    }

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "git_smart_http: pack cache file \"%s\" is gone", name);
        return NGX_DECLINED;
    }

    len = ngx_strlen(name);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_close_file(fd);
        return NGX_DECLINED;
    }

    ngx_memcpy(p, name, len + 1);

    ctx->cache_fd = fd;
    ctx->cache_file.fd = fd;
    ctx->cache_file.log = r->connection->log;
    ctx->cache_file.name.len = len;
    ctx->cache_file.name.data = p;
    ctx->cache_read = 1;
    ctx->cache_next = NGX_HTTP_GSH_CACHE_TICK;

    return NGX_OK;
}


/*
 * the writer's last byte is out: the file is whole, and served from now
 * on unless the index let go of its generation meanwhile
 */

void
ngx_http_gsh_cache_written(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    u_char           tmp[NGX_MAX_PATH], name[NGX_MAX_PATH];
    ngx_file_info_t  fi;

    ngx_http_gsh_cache_check_tee(r, ctx);

    if (!ctx->cache_write) {
        return;
    }

    ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                 1, tmp);
    ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                 0, name);

    if (ngx_fd_info(ctx->cache_fd, &fi) == NGX_FILE_ERROR
        || fchmod(ctx->cache_fd, NGX_HTTP_GSH_CACHE_WHOLE) == -1
        || ngx_rename_file(tmp, name) == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "git_smart_http: pack cache file \"%s\" could not be "
                      "finished", tmp);
        ngx_http_gsh_cache_abandon(ctx);
        return;
    }

    ctx->cache_write = 0;
    ngx_close_file(ctx->cache_fd);
    ctx->cache_fd = NGX_INVALID_FILE;

    if (!ngx_http_gsh_cache_finish(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                   ngx_file_size(&fi), r->connection->log))
    {
        /* too large, or no longer the entry's: the file is not kept */
        ngx_http_gsh_cache_delete(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                  0, r->connection->log);
    }
}


/*
 * After each read: a copy that stopped (a full disk) ends the entry at
 * once, so that new requests make their answers rather than follow this
 * one to a cut end.
 */

void
ngx_http_gsh_cache_check_tee(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    const char  *err;

    if (!ctx->cache_write) {
        return;
    }

    err = gsh_session_tee_error(ctx->session);

    if (err[0] != '\0') {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "git_smart_http: pack cache: %s", err);
        ngx_http_gsh_cache_abandon(ctx);
    }
}


/*
 * The writer's client closed the connection or timed out: the requests
 * that follow the entry, and the next identical ones, still get a whole
 * answer, so the pack goes on into the file alone and the request ends
 * once it is written (NGX_OK).  NGX_DECLINED when it may not
 * (ngx_http_gsh_cache_may_go_alone()).
 */

ngx_int_t
ngx_http_gsh_cache_alone(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    const char *why)
{
    u_char        name[NGX_MAX_PATH];
    ngx_event_t  *wev;

    if (ctx->cache_alone) {
        return NGX_OK;
    }

    if (!ngx_http_gsh_cache_may_go_alone(r, ctx)) {
        return NGX_DECLINED;
    }

    ctx->cache_alone = 1;

    wev = r->connection->write;

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    /* the tasks' ends call the write handler: the socket has no say now */

    if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && wev->active) {
        ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                 1, name);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "git_smart_http: repository \"%V\": the client %s; the "
                  "pack goes on into pack cache file \"%s\" alone",
                  &ctx->repo_log, why, name);

    return NGX_OK;
}


/* the writer failed or is gone: its file and entry go */

void
ngx_http_gsh_cache_abandon(ngx_http_gsh_ctx_t *ctx)
{
    if (!ctx->cache_write) {
        return;
    }

    ctx->cache_write = 0;

    ngx_http_gsh_cache_delete(ctx->cache, ctx->cache_key, ctx->cache_gen, 1,
                              ctx->request->connection->log);

    ngx_close_file(ctx->cache_fd);
    ctx->cache_fd = NGX_INVALID_FILE;

    ngx_http_gsh_cache_drop(ctx->cache, ctx->cache_key, ctx->cache_gen,
                            ctx->request->connection->log);
}


/* after the session's last read: no thread writes into the file then */

static void
ngx_http_gsh_cache_cleanup(void *data)
{
    ngx_http_gsh_ctx_t *ctx = data;

    if (ctx->cache_tick.timer_set) {
        ngx_del_timer(&ctx->cache_tick);
    }

    ngx_http_gsh_cache_abandon(ctx);

    if (ctx->cache_read) {
        if (ctx->cache_status == ngx_http_gsh_cache_updating) {
            ngx_http_gsh_cache_unfollow(ctx->cache, ctx->cache_key,
                                        ctx->cache_gen);
        }

        ngx_http_gsh_cache_count(ctx->cache, ngx_http_gsh_cache_none,
                                 ctx->cache_sent);
        ngx_close_file(ctx->cache_fd);
        ctx->cache_fd = NGX_INVALID_FILE;
    }
}


/* the header is out: the body comes from the file */

void
ngx_http_gsh_cache_send(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ctx->cache_tick.handler = ngx_http_gsh_cache_tick_handler;
    ctx->cache_tick.data = r;
    ctx->cache_tick.log = r->connection->log;

    r->write_event_handler = ngx_http_gsh_cache_write_handler;

    /* for $git_status and the metrics, as a pack made here */
    ctx->streaming = 1;

    ngx_http_gsh_cache_pump(r, ctx);
}


static void
ngx_http_gsh_cache_write_handler(ngx_http_request_t *r)
{
    ngx_event_t         *wev;
    ngx_http_gsh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);
    wev = r->connection->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out");
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    ngx_http_gsh_cache_pump(r, ctx);
}


static void
ngx_http_gsh_cache_tick_handler(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_gsh_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);

    ngx_http_set_log_request(c->log, r);

    ngx_http_gsh_cache_pump(r, ctx);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_gsh_cache_pump(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_int_t          rc;
    ngx_uint_t         pending;
    ngx_connection_t  *c;

    c = r->connection;

    if (r->aio) {
        /* nginx's copy filter reads the file on a thread, then calls back */
        return;
    }

    for ( ;; ) {
        rc = ngx_http_output_filter(r, NULL);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        pending = (r->buffered || c->buffered
                   || (ctx->cache_buf && ngx_buf_size(ctx->cache_buf)));

        if (pending || r->aio) {
            break;
        }

        rc = ngx_http_gsh_cache_next(r, ctx);

        if (rc == NGX_DONE || rc == NGX_ERROR) {
            return;
        }

        if (rc == NGX_DECLINED) {
            /* nothing new yet */
            break;
        }
    }

    /*
     * nothing to send: the file is looked at again after the tick, less
     * often while it does not grow (a writer counting a large pack)
     */

    if (!pending && !r->aio && !ctx->cache_tick.timer_set) {
        ngx_add_timer(&ctx->cache_tick, ctx->cache_next);
        ctx->cache_idle += ctx->cache_next;
        ctx->cache_next = ngx_min(2 * ctx->cache_next,
                                  NGX_HTTP_GSH_CACHE_TICK_MAX);
    }

    if (ngx_http_gsh_wait_client(r, pending) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/*
 * Hands what the file has beyond what was sent to the output: NGX_OK when
 * it did, NGX_DECLINED when there is nothing new yet, NGX_DONE when the
 * request was finalized (the file is whole and out, or its writer is gone
 * before it was), NGX_ERROR likewise on a failure.
 */

static ngx_int_t
ngx_http_gsh_cache_next(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    off_t             size;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_uint_t        whole;
    ngx_chain_t       out;
    ngx_file_info_t   fi;

    if (ctx->cache_hit) {
        /* a finished file: the index says how long it is */
        size = ctx->cache_size;
        whole = 1;

    } else {
        if (ngx_fd_info(ctx->cache_fd, &fi) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          ngx_fd_info_n " \"%V\" failed",
                          &ctx->cache_file.name);
            ngx_http_finalize_request(r, NGX_ERROR);
            return NGX_ERROR;
        }

        size = ngx_file_size(&fi);
        whole = 0;

        if (size == ctx->cache_sent) {
            rc = ngx_http_gsh_cache_idle(r, ctx, &whole);

            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    b = ngx_http_gsh_cache_range(r, ctx, size, whole);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_ERROR;
    }

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_output_filter(r, &out);

    if (whole) {
        ctx->eof = 1;

        if (ctx->cache_tick.timer_set) {
            ngx_del_timer(&ctx->cache_tick);
        }

        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_ERROR;
    }

    ctx->cache_idle = 0;
    ctx->cache_next = NGX_HTTP_GSH_CACHE_TICK;

    return NGX_OK;
}


/*
 * A follower's file has not grown: NGX_OK with *whole when its writer
 * finished it, NGX_DECLINED while the writer goes on, NGX_DONE (the
 * connection closed) when the writer is gone or silent for too long.
 */

static ngx_int_t
ngx_http_gsh_cache_idle(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_uint_t *whole)
{
    off_t                     size;
    ngx_int_t                 rc;
    ngx_msec_t                limit;
    ngx_file_info_t           fi;
    ngx_http_gsh_loc_conf_t  *glcf;

    rc = ngx_http_gsh_cache_state(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                  &size);

    if (rc == NGX_OK && size == ctx->cache_sent) {
        *whole = 1;
        return NGX_OK;
    }

    /* evicted or replaced the moment it was finished: its mode says */

    if (rc == NGX_DECLINED
        && ngx_fd_info(ctx->cache_fd, &fi) != NGX_FILE_ERROR
        && (ngx_file_access(&fi) & 0777) == NGX_HTTP_GSH_CACHE_WHOLE
        && ngx_file_size(&fi) == ctx->cache_sent)
    {
        *whole = 1;
        return NGX_OK;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    limit = NGX_HTTP_GSH_CACHE_IDLE;

    if (glcf->timeout && glcf->timeout < limit) {
        limit = glcf->timeout;
    }

    if (rc == NGX_AGAIN && ctx->cache_idle < limit) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "git_smart_http: repository \"%V\": the writer of pack "
                  "cache file \"%V\" is %s, closing the connection",
                  &ctx->repo_log, &ctx->cache_file.name,
                  rc == NGX_AGAIN ? "silent" : "gone");

    ctx->failed = 1;
    ngx_http_finalize_request(r, NGX_ERROR);

    return NGX_DONE;
}


/* the file's bytes from what was sent to size, in the one buffer reused */

static ngx_buf_t *
ngx_http_gsh_cache_range(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    off_t size, ngx_uint_t whole)
{
    ngx_buf_t  *b;

    b = ctx->cache_buf;

    if (b == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NULL;
        }

        b->file = &ctx->cache_file;
        ctx->cache_buf = b;
    }

    b->in_file = (size > ctx->cache_sent);
    b->file_pos = ctx->cache_sent;
    b->file_last = size;
    b->flush = 1;
    b->last_buf = (whole && r == r->main);
    b->last_in_chain = whole;
    b->sync = !b->in_file && !b->last_buf;

    ctx->cache_sent = size;

    return b;
}

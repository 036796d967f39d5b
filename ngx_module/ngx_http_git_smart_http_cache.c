
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


static ngx_int_t ngx_http_gsh_cache_create(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_cache_open(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_uint_t hit);
static void ngx_http_gsh_cache_cleanup(void *data);
static void ngx_http_gsh_cache_write_handler(ngx_http_request_t *r);
static void ngx_http_gsh_cache_tick_handler(ngx_event_t *ev);
static void ngx_http_gsh_cache_pump(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_cache_next(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_buf_t *ngx_http_gsh_cache_range(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, off_t size, ngx_uint_t whole);
static ngx_int_t ngx_http_gsh_cache_wait(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_uint_t pending);


static const char  *ngx_http_gsh_cache_names[ngx_http_gsh_cache_n] = {
    "", "MISS", "HIT", "UPDATING", "EXPIRED", "BYPASS"
};


const char *
ngx_http_gsh_cache_status_name(ngx_http_gsh_cache_status_e status)
{
    return (status < ngx_http_gsh_cache_n) ? ngx_http_gsh_cache_names[status]
                                           : "";
}


/*
 * After the open of a fetch that sends a pack: NGX_OK when the answer
 * comes from a cache file (ngx_http_gsh_cache_send() sends it once the
 * header is out), NGX_DECLINED when the core makes it, copied into the
 * cache or not.
 */

ngx_int_t
ngx_http_gsh_cache_start(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    u_char                     stamp[NGX_HTTP_GSH_CACHE_KEY_LEN];
    ngx_pool_cleanup_t        *cln;
    ngx_http_gsh_cache_t      *cache;
    ngx_http_gsh_cache_way_t   way;
    ngx_http_gsh_loc_conf_t   *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    if (glcf->pack_cache == NULL || ctx->kind != GSH_RPC_UPLOAD_PACK) {
        return NGX_DECLINED;
    }

    cache = glcf->pack_cache->data;

    if (!gsh_session_cache_key(ctx->session, ctx->cache_key, stamp)) {
        ctx->cache_status = ngx_http_gsh_cache_bypass;
        ngx_http_gsh_cache_count(cache, ctx->cache_status, 0);
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_gsh_cache_cleanup;
    cln->data = ctx;

    ctx->cache = cache;

    ngx_http_gsh_cache_find(cache, ctx->cache_key, stamp, &way,
                            r->connection->log);

    ctx->cache_status = way.status;
    ctx->cache_gen = way.gen;

    if (way.write) {
        if (ngx_http_gsh_cache_create(r, ctx) != NGX_OK) {
            ngx_http_gsh_cache_drop(cache, ctx->cache_key, ctx->cache_gen);
        }

    } else if ((way.status == ngx_http_gsh_cache_hit
                || way.status == ngx_http_gsh_cache_updating)
               && ngx_http_gsh_cache_open(r, ctx,
                                          way.status == ngx_http_gsh_cache_hit)
                  == NGX_OK)
    {
        ngx_http_gsh_cache_count(cache, ctx->cache_status, 0);
        return NGX_OK;

    } else if (way.status == ngx_http_gsh_cache_hit
               || way.status == ngx_http_gsh_cache_updating)
    {
        /* the file went away meanwhile (evicted, or its writer failed) */
        ctx->cache_status = ngx_http_gsh_cache_miss;
    }

    ngx_http_gsh_cache_count(cache, ctx->cache_status, 0);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_gsh_cache_create(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    u_char    name[NGX_MAX_PATH];
    ngx_fd_t  fd;

    ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                 1, name);

    fd = ngx_open_file(name, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_HTTP_GSH_CACHE_PART);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", name);
        return NGX_ERROR;
    }

    ctx->cache_fd = fd;
    ctx->cache_write = 1;

    gsh_session_tee(ctx->session, fd);

    return NGX_OK;
}


static ngx_int_t
ngx_http_gsh_cache_open(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_uint_t hit)
{
    u_char    name[NGX_MAX_PATH];
    ngx_fd_t  fd;

    fd = NGX_INVALID_FILE;

    /* a writer renames its file once it is whole: then look for that */

    if (!hit) {
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
        ngx_log_error(NGX_LOG_INFO, r->connection->log, ngx_errno,
                      "git_smart_http: pack cache file \"%s\" is gone", name);
        return NGX_DECLINED;
    }

    ctx->cache_fd = fd;

    ctx->cache_file.fd = fd;
    ctx->cache_file.log = r->connection->log;
    ctx->cache_file.name.len = ngx_strlen(name);
    ctx->cache_file.name.data = ngx_pnalloc(r->pool,
                                            ctx->cache_file.name.len + 1);
    if (ctx->cache_file.name.data == NULL) {
        return NGX_DECLINED;
    }

    ngx_memcpy(ctx->cache_file.name.data, name, ctx->cache_file.name.len + 1);

    ctx->cache_read = 1;

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
    const char      *err;
    ngx_file_info_t  fi;

    if (!ctx->cache_write) {
        return;
    }

    err = gsh_session_tee_error(ctx->session);

    if (err[0] != '\0') {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "git_smart_http: pack cache: %s", err);
        ngx_http_gsh_cache_abandon(ctx);
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
        /* evicted at once, or no longer the entry's: the file is not kept */
        (void) ngx_delete_file(name);
    }
}


/* the writer failed or is gone: its file and entry go */

void
ngx_http_gsh_cache_abandon(ngx_http_gsh_ctx_t *ctx)
{
    u_char  tmp[NGX_MAX_PATH];

    if (!ctx->cache_write) {
        return;
    }

    ctx->cache_write = 0;

    ngx_http_gsh_cache_file_name(ctx->cache, ctx->cache_key, ctx->cache_gen,
                                 1, tmp);
    (void) ngx_delete_file(tmp);

    ngx_close_file(ctx->cache_fd);
    ctx->cache_fd = NGX_INVALID_FILE;

    ngx_http_gsh_cache_drop(ctx->cache, ctx->cache_key, ctx->cache_gen);
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

    if (ngx_http_gsh_cache_wait(r, ctx, pending) != NGX_OK) {
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
    ngx_uint_t        whole, again;
    ngx_chain_t       out;
    ngx_file_info_t   fi;

    again = 1;

stat:

    if (ngx_fd_info(ctx->cache_fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &ctx->cache_file.name);
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_ERROR;
    }

    /* the mode is set after the last byte is written */

    whole = ((ngx_file_access(&fi) & 0777) == NGX_HTTP_GSH_CACHE_WHOLE);
    size = ngx_file_size(&fi);

    if (size == ctx->cache_sent && !whole) {

        if (ngx_http_gsh_cache_writing_now(ctx->cache, ctx->cache_key,
                                           ctx->cache_gen))
        {
            return NGX_DECLINED;
        }

        if (again) {
            /* it may have been finished since the look above */
            again = 0;
            goto stat;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": the writer of "
                      "pack cache file \"%V\" is gone, closing the "
                      "connection", &ctx->repo_log, &ctx->cache_file.name);

        ctx->failed = 1;
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
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

    return NGX_OK;
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


/* for the client (send_timeout), or for the writer (the tick) */

static ngx_int_t
ngx_http_gsh_cache_wait(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_uint_t pending)
{
    ngx_event_t               *wev;
    ngx_http_core_loc_conf_t  *clcf;

    wev = r->connection->write;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (pending) {
        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

    } else {
        if (wev->timer_set && !wev->delayed) {
            ngx_del_timer(wev);
        }

        if (!r->aio && !ctx->cache_tick.timer_set) {
            ngx_add_timer(&ctx->cache_tick, NGX_HTTP_GSH_CACHE_TICK);
        }
    }

    return ngx_handle_write_event(wev, clcf->send_lowat);
}


/*
 * Git Smart HTTP for nginx: the blocking session calls run as thread-pool
 * tasks, one at a time per request; their results are sent through the
 * output filters with at most NGX_HTTP_GSH_BUFS buffers per request.
 *
 * While a task is in flight, r->main->blocked and r->aio keep nginx from
 * freeing the request (and so destroying the session) under the thread.
 * The request's write event handler does all the work: it handles the
 * result of a finished task, sends, waits for the client when the output
 * is busy and posts the next read when a buffer is free.
 *
 * What the core can answer from memory (an advertisement or ls-refs of a
 * repository it has cached) skips the thread pool: the open and the reads
 * then run on the event loop.
 *
 * A response that is a pack (and a push) first takes a slot of the limit
 * file; its read tasks are timed (pack_msec, for the metrics) and watched
 * by git_smart_http_timeout, and its end gives the slot back.
 */


#include "ngx_http_git_smart_http_module.h"


static void ngx_http_gsh_push_granted(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_open_session(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_thread_handler(void *data, ngx_log_t *log);
static void ngx_http_gsh_task_done(ngx_event_t *ev);
static void ngx_http_gsh_task_timer_handler(ngx_event_t *ev);
static void ngx_http_gsh_write_handler(ngx_http_request_t *r);
static void ngx_http_gsh_opened(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_open_failed(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_int_t status);
static void ngx_http_gsh_pack_granted(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_send_response(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static ngx_int_t ngx_http_gsh_post_task(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_op_e op);
static ngx_chain_t *ngx_http_gsh_read_result(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, int rc, size_t written, gsh_piece *pieces,
    size_t npieces);
static ngx_chain_t *ngx_http_gsh_last_buf(ngx_http_request_t *r);
static void ngx_http_gsh_stream_alone(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_chain_t *out);
static void ngx_http_gsh_stream(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_chain_t *out);
static ngx_int_t ngx_http_gsh_fill(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_chain_t **out);
static ngx_chain_t *ngx_http_gsh_get_buf(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_progress_arm(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_progress_done(ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_progress_handler(ngx_event_t *ev);
static void ngx_http_gsh_pack_end(ngx_http_gsh_ctx_t *ctx);
static void ngx_http_gsh_stream_cleanup(void *data);


/*
 * Opens the session, on the event loop when the core can, else on a thread.
 * A push reads its commands when the session is opened and does its work
 * (index-pack, checks, hooks, ref updates) in its first read, after the
 * 200, with interim output (progress, hook output, keepalives) while it
 * runs; it takes its pack slot before the open.
 */

ngx_int_t
ngx_http_gsh_open(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* the session's own cleanup was added before: this one runs first */

    cln->handler = ngx_http_gsh_stream_cleanup;
    cln->data = ctx;

    ctx->progress.handler = ngx_http_gsh_progress_handler;
    ctx->progress.data = ctx;
    ctx->progress.log = r->connection->log;

    ngx_http_gsh_zone_in_flight_add(1);

    if (ctx->kind == GSH_RPC_RECEIVE_PACK) {
        rc = ngx_http_gsh_limit_enter(r, ctx, ngx_http_gsh_push_granted);

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        ctx->pack = 1;
    }

    return ngx_http_gsh_open_session(r, ctx);
}


/* a push that waited for its slot: now its work */

static void
ngx_http_gsh_push_granted(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_int_t  rc;

    ctx->pack = 1;

    rc = ngx_http_gsh_open_session(r, ctx);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc == NGX_ERROR
                                     ? NGX_HTTP_INTERNAL_SERVER_ERROR
                                     : rc);
    }
}


static ngx_int_t
ngx_http_gsh_open_session(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    int  status;

    status = gsh_session_open_on_loop(ctx->session);

    if (status == 0) {
        return ngx_http_gsh_post_task(r, ctx, ngx_http_gsh_op_open);
    }

    /*
     * answered later in this loop iteration, as a finished task would be:
     * the caller may still hold the request
     */

    ctx->on_loop = 1;
    ctx->open_status = status;
    ctx->result = 1;

    r->write_event_handler = ngx_http_gsh_write_handler;

    ngx_post_event(r->connection->write, &ngx_posted_events);

    return NGX_OK;
}


static ngx_int_t
ngx_http_gsh_post_task(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_op_e op)
{
    ngx_buf_t                *b;
    ngx_thread_task_t        *task;
    ngx_http_gsh_task_ctx_t  *t;

    task = ctx->task;

    if (task == NULL) {
        task = ngx_thread_task_alloc(r->pool,
                                     sizeof(ngx_http_gsh_task_ctx_t));
        if (task == NULL) {
            return NGX_ERROR;
        }

        task->handler = ngx_http_gsh_thread_handler;
        task->event.handler = ngx_http_gsh_task_done;
        task->event.data = ctx;
        task->event.log = r->connection->log;

        ctx->task = task;

        ctx->task_timer.handler = ngx_http_gsh_task_timer_handler;
        ctx->task_timer.data = ctx;
        ctx->task_timer.log = r->connection->log;

        ctx->interim_timer.handler = ngx_http_gsh_interim_handler;
        ctx->interim_timer.data = ctx;
        ctx->interim_timer.log = r->connection->log;
    }

    t = task->ctx;

    t->session = ctx->session;
    t->op = op;
    t->written = 0;
    t->npieces = 0;
    t->use_pieces = (op == ngx_http_gsh_op_read && ctx->zero_copy);
    t->want_cache_key = (op == ngx_http_gsh_op_open
                         && ngx_http_gsh_cache_wanted(r, ctx));

    if (op == ngx_http_gsh_op_read) {
        b = ctx->filling->buf;
        t->buf = b->start;
        t->cap = b->end - b->start;

    } else {
        t->buf = NULL;
        t->cap = 0;
    }

    if (ngx_thread_task_post(ctx->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    r->main->blocked++;
    r->aio = 1;

    ctx->task_busy = 1;

    ngx_add_timer(&ctx->task_timer, NGX_HTTP_GSH_TASK_TIMER);

    if (op == ngx_http_gsh_op_read) {
        ngx_http_gsh_progress_arm(r, ctx);

        /* a fetch's count and plan, a push's whole work (its first read) */

        if (ctx->kind == GSH_RPC_UPLOAD_PACK
            || ctx->kind == GSH_RPC_RECEIVE_PACK)
        {
            ngx_add_timer(&ctx->interim_timer, NGX_HTTP_GSH_INTERIM_TIMER);
        }
    }

    r->write_event_handler = ngx_http_gsh_write_handler;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "git_smart_http: task #%ui posted, op:%d", task->id, op);

    return NGX_OK;
}


/* runs on a thread of the pool: nothing of nginx's may be touched here */

static void
ngx_http_gsh_thread_handler(void *data, ngx_log_t *log)
{
    ngx_http_gsh_task_ctx_t *t = data;

    if (t->op == ngx_http_gsh_op_open) {
        t->rc = gsh_session_open(t->session);

        /* here, not on the loop: it sorts the wants and may hash the refs */

        t->cacheable = t->want_cache_key && t->rc == 200
                       && gsh_session_cache_key(t->session, t->cache_key,
                                                t->cache_stamp);

    } else if (t->use_pieces) {
        t->rc = gsh_session_read_pieces(t->session, t->buf, t->cap,
                                        &t->written, t->pieces,
                                        NGX_HTTP_GSH_PIECES, &t->npieces);

    } else {
        t->rc = gsh_session_read(t->session, t->buf, t->cap, &t->written);
    }
}


/* back on the event loop */

static void
ngx_http_gsh_task_done(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_gsh_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "git_smart_http: task done \"%V?%V\"", &r->uri, &r->args);

    r->main->blocked--;
    r->aio = 0;

    ctx->task_busy = 0;
    ctx->result = 1;

    if (ctx->task_timer.timer_set) {
        ngx_del_timer(&ctx->task_timer);
    }

    if (ctx->interim_timer.timer_set) {
        ngx_del_timer(&ctx->interim_timer);
    }

    ngx_http_gsh_progress_done(ctx);

    if (r->done) {
        /*
         * the request was finalized while the task ran; let the
         * connection's handler close what is left of it
         */

        c->write->handler(c->write);

    } else {
        /*
         * normally ngx_http_gsh_write_handler(); after an error or a client
         * abort, the handler that finishes terminating the request
         */

        r->write_event_handler(r);
        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_http_gsh_task_timer_handler(ngx_event_t *ev)
{
    ngx_http_gsh_ctx_t  *ctx;

    ctx = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "git_smart_http: task still running");

    if (ctx->task_busy) {
        ngx_add_timer(ev, NGX_HTTP_GSH_TASK_TIMER);
    }
}


static void
ngx_http_gsh_write_handler(ngx_http_request_t *r)
{
    ngx_chain_t              *out;
    ngx_event_t              *wev;
    ngx_connection_t         *c;
    ngx_http_gsh_ctx_t       *ctx;
    ngx_http_gsh_task_ctx_t  *t;

    c = r->connection;
    wev = c->write;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "git_smart_http: write handler \"%V?%V\"",
                   &r->uri, &r->args);

    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);

    if (ctx == NULL) {
        return;
    }

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out");
        c->timedout = 1;

        if (ngx_http_gsh_cache_alone(r, ctx, "timed out") != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
            return;
        }

        wev->timedout = 0;
    }

    if (!ctx->streaming) {
        if (ctx->result) {
            ctx->result = 0;
            ngx_http_gsh_opened(r, ctx);
        }

        /* else a write event while the session opens: nothing to send */

        return;
    }

    out = NULL;

    if (ctx->result) {
        ctx->result = 0;
        t = ctx->task->ctx;

        out = ngx_http_gsh_read_result(r, ctx, t->rc, t->written,
                                       t->pieces, t->npieces);

        if (out == NGX_CHAIN_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }
    }

    ngx_http_gsh_stream(r, ctx, out);
}


static void
ngx_http_gsh_opened(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_int_t                 rc, status;
    const char               *note;
    ngx_http_gsh_task_ctx_t  *t;

    if (ctx->on_loop) {
        status = ctx->open_status;

    } else {
        t = ctx->task->ctx;
        status = t->rc;
    }

    /* a publish that failed: the answer goes on without it */

    note = gsh_session_warning(ctx->session);

    if (note[0] != '\0') {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": %s",
                      &ctx->repo_log, note);
    }

    if (status != NGX_HTTP_OK) {
        ngx_http_gsh_open_failed(r, ctx, status);
        return;
    }

    /* git records these with trace2; an operator finds them here */

    note = gsh_session_client_note(ctx->session);

    if (note[0] != '\0') {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": client %s",
                      &ctx->repo_log, note);
    }

    /*
     * a pack may have to wait for a slot of git_smart_http_max_concurrent;
     * a push has one already, and a response that is no pack takes none
     */

    if (ctx->kind == GSH_RPC_RECEIVE_PACK
        || !gsh_session_sends_pack(ctx->session))
    {
        ngx_http_gsh_send_response(r, ctx);
        return;
    }

    /* an answer from the pack cache makes no pack, and takes no slot */

    if (ngx_http_gsh_cache_start(r, ctx) == NGX_OK) {
        ngx_http_gsh_send_response(r, ctx);
        return;
    }

    rc = ngx_http_gsh_limit_enter(r, ctx, ngx_http_gsh_pack_granted);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_http_gsh_pack_granted(r, ctx);
}


/* the open refused the request, or failed */

static void
ngx_http_gsh_open_failed(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_int_t status)
{
    ngx_uint_t  level;

    /*
     * a repository that is not there or not exported, or a malformed
     * request, is the client's business: info; the rest is error,
     * as nginx logs "access forbidden" and a too large body
     */

    level = (status == NGX_HTTP_NOT_FOUND || status == NGX_HTTP_BAD_REQUEST)
            ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, r->connection->log, 0,
                  "git_smart_http: repository \"%V\": %i %s",
                  &ctx->repo_log, status,
                  gsh_session_message(ctx->session));

    if (status < NGX_HTTP_BAD_REQUEST || status > 599) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gsh_set_nocache(r) != NGX_OK) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, status);
}


static void
ngx_http_gsh_pack_granted(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    /* written meanwhile by another request: the slot is not needed */

    if (ngx_http_gsh_cache_claim(r, ctx) == NGX_OK) {
        ngx_http_gsh_limit_release(ctx);
        ngx_http_gsh_send_response(r, ctx);
        return;
    }

    ctx->pack = 1;

    ngx_http_gsh_send_response(r, ctx);
}


static void
ngx_http_gsh_send_response(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    u_char      *p;
    size_t       len;
    ngx_int_t    rc;
    const char  *type;

    if (ctx->kind == GSH_DUMB_FILE || ctx->kind == GSH_PUBLISHED_FILE) {
        ngx_http_finalize_request(r, ngx_http_gsh_send_file(r, ctx));
        return;
    }

    type = gsh_session_content_type(ctx->session);
    len = ngx_strlen(type);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(p, type, len);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type.data = p;
    r->headers_out.content_type.len = len;
    r->headers_out.content_type_len = len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = gsh_session_content_length(ctx->session);

    /*
     * no answer here has a validator, so nginx's not_modified filter would
     * turn "If-None-Match: *" into a 304 without a body and any
     * If-Unmodified-Since into a 412; git http-backend ignores these
     * headers (and nginx does not apply them to FastCGI answers): 200
     */

    r->disable_not_modified = 1;

    /* git http-backend sends the dumb HEAD with no cache headers */

    if (ctx->kind != GSH_DUMB_HEAD && ngx_http_gsh_set_nocache(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->cache_read) {
        ngx_http_gsh_cache_send(r, ctx);
        return;
    }

    ctx->streaming = 1;
    ctx->zero_copy = ngx_http_gsh_zero_copy(r);

    ngx_http_gsh_stream(r, ctx, NULL);
}


/*
 * turns the buffer a read task filled, and the file pieces it handed out
 * around it, into what to send
 */

static ngx_chain_t *
ngx_http_gsh_read_result(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    int rc, size_t written, gsh_piece *pieces, size_t npieces)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *out, *last;

    cl = ctx->filling;
    ctx->filling = NULL;

    b = cl->buf;
    b->pos = b->start;
    b->last = b->start + written;
    b->flush = 1;

    switch (rc) {

    case GSH_AGAIN:
        ngx_http_gsh_cache_check_tee(r, ctx);
        break;

    case GSH_DONE:
        ctx->eof = 1;
        ngx_http_gsh_pack_end(ctx);
        ngx_http_gsh_cache_written(r, ctx);
        break;

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": response "
                      "aborted: %s",
                      &ctx->repo_log, gsh_session_message(ctx->session));
        ctx->failed = 1;
        ngx_http_gsh_pack_end(ctx);
        ngx_http_gsh_cache_abandon(ctx);
        break;
    }

    if (npieces > 1 || (npieces == 1 && pieces[0].fd >= 0)) {
        out = ngx_http_gsh_pieces_chain(r, ctx, cl, pieces, npieces);

        if (out == NGX_CHAIN_ERROR) {
            return NGX_CHAIN_ERROR;
        }

    } else if (written) {
        out = cl;
        out->next = NULL;

    } else {
        /* nothing written: the buffer is free again */
        cl->next = ctx->free;
        ctx->free = cl;
        out = NULL;
    }

    if (!ctx->eof) {
        return out;
    }

    if (out) {
        for (last = out; last->next; last = last->next) { /* void */ }

        last->buf->last_buf = (r == r->main) ? 1 : 0;
        last->buf->last_in_chain = 1;
        return out;
    }

    return ngx_http_gsh_last_buf(r);
}


/* a special buffer, not ours: ngx_http_gsh_update_chains() frees it */

static ngx_chain_t *
ngx_http_gsh_last_buf(ngx_http_request_t *r)
{
    ngx_buf_t    *b;
    ngx_chain_t  *out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_CHAIN_ERROR;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->flush = 1;

    out = ngx_alloc_chain_link(r->pool);
    if (out == NULL) {
        return NGX_CHAIN_ERROR;
    }

    out->buf = b;
    out->next = NULL;

    return out;
}


static void
ngx_http_gsh_stream(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t *out)
{
    ngx_int_t          rc;
    ngx_uint_t         pending;
    ngx_connection_t  *c;

    c = r->connection;

    if (ctx->cache_alone) {
        ngx_http_gsh_stream_alone(r, ctx, out);
        return;
    }

again:

    rc = NGX_OK;

    if (out || ctx->busy || r->buffered || (r == r->main && c->buffered)) {

        rc = ngx_http_output_filter(r, out);

        ngx_http_gsh_update_chains(r, ctx, &out);

        if (rc == NGX_ERROR) {
            /* the client is gone (logged at info) or a filter failed */

            if (c->error
                && ngx_http_gsh_cache_alone(r, ctx, "closed the connection")
                   == NGX_OK)
            {
                ngx_http_gsh_stream_alone(r, ctx, NULL);
                return;
            }

            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }
    }

    if (ctx->eof) {
        /* the last buffer is out; nginx's writer sends what is left */
        ngx_http_finalize_request(r, rc);
        return;
    }

    pending = (ctx->busy || r->buffered || (r == r->main && c->buffered));

    if (ctx->failed) {
        if (!pending) {
            /* close the connection: the client sees a truncated response */
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

    } else if (!ctx->task_busy) {
        rc = ngx_http_gsh_fill(r, ctx, &out);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        if (rc == NGX_AGAIN) {
            goto again;
        }
    }

    if (ngx_http_gsh_wait_client(r, pending) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }
}


/*
 * A writer of the pack cache whose client is gone (ngx_http_gsh_cache_alone()):
 * reads go on, into the file only, until the pack is written or fails.
 */

static void
ngx_http_gsh_stream_alone(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t *out)
{
    ngx_int_t  rc;

    for ( ;; ) {
        ngx_http_gsh_drop_chains(r, ctx, &out);

        if (ctx->eof || ctx->failed) {
            /* the file is finished or dropped: the connection goes */
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        if (ctx->task_busy) {
            return;
        }

        rc = ngx_http_gsh_fill(r, ctx, &out);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        if (rc != NGX_AGAIN) {
            /* a read task runs */
            return;
        }
    }
}


/*
 * A free buffer, if any, is filled: by a read task (NGX_OK), or on the
 * loop when the response is in memory (NGX_AGAIN: *out is what to send,
 * maybe nothing, and the stream goes on).
 */

static ngx_int_t
ngx_http_gsh_fill(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t **out)
{
    int      rc;
    size_t   written;

    ctx->filling = ngx_http_gsh_get_buf(r, ctx);

    if (ctx->filling == NGX_CHAIN_ERROR) {
        ctx->filling = NULL;
        return NGX_ERROR;
    }

    if (ctx->filling == NULL) {
        return NGX_OK;
    }

    if (ctx->on_loop) {
        /* the response is in memory: reading it does not block */

        rc = gsh_session_read(ctx->session, ctx->filling->buf->start,
                              ctx->filling->buf->end
                              - ctx->filling->buf->start,
                              &written);

        *out = ngx_http_gsh_read_result(r, ctx, rc, written, NULL, 0);

        return (*out == NGX_CHAIN_ERROR) ? NGX_ERROR : NGX_AGAIN;
    }

    if (ngx_http_gsh_post_task(r, ctx, ngx_http_gsh_op_read) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_chain_t *
ngx_http_gsh_get_buf(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    while (ctx->free) {
        cl = ctx->free;
        ctx->free = cl->next;
        cl->next = NULL;

        if ((size_t) (cl->buf->end - cl->buf->start) == NGX_HTTP_GSH_BUF_SIZE)
        {
            return cl;
        }

        /* the small first buffer: the response goes on in large ones */
        ngx_pfree(r->pool, cl->buf->start);
    }

    if (ctx->nbufs >= NGX_HTTP_GSH_BUFS) {
        return NULL;
    }

    size = ctx->first_buf ? NGX_HTTP_GSH_BUF_SIZE
                          : NGX_HTTP_GSH_FIRST_BUF_SIZE;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_CHAIN_ERROR;
    }

    b->tag = (ngx_buf_tag_t) &ngx_http_git_smart_http_module;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_CHAIN_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    if (ctx->first_buf) {
        ctx->nbufs++;
    }

    ctx->first_buf = 1;

    return cl;
}


/*
 * git_smart_http_timeout: a read task of a pack is posted only when a
 * buffer is free, that is when the client is not what the pack waits for;
 * a task that has not returned after the timeout has produced nothing for
 * that long.  The thread cannot be interrupted: the session is asked to
 * stop, which it does at its next check (see gsh_session_stop_pack()).
 */

static void
ngx_http_gsh_progress_arm(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_loc_conf_t  *glcf;

    if (!ctx->pack) {
        return;
    }

    ctx->task_start = ngx_current_msec;

    /*
     * the timeout watches the making of a pack to send; a push's work
     * (index-pack, the connectivity check, hooks: its first read task) is
     * not cut short by it
     */

    if (ctx->kind == GSH_RPC_RECEIVE_PACK) {
        return;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    if (glcf->timeout && ctx->error != ngx_http_gsh_err_pack_timeout) {
        ngx_add_timer(&ctx->progress, glcf->timeout);
    }
}


static void
ngx_http_gsh_progress_done(ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_task_ctx_t  *t;

    t = ctx->task->ctx;

    if (!ctx->pack || t->op != ngx_http_gsh_op_read) {
        return;
    }

    ctx->pack_msec += ngx_current_msec - ctx->task_start;

    if (ctx->progress.timer_set) {
        ngx_del_timer(&ctx->progress);
    }
}


static void
ngx_http_gsh_progress_handler(ngx_event_t *ev)
{
    ngx_http_gsh_ctx_t       *ctx;
    ngx_http_gsh_loc_conf_t  *glcf;

    ctx = ev->data;

    glcf = ngx_http_get_module_loc_conf(ctx->request,
                                        ngx_http_git_smart_http_module);

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "git_smart_http: repository \"%V\": the pack made no "
                  "progress for %M ms, ending it",
                  &ctx->repo_log, glcf->timeout);

    ngx_http_gsh_metrics_error(ctx, ngx_http_gsh_err_pack_timeout);

    gsh_session_stop_pack(ctx->session);
}


/* the last byte of a pack is out, or the pack failed, or the request ends */

static void
ngx_http_gsh_pack_end(ngx_http_gsh_ctx_t *ctx)
{
    if (!ctx->pack || ctx->pack_ended) {
        return;
    }

    ctx->pack_ended = 1;

    ngx_http_gsh_limit_release(ctx);
    ngx_http_gsh_metrics_pack(ctx);
}


/* before the session is destroyed: the pack's counters read it */

static void
ngx_http_gsh_stream_cleanup(void *data)
{
    ngx_http_gsh_ctx_t *ctx = data;

    if (ctx->progress.timer_set) {
        ngx_del_timer(&ctx->progress);
    }

    ngx_http_gsh_pack_end(ctx);

    ngx_http_gsh_zone_in_flight_add(-1);
}

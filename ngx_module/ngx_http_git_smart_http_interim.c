
/*
 * Git Smart HTTP for nginx: what the client is sent while a read task
 * counts objects and plans a pack, or does a push (see the stream file,
 * which arms the timer).
 */


#include "ngx_http_git_smart_http_module.h"


static ngx_chain_t *ngx_http_gsh_interim_chain(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);


/*
 * A read task that starts a pack counts objects and plans the pack first,
 * and a push's first read task does the whole push, either of which may
 * take long with nothing in its buffer; git's upload-pack and receive-pack
 * send progress, hook output and keepalives meanwhile, and so does this
 * timer, with what the core hands out for it (gsh_session_interim(), made
 * for this: safe while the task runs, and in order ahead of the task's
 * result).
 *
 * r->aio stays set while the task runs, and with it the copy filter holds
 * back whatever is passed (as for its own thread reads); the bytes here are
 * in memory and no filter reads a file for them, so it is cleared for the
 * call.  Each send gets a buf of its own, as filters may still hold the
 * previous one in their busy chains; the memory is reused only once the
 * previous buf is all out.
 */

void
ngx_http_gsh_interim_handler(ngx_event_t *ev)
{
    unsigned                   aio;
    ngx_int_t                  rc;
    ngx_chain_t               *cl;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_gsh_ctx_t        *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    if (!ctx->task_busy || !ctx->streaming || r->done || c->error
        || ctx->cache_alone)
    {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_GSH_INTERIM_TIMER);

    cl = ngx_http_gsh_interim_chain(r, ctx);

    if (cl == NGX_CHAIN_ERROR) {
        return;
    }

    if (cl == NULL && !r->buffered && !(r == r->main && c->buffered)) {
        return;
    }

    /* also what an earlier call left for the client */

    aio = r->aio;
    r->aio = 0;

    rc = ngx_http_output_filter(r, cl);

    r->aio = aio;

    if (rc == NGX_ERROR) {
        /* the task's end sees the connection's error and finalizes */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "git_smart_http: interim output failed");
        return;
    }

    if (!r->buffered && !(r == r->main && c->buffered)) {

        /*
         * all out: a full buffer (a push's hook output, many progress
         * lines) may have more behind it
         */

        if (cl != NULL
            && (size_t) (cl->buf->last - cl->buf->start)
               > NGX_HTTP_GSH_INTERIM_SIZE / 2)
        {
            ngx_add_timer(ev, NGX_HTTP_GSH_INTERIM_AGAIN);
        }

        return;
    }

    /* the client is slow: the write handler waits for it, as it does */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!c->write->delayed && !c->write->timer_set) {
        ngx_add_timer(c->write, clcf->send_timeout);
    }

    (void) ngx_handle_write_event(c->write, clcf->send_lowat);
}


/*
 * The core's interim bytes in a buf of their own, once the previous one is
 * all out; NULL when there are none, NGX_CHAIN_ERROR when out of memory.
 */

static ngx_chain_t *
ngx_http_gsh_interim_chain(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (ctx->interim_data == NULL) {
        ctx->interim_data = ngx_palloc(r->pool, NGX_HTTP_GSH_INTERIM_SIZE);
        if (ctx->interim_data == NULL) {
            return NGX_CHAIN_ERROR;
        }
    }

    cl = NULL;

    if (ctx->interim_sent == NULL || ngx_buf_size(ctx->interim_sent) == 0) {
        n = gsh_session_interim(ctx->session, ctx->interim_data,
                                NGX_HTTP_GSH_INTERIM_SIZE);

        if (n) {
            b = ngx_calloc_buf(r->pool);
            cl = ngx_alloc_chain_link(r->pool);

            if (b == NULL || cl == NULL) {
                /*
                 * out of memory: these pkt-lines (progress or a
                 * keepalive, all whole) are dropped, the response stays
                 * well-formed
                 */
                return NGX_CHAIN_ERROR;
            }

            b->start = ctx->interim_data;
            b->pos = b->start;
            b->last = b->start + n;
            b->end = b->start + NGX_HTTP_GSH_INTERIM_SIZE;
            b->temporary = 1;
            b->flush = 1;
            b->tag = (ngx_buf_tag_t) &ctx->interim_data;

            cl->buf = b;
            cl->next = NULL;

            ctx->interim_sent = b;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "git_smart_http: %uz interim bytes", n);
        }
    }

    return cl;
}

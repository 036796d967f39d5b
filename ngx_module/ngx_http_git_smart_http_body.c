
/*
 * Git Smart HTTP for nginx: reading a large request body in fewer wakeups.
 *
 * git sends a large request (a fetch with tens of thousands of wants, say)
 * as it makes it, a few hundred bytes at a time, and nginx would wake up,
 * recv() them and wait in epoll again for each piece: thousands of context
 * switches for a few megabytes.  While such a body is read, SO_RCVLOWAT
 * asks the kernel to report the socket readable only once
 * NGX_HTTP_GSH_BODY_LOWAT bytes wait; a timer every NGX_HTTP_GSH_BODY_TICK
 * ms reads whatever fewer bytes came (the end of the body, a slow client).
 * client_body_timeout still counts from the last read that got bytes.
 *
 * Not for HTTP/2 (one socket, many streams) nor TLS (the record layer
 * holds bytes the socket does not show).
 */


#include "ngx_http_git_smart_http_module.h"

#include <sys/ioctl.h>


#define NGX_HTTP_GSH_BODY_LOWAT  65536
#define NGX_HTTP_GSH_BODY_TICK   5


static void ngx_http_gsh_body_tick(ngx_event_t *ev);
static void ngx_http_gsh_body_cleanup(void *data);


/* after ngx_http_read_client_request_body() left the body unfinished */

void
ngx_http_gsh_body_pace(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    int                  lowat;
    ngx_connection_t    *c;
    ngx_pool_cleanup_t  *cln;

    c = r->connection;

    if (ctx->body_paced
        || r->request_body == NULL
#if (NGX_HTTP_V2)
        || r->stream
#endif
#if (NGX_HTTP_SSL)
        || c->ssl
#endif
        || (!r->headers_in.chunked
            && r->headers_in.content_length_n < 2 * NGX_HTTP_GSH_BODY_LOWAT))
    {
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return;
    }

    lowat = NGX_HTTP_GSH_BODY_LOWAT;

    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(int)) == -1)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, ngx_socket_errno,
                      "git_smart_http: setsockopt(SO_RCVLOWAT) failed");
        return;
    }

    cln->handler = ngx_http_gsh_body_cleanup;
    cln->data = ctx;

    ctx->body_paced = 1;
    ctx->body_timer.handler = ngx_http_gsh_body_tick;
    ctx->body_timer.data = ctx;
    ctx->body_timer.log = c->log;

    ngx_add_timer(&ctx->body_timer, NGX_HTTP_GSH_BODY_TICK);
}


/* the body is read (or the request ends): the socket wakes up as before */

void
ngx_http_gsh_body_unpace(ngx_http_gsh_ctx_t *ctx)
{
    int  one;

    if (!ctx->body_paced) {
        return;
    }

    ctx->body_paced = 0;

    if (ctx->body_timer.timer_set) {
        ngx_del_timer(&ctx->body_timer);
    }

    one = 1;

    if (setsockopt(ctx->request->connection->fd, SOL_SOCKET, SO_RCVLOWAT,
                   &one, sizeof(int))
        == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log,
                      ngx_socket_errno,
                      "git_smart_http: setsockopt(SO_RCVLOWAT, 1) failed");
    }
}


static void
ngx_http_gsh_body_tick(ngx_event_t *ev)
{
    int                  n;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_gsh_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_add_timer(ev, NGX_HTTP_GSH_BODY_TICK);

    n = 0;

    if (ioctl(c->fd, FIONREAD, &n) != -1 && n == 0) {
        return;
    }

    /* what epoll would have said without SO_RCVLOWAT */

    c->read->ready = 1;
#if (NGX_HAVE_EPOLLRDHUP)
    c->read->available = -1;
#endif

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_gsh_body_cleanup(void *data)
{
    ngx_http_gsh_body_unpace(data);
}

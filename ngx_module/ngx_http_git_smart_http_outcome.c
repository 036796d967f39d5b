
/*
 * Git Smart HTTP for nginx: how a request ended, in the module's terms.
 * The one reading of it: $git_status names it (see the variables file),
 * and the metrics count the errors of a response that was cut short.
 *
 * A 200 response that went out whole is "ok", or "refused" when it is an
 * ERR line the client shows; one that stopped is "aborted" (the pack
 * failed, side-band 3 told the client), "client_closed" or "timeout"; a
 * request answered with an error status names it.
 */


#include "ngx_http_git_smart_http_module.h"


static ngx_http_gsh_outcome_e ngx_http_gsh_outcome_streamed(
    ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx);
static ngx_http_gsh_outcome_e ngx_http_gsh_outcome_status(
    ngx_http_request_t *r);


static const char  *ngx_http_gsh_outcome_names[] = {
    NULL,                               /* not known yet */
    "ok",
    "refused",
    "aborted",
    "timeout",
    "client_closed",
    "error",
    "bad_request",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "too_large",
    "unsupported_media_type"
};


ngx_http_gsh_outcome_e
ngx_http_gsh_outcome(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    /* the session's values are not read while a task runs on it */

    if (ctx->task_busy) {
        return ngx_http_gsh_outcome_none;
    }

    if (ctx->streaming) {
        return ngx_http_gsh_outcome_streamed(r, ctx);
    }

    return ngx_http_gsh_outcome_status(r);
}


/* NULL while not known */

const char *
ngx_http_gsh_outcome_name(ngx_http_gsh_outcome_e outcome)
{
    return ngx_http_gsh_outcome_names[outcome];
}


/* a response whose headers went out and whose body the stream sent */

static ngx_http_gsh_outcome_e
ngx_http_gsh_outcome_streamed(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_connection_t   *c;
    gsh_session_stats   st;

    c = r->connection;

    if (ctx->failed) {
        return ngx_http_gsh_outcome_aborted;
    }

    if (c->timedout) {
        return ngx_http_gsh_outcome_timeout;
    }

    if (c->error) {
        return ngx_http_gsh_outcome_client_closed;
    }

    if (!ctx->eof) {
        /* ended by a failure on this side (no memory, a filter) */
        return ngx_http_gsh_outcome_error;
    }

    gsh_session_get_stats(ctx->session, &st);

    return st.refused ? ngx_http_gsh_outcome_refused : ngx_http_gsh_outcome_ok;
}


static ngx_http_gsh_outcome_e
ngx_http_gsh_outcome_status(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    switch (r->headers_out.status) {

    case NGX_HTTP_OK:
        /* a HEAD request is answered with the headers only */
        if (r->header_only) {
            return ngx_http_gsh_outcome_ok;
        }

        /* else the headers are being sent (add_header) or failed to be */
        return c->error ? ngx_http_gsh_outcome_client_closed
                        : ngx_http_gsh_outcome_none;

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_LENGTH_REQUIRED:
        return ngx_http_gsh_outcome_bad_request;

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_gsh_outcome_forbidden;

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_gsh_outcome_not_found;

    case NGX_HTTP_NOT_ALLOWED:
        return ngx_http_gsh_outcome_method_not_allowed;

    case NGX_HTTP_REQUEST_TIME_OUT:
        return ngx_http_gsh_outcome_timeout;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return ngx_http_gsh_outcome_too_large;

    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        return ngx_http_gsh_outcome_unsupported_media_type;

    case NGX_HTTP_CLIENT_CLOSED_REQUEST:
        return ngx_http_gsh_outcome_client_closed;

    case 0:
        /* finalized before any status: the client went away, or a failure */
        if (c->timedout) {
            return ngx_http_gsh_outcome_timeout;
        }

        return c->error ? ngx_http_gsh_outcome_client_closed
                        : ngx_http_gsh_outcome_error;

    default:
        return ngx_http_gsh_outcome_error;
    }
}

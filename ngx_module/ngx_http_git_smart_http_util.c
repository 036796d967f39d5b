
/*
 * Git Smart HTTP for nginx: small helpers on a request's headers and on
 * log text, which call no other file of the module.
 */


#include "ngx_http_git_smart_http_module.h"


ngx_table_elt_t *
ngx_http_gsh_find_header(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * The version a request's Git-Protocol header asks for (0, 1 or 2), read by
 * the core's one parser as git reads GIT_PROTOCOL; the first header, as
 * the core and $http_git_protocol (what git http-backend is given) see it.
 * The one reading for the session, $git_protocol and the metrics.
 */

ngx_uint_t
ngx_http_gsh_protocol(ngx_http_request_t *r)
{
    int               v;
    ngx_table_elt_t  *h;

    h = ngx_http_gsh_find_header(r, "Git-Protocol",
                                 sizeof("Git-Protocol") - 1);
    if (h == NULL) {
        return 0;
    }

    v = gsh_protocol_version((const char *) h->value.data, h->value.len);

    return v > 0 ? (ngx_uint_t) v : 0;
}


ngx_int_t
ngx_http_gsh_add_header(ngx_http_request_t *r, const char *key,
    size_t key_len, const char *value, size_t value_len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = key_len;
    h->value.data = (u_char *) value;
    h->value.len = value_len;

    return NGX_OK;
}


/* the headers "git http-backend" sends with every response but dumb files */

ngx_int_t
ngx_http_gsh_set_nocache(ngx_http_request_t *r)
{
    if (ngx_http_gsh_add_header(r, "Expires", sizeof("Expires") - 1,
                                "Fri, 01 Jan 1980 00:00:00 GMT",
                                sizeof("Fri, 01 Jan 1980 00:00:00 GMT") - 1)
        != NGX_OK
        || ngx_http_gsh_add_header(r, "Pragma", sizeof("Pragma") - 1,
                                   "no-cache", sizeof("no-cache") - 1)
           != NGX_OK
        || ngx_http_gsh_add_header(r, "Cache-Control",
                                   sizeof("Cache-Control") - 1,
                                   "no-cache, max-age=0, must-revalidate",
                                   sizeof("no-cache, max-age=0, "
                                          "must-revalidate") - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an error status for the content handler to return, with no-cache headers */

ngx_int_t
ngx_http_gsh_error(ngx_http_request_t *r, ngx_int_t status)
{
    if (ngx_http_gsh_set_nocache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return status;
}


/*
 * The decoded URI may hold any byte; error_log gets control characters,
 * spaces and non-ASCII bytes %-escaped, so that a request cannot forge
 * log lines.
 */

ngx_int_t
ngx_http_gsh_log_escape(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    uintptr_t  n;

    n = ngx_escape_uri(NULL, src->data, src->len, NGX_ESCAPE_URI);

    dst->len = src->len + 2 * n;
    dst->data = ngx_pnalloc(pool, dst->len ? dst->len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_escape_uri(dst->data, src->data, src->len, NGX_ESCAPE_URI);

    return NGX_OK;
}


/*
 * Waits for the client only while something is waiting to be sent
 * (send_timeout): the time the core takes to produce bytes, or a pack
 * cache file to grow, is not a send timeout.
 */

ngx_int_t
ngx_http_gsh_wait_client(ngx_http_request_t *r, ngx_uint_t pending)
{
    ngx_event_t               *wev;
    ngx_http_core_loc_conf_t  *clcf;

    wev = r->connection->write;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (pending) {
        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

    } else if (wev->timer_set && !wev->delayed) {
        ngx_del_timer(wev);
    }

    return ngx_handle_write_event(wev, clcf->send_lowat);
}

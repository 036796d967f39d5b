
/*
 * Git Smart HTTP for nginx: git_smart_http_max_concurrent and
 * git_smart_http_queue, per request.
 *
 * A pack-producing request (a fetch done negotiating; never an
 * advertisement, ls-refs or a negotiation round) and a push take a holder
 * entry of the shared zone (see the zone file) before their work starts: a
 * slot when fewer than git_smart_http_max_concurrent packs of the same
 * limit run, else a place in the queue, else a refusal (429, or 503 when
 * the zone is full).  A queued request is given its slot by a retry timer,
 * or sooner when a request of this worker releases one.
 *
 * A limit is identified by the file and line of its max_concurrent
 * directive: every location inheriting it shares its slots, and the slots
 * of packs still running in old workers after a reload count against the
 * same directive of the new configuration.
 */


#include "ngx_http_git_smart_http_zone.h"


struct ngx_http_gsh_limit_s {
    ngx_http_request_t         *request;
    ngx_http_gsh_ctx_t         *ctx;
    ngx_http_gsh_shctx_t       *sh;
    ngx_http_gsh_granted_pt     granted;    /* called when a slot is got */

    ngx_int_t                   holder;     /* index, or -1 */
    uint32_t                    key;
    ngx_int_t                   max;        /* the limit it waits for */
    ngx_msec_t                  deadline;   /* of the wait */
    ngx_event_t                 wait;       /* retries while queued */
    ngx_queue_t                 queue;      /* this worker's waiters */
};


static ngx_http_gsh_limit_t *ngx_http_gsh_limit_create(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_shctx_t *sh,
    ngx_http_gsh_granted_pt granted);
static ngx_int_t ngx_http_gsh_refuse_busy(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_int_t status, ngx_http_gsh_err_e kind);
static void ngx_http_gsh_wait_handler(ngx_event_t *ev);
static void ngx_http_gsh_stop_waiting(ngx_http_gsh_limit_t *lim);
static void ngx_http_gsh_limit_cleanup(void *data);


/* this worker's waiting requests, woken up when it releases a slot */
static ngx_queue_t  ngx_http_gsh_waiters;


void
ngx_http_gsh_limit_init_process(void)
{
    ngx_queue_init(&ngx_http_gsh_waiters);
}


/*
 * NGX_OK when the request may go on now (it holds a slot, or no limit
 * applies), NGX_AGAIN when it waits for a slot (granted() follows when it
 * gets one), or the status of a refusal.
 */

ngx_int_t
ngx_http_gsh_limit_enter(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_granted_pt granted)
{
    ngx_int_t                 idx;
    ngx_uint_t                waiting;
    ngx_http_gsh_limit_t     *lim;
    ngx_http_gsh_shctx_t     *sh;
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);
    sh = ngx_http_gsh_shctx();

    if (glcf->max_concurrent == 0 || sh == NULL) {
        return NGX_OK;
    }

    lim = ngx_http_gsh_limit_create(r, ctx, sh, granted);
    if (lim == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lim->key = glcf->limit_key;
    lim->max = glcf->max_concurrent;

    idx = ngx_http_gsh_zone_take(sh, lim->key, (ngx_uint_t) lim->max,
                                 (ngx_uint_t) glcf->queue, &waiting);

    if (idx == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": %i packs running "
                      "and %ui waiting, refused",
                      &ctx->repo_log, lim->max, waiting);

        return ngx_http_gsh_refuse_busy(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                        ngx_http_gsh_err_limit);
    }

    if (idx == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": the shared zone "
                      "holds %d packs and queued requests at most, refused",
                      &ctx->repo_log, NGX_HTTP_GSH_HOLDERS);

        return ngx_http_gsh_refuse_busy(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        ngx_http_gsh_err_zone_full);
    }

    lim->holder = idx;

    if (!ngx_http_gsh_zone_waiting(sh, idx)) {
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


static ngx_http_gsh_limit_t *
ngx_http_gsh_limit_create(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_shctx_t *sh, ngx_http_gsh_granted_pt granted)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_gsh_limit_t  *lim;

    lim = ngx_pcalloc(r->pool, sizeof(ngx_http_gsh_limit_t));
    if (lim == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    lim->request = r;
    lim->ctx = ctx;
    lim->sh = sh;
    lim->granted = granted;
    lim->holder = -1;

    lim->wait.handler = ngx_http_gsh_wait_handler;
    lim->wait.data = lim;
    lim->wait.log = r->connection->log;

    cln->handler = ngx_http_gsh_limit_cleanup;
    cln->data = lim;

    ctx->limit = lim;

    return lim;
}


/* the slot is given back: the pack is out, failed, or the request ends */

void
ngx_http_gsh_limit_release(ngx_http_gsh_ctx_t *ctx)
{
    ngx_queue_t           *q;
    ngx_http_gsh_limit_t  *lim, *w;

    lim = ctx->limit;

    if (lim == NULL || lim->holder < 0) {
        return;
    }

    ngx_http_gsh_zone_free(lim->sh, lim->holder);

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
ngx_http_gsh_refuse_busy(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_int_t status, ngx_http_gsh_err_e kind)
{
    u_char                   *p;
    ngx_table_elt_t          *h;
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    ngx_http_gsh_metrics_error(ctx, kind);

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
    ngx_msec_int_t         left;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_gsh_limit_t  *lim;

    lim = ev->data;
    r = lim->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (lim->holder < 0) {
        return;
    }

    if (ngx_http_gsh_zone_try_slot(lim->sh, lim->holder, lim->key,
                                   (ngx_uint_t) lim->max))
    {
        ngx_http_gsh_stop_waiting(lim);

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "git_smart_http: got a pack slot");

        lim->granted(r, lim->ctx);
        ngx_http_run_posted_requests(c);
        return;
    }

    left = (ngx_msec_int_t) (lim->deadline - ngx_current_msec);

    if (left > 0) {
        ngx_add_timer(ev, ngx_min(NGX_HTTP_GSH_RETRY, (ngx_msec_t) left));
        return;
    }

    ngx_http_gsh_stop_waiting(lim);
    ngx_http_gsh_limit_release(lim->ctx);

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "git_smart_http: repository \"%V\": no pack slot within "
                  "the queue timeout, refused", &lim->ctx->repo_log);

    ngx_http_finalize_request(r,
        ngx_http_gsh_refuse_busy(r, lim->ctx, NGX_HTTP_TOO_MANY_REQUESTS,
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


static void
ngx_http_gsh_limit_cleanup(void *data)
{
    ngx_http_gsh_limit_t *lim = data;

    ngx_http_gsh_stop_waiting(lim);
    ngx_http_gsh_limit_release(lim->ctx);
}

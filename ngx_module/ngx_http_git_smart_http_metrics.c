
/*
 * Git Smart HTTP for nginx: metrics.  Every request of a git_smart_http
 * location is counted in the log phase into the shared zone (see the zone
 * file), so the counters are those of all workers, and a reload keeps them
 * as it keeps the zone.  "git_smart_http_metrics" in a location of its own
 * answers them in the Prometheus text format (version 0.0.4): one loop
 * over the table of metrics below writes them.
 */


#include "ngx_http_git_smart_http_zone.h"


/* what the metrics location reads of the zone, once per answer */

typedef struct {
    ngx_http_gsh_shctx_t       *sh;
    ngx_atomic_uint_t           in_flight;
    ngx_uint_t                  running;
    ngx_uint_t                  queued;
} ngx_http_gsh_snapshot_t;


typedef ngx_atomic_uint_t (*ngx_http_gsh_value_pt)(ngx_http_gsh_snapshot_t *s);
typedef u_char *(*ngx_http_gsh_series_pt)(u_char *p, u_char *last,
    const char *name, ngx_http_gsh_snapshot_t *s);


typedef struct {
    const char                 *name;
    const char                 *type;
    const char                 *help;
    ngx_http_gsh_value_pt       value;  /* one sample with no label, or */
    ngx_http_gsh_series_pt      series; /* the samples it writes itself */
} ngx_http_gsh_metric_t;


static void ngx_http_gsh_count_errors(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_shctx_t *sh, ngx_uint_t status);
static ngx_uint_t ngx_http_gsh_status_index(ngx_uint_t status);
static ngx_http_gsh_cmd_e ngx_http_gsh_cmd_index(const char *name);
static void ngx_http_gsh_count_error(ngx_http_gsh_shctx_t *sh,
    ngx_http_gsh_err_e kind);
static ngx_int_t ngx_http_gsh_metrics_send(ngx_http_request_t *r,
    ngx_buf_t *b);
static u_char *ngx_http_gsh_requests(u_char *p, u_char *last,
    const char *name, ngx_http_gsh_snapshot_t *s);
static u_char *ngx_http_gsh_response_bytes(u_char *p, u_char *last,
    const char *name, ngx_http_gsh_snapshot_t *s);
static u_char *ngx_http_gsh_pack_seconds(u_char *p, u_char *last,
    const char *name, ngx_http_gsh_snapshot_t *s);
static void ngx_http_gsh_count_phases(ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_shctx_t *sh, ngx_http_gsh_cmd_e cmd);
static u_char *ngx_http_gsh_phase_seconds(u_char *p, u_char *last,
    const char *name, ngx_http_gsh_snapshot_t *s);
static u_char *ngx_http_gsh_histogram(u_char *p, u_char *last,
    const char *name, ngx_atomic_t *buckets);
static u_char *ngx_http_gsh_labelled_histogram(u_char *p, u_char *last,
    const char *name, u_char *labels, ngx_atomic_t *buckets);
static ngx_atomic_uint_t ngx_http_gsh_total(ngx_atomic_t *buckets);
static u_char *ngx_http_gsh_errors(u_char *p, u_char *last,
    const char *name, ngx_http_gsh_snapshot_t *s);
static ngx_atomic_uint_t ngx_http_gsh_pack_bytes(ngx_http_gsh_snapshot_t *s);
static ngx_atomic_uint_t ngx_http_gsh_pack_file_bytes(
    ngx_http_gsh_snapshot_t *s);
static ngx_atomic_uint_t ngx_http_gsh_pack_objects(
    ngx_http_gsh_snapshot_t *s);
static ngx_atomic_uint_t ngx_http_gsh_in_flight(ngx_http_gsh_snapshot_t *s);
static ngx_atomic_uint_t ngx_http_gsh_running(ngx_http_gsh_snapshot_t *s);
static ngx_atomic_uint_t ngx_http_gsh_queued(ngx_http_gsh_snapshot_t *s);
static u_char *ngx_http_gsh_print_msec(u_char *p, u_char *last,
    ngx_atomic_uint_t msec);


/* the statuses counted by their code; "other" counts the rest */

static ngx_uint_t  ngx_http_gsh_statuses[NGX_HTTP_GSH_STATUSES - 1] = {
    200, 206, 304, 400, 401, 403, 404, 405, 408, 411, 413, 415, 429, 499,
    500, 503
};

static const char  *ngx_http_gsh_svc_names[ngx_http_gsh_svc_n] = {
    "none", "upload-pack", "receive-pack"
};

static const char  *ngx_http_gsh_cmd_names[ngx_http_gsh_cmd_n] = {
    "none", "advertise", "ls-refs", "fetch", "object-info", "unknown",
    "receive-pack"
};

static const char  *ngx_http_gsh_err_names[ngx_http_gsh_err_n] = {
    "limit", "queue_timeout", "zone_full", "pack_timeout", "pack_failed",
    "client_closed", "send_timeout", "client_error", "server_error"
};

/* upper bounds of the pack time buckets, in milliseconds */

static ngx_msec_t  ngx_http_gsh_buckets[NGX_HTTP_GSH_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
};


void
ngx_http_gsh_metrics_error(ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_err_e kind)
{
    ngx_http_gsh_shctx_t  *sh;

    /* one kind per request: the first, which explains the rest */

    if (ctx->error >= 0) {
        return;
    }

    ctx->error = kind;

    sh = ngx_http_gsh_shctx();

    if (sh) {
        ngx_http_gsh_count_error(sh, kind);
    }
}


static void
ngx_http_gsh_count_error(ngx_http_gsh_shctx_t *sh, ngx_http_gsh_err_e kind)
{
    (void) ngx_atomic_fetch_add(&sh->errors[kind], 1);
}


void
ngx_http_gsh_metrics_pack(ngx_http_gsh_ctx_t *ctx)
{
    ngx_uint_t             i;
    ngx_http_gsh_shctx_t  *sh;

    sh = ngx_http_gsh_shctx();

    /* a push holds a slot but makes no pack: these count packs sent */

    if (sh == NULL || ctx->kind == GSH_RPC_RECEIVE_PACK) {
        return;
    }

    for (i = 0; i < NGX_HTTP_GSH_BUCKETS; i++) {
        if (ctx->pack_msec <= ngx_http_gsh_buckets[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->pack_msec_buckets[i], 1);
    (void) ngx_atomic_fetch_add(&sh->pack_msec_sum, ctx->pack_msec);
    (void) ngx_atomic_fetch_add(&sh->pack_bytes,
                                gsh_session_pack_bytes(ctx->session));
    (void) ngx_atomic_fetch_add(&sh->pack_file_bytes, ctx->file_bytes);
    (void) ngx_atomic_fetch_add(&sh->pack_objects,
                                gsh_session_pack_objects(ctx->session));
}


ngx_int_t
ngx_http_gsh_metrics_log(ngx_http_request_t *r)
{
    off_t                     sent;
    ngx_uint_t                status, version;
    ngx_connection_t         *c;
    ngx_http_gsh_ctx_t       *ctx;
    ngx_http_gsh_svc_e        svc;
    ngx_http_gsh_cmd_e        cmd;
    ngx_http_gsh_shctx_t     *sh;
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    if (!glcf->enable || r != r->main) {
        return NGX_OK;
    }

    sh = ngx_http_gsh_shctx();

    if (sh == NULL) {
        return NGX_OK;
    }

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);

    status = r->err_status ? r->err_status : r->headers_out.status;

    svc = ngx_http_gsh_svc_none;
    cmd = ngx_http_gsh_cmd_none;

    if (ctx && ctx->session) {
        svc = (ctx->kind == GSH_ADVERTISE_RECEIVE_PACK
               || ctx->kind == GSH_RPC_RECEIVE_PACK)
              ? ngx_http_gsh_svc_receive_pack : ngx_http_gsh_svc_upload_pack;
        cmd = ngx_http_gsh_cmd_index(
                                gsh_session_metrics_command(ctx->session));
    }

    /* the same reading as the session's and $git_protocol's */

    version = (ctx && ctx->protocol >= 0) ? (ngx_uint_t) ctx->protocol
                                          : ngx_http_gsh_protocol(r);

    if (version >= NGX_HTTP_GSH_VERSIONS) {
        version = 0;
    }

    (void) ngx_atomic_fetch_add(
                 &sh->requests[svc][cmd][version]
                              [ngx_http_gsh_status_index(status)], 1);

    sent = c->sent - r->header_size;

    if (sent > 0) {
        (void) ngx_atomic_fetch_add(&sh->body_bytes[cmd], sent);
    }

    ngx_http_gsh_count_errors(r, ctx, sh, status);

    if (ctx && ctx->session && !ctx->task_busy) {
        ngx_http_gsh_count_phases(ctx, sh, cmd);
    }

    return NGX_OK;
}


/* the phases the request went through, each in its histogram */

static void
ngx_http_gsh_count_phases(ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_shctx_t *sh,
    ngx_http_gsh_cmd_e cmd)
{
    double              sec;
    ngx_uint_t          ph, i;
    ngx_msec_t          msec;
    gsh_session_stats   st;

    gsh_session_get_stats(ctx->session, &st);

    for (ph = 0; ph < GSH_PHASES; ph++) {
        sec = st.phase_seconds[ph];

        if (sec < 0) {
            continue;
        }

        msec = (ngx_msec_t) (sec * 1000);

        for (i = 0; i < NGX_HTTP_GSH_BUCKETS; i++) {
            if (msec <= ngx_http_gsh_buckets[i]) {
                break;
            }
        }

        (void) ngx_atomic_fetch_add(&sh->phase_msec_buckets[cmd][ph][i], 1);
        (void) ngx_atomic_fetch_add(&sh->phase_usec_sum[cmd][ph],
                                    (ngx_atomic_int_t) (sec * 1000000));
    }
}


/* the errors that nothing else has counted */

static void
ngx_http_gsh_count_errors(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_shctx_t *sh, ngx_uint_t status)
{
    if (ctx && ctx->error >= 0) {
        return;
    }

    if (ctx && ctx->streaming
        && (!ctx->eof || r->connection->error || r->connection->timedout))
    {
        /*
         * cut short (after the core's last byte too: the pack files it
         * handed out may still have been on their way): the outcome says
         * by what
         */

        switch (ngx_http_gsh_outcome(r, ctx)) {

        case ngx_http_gsh_outcome_aborted:
            ngx_http_gsh_count_error(sh, ngx_http_gsh_err_pack_failed);
            break;

        case ngx_http_gsh_outcome_timeout:
            ngx_http_gsh_count_error(sh, ngx_http_gsh_err_send_timeout);
            break;

        default:
            ngx_http_gsh_count_error(sh, ngx_http_gsh_err_client_closed);
            break;
        }

    } else if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        ngx_http_gsh_count_error(sh, ngx_http_gsh_err_client_closed);

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_gsh_count_error(sh, ngx_http_gsh_err_server_error);

    } else if (status >= NGX_HTTP_BAD_REQUEST && ctx && ctx->session) {
        /* refusals of the handler (404, 405, ...) are not errors here */
        ngx_http_gsh_count_error(sh, ngx_http_gsh_err_client_error);
    }
}


static ngx_uint_t
ngx_http_gsh_status_index(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_GSH_STATUSES - 1; i++) {
        if (ngx_http_gsh_statuses[i] == status) {
            return i;
        }
    }

    return NGX_HTTP_GSH_STATUSES - 1;
}


static ngx_http_gsh_cmd_e
ngx_http_gsh_cmd_index(const char *name)
{
    ngx_uint_t  i;

    for (i = ngx_http_gsh_cmd_advertise; i < ngx_http_gsh_cmd_n; i++) {
        if (ngx_strcmp(name, ngx_http_gsh_cmd_names[i]) == 0) {
            return i;
        }
    }

    return ngx_http_gsh_cmd_unknown;
}


/* the largest text that the counters can make: every series once */

#define NGX_HTTP_GSH_LINE  256

#define NGX_HTTP_GSH_METRICS_SIZE                                            \
    (NGX_HTTP_GSH_LINE                                                       \
     * (ngx_http_gsh_svc_n * ngx_http_gsh_cmd_n * NGX_HTTP_GSH_VERSIONS      \
        * NGX_HTTP_GSH_STATUSES                                              \
        + ngx_http_gsh_cmd_n + NGX_HTTP_GSH_BUCKETS + ngx_http_gsh_err_n     \
        + ngx_http_gsh_cmd_n * GSH_PHASES * (NGX_HTTP_GSH_BUCKETS + 3)      \
        + 40))


static ngx_http_gsh_metric_t  ngx_http_gsh_metric_table[] = {

    { "git_smart_http_requests_total", "counter",
      "Requests to git_smart_http locations, by service, command, protocol "
      "version and status.",
      NULL, ngx_http_gsh_requests },

    { "git_smart_http_response_bytes_total", "counter",
      "Response body bytes sent, by command.",
      NULL, ngx_http_gsh_response_bytes },

    { "git_smart_http_pack_bytes_total", "counter",
      "Bytes of the packs made (side-band framing excluded).",
      ngx_http_gsh_pack_bytes, NULL },

    { "git_smart_http_pack_file_bytes_total", "counter",
      "Bytes of the packs made that were sent from pack files as they are "
      "on disk (file buffers, sendfile where it is on).",
      ngx_http_gsh_pack_file_bytes, NULL },

    { "git_smart_http_pack_objects_total", "counter",
      "Objects in the packs made.",
      ngx_http_gsh_pack_objects, NULL },

    { "git_smart_http_pack_seconds", "histogram",
      "Time the thread pool spent making each pack (not the time spent "
      "waiting for the client).",
      NULL, ngx_http_gsh_pack_seconds },

    { "git_smart_http_phase_seconds", "histogram",
      "Time the core spent in each phase of a request (parse, negotiate, "
      "count, plan, write; receive, index, check, refs, hooks), by phase, "
      "service and command.",
      NULL, ngx_http_gsh_phase_seconds },

    { "git_smart_http_requests_in_flight", "gauge",
      "Requests being answered by the module, all workers.",
      ngx_http_gsh_in_flight, NULL },

    { "git_smart_http_packs_in_flight", "gauge",
      "Packs holding a slot of git_smart_http_max_concurrent.",
      ngx_http_gsh_running, NULL },

    { "git_smart_http_requests_queued", "gauge",
      "Pack requests waiting for a slot (git_smart_http_queue).",
      ngx_http_gsh_queued, NULL },

    { "git_smart_http_errors_total", "counter",
      "Requests that failed or were refused, by kind.",
      NULL, ngx_http_gsh_errors },

    { NULL, NULL, NULL, NULL, NULL }
};


ngx_int_t
ngx_http_gsh_metrics_handler(ngx_http_request_t *r)
{
    u_char                   *p, *last;
    ngx_int_t                 rc;
    ngx_buf_t                *b;
    ngx_http_gsh_metric_t    *m;
    ngx_http_gsh_snapshot_t   s;
    ngx_http_gsh_main_conf_t *gmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    s.sh = ngx_http_gsh_shctx();

    if (s.sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_git_smart_http_module);

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_GSH_METRICS_SIZE
                            + ngx_http_gsh_cache_metrics_size(
                                  gmcf->pack_caches));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s.in_flight = ngx_http_gsh_zone_in_flight(s.sh);
    s.running = ngx_http_gsh_zone_count(s.sh, &s.queued);

    p = b->pos;
    last = b->end;

    for (m = ngx_http_gsh_metric_table; m->name; m++) {
        p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                         m->name, m->help, m->name, m->type);

        if (m->value) {
            p = ngx_slprintf(p, last, "%s %uA\n", m->name, m->value(&s));

        } else {
            p = m->series(p, last, m->name, &s);
        }
    }

    p = ngx_http_gsh_cache_metrics(p, last, gmcf->pack_caches);

    b->last = p;

    return ngx_http_gsh_metrics_send(r, b);
}


static ngx_int_t
ngx_http_gsh_metrics_send(ngx_http_request_t *r, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the series that are not zero */

static u_char *
ngx_http_gsh_requests(u_char *p, u_char *last, const char *name,
    ngx_http_gsh_snapshot_t *s)
{
    ngx_uint_t         svc, cmd, v, st;
    ngx_atomic_uint_t  n;

    for (svc = 0; svc < ngx_http_gsh_svc_n; svc++) {
        for (cmd = 0; cmd < ngx_http_gsh_cmd_n; cmd++) {
            for (v = 0; v < NGX_HTTP_GSH_VERSIONS; v++) {
                for (st = 0; st < NGX_HTTP_GSH_STATUSES; st++) {

                    n = s->sh->requests[svc][cmd][v][st];

                    if (n == 0) {
                        continue;
                    }

                    p = ngx_slprintf(p, last,
                        "%s{service=\"%s\",command=\"%s\",protocol=\"%ui\","
                        "status=\"", name, ngx_http_gsh_svc_names[svc],
                        ngx_http_gsh_cmd_names[cmd], v);

                    if (st == NGX_HTTP_GSH_STATUSES - 1) {
                        p = ngx_slprintf(p, last, "other\"} %uA\n", n);

                    } else {
                        p = ngx_slprintf(p, last, "%ui\"} %uA\n",
                                         ngx_http_gsh_statuses[st], n);
                    }
                }
            }
        }
    }

    return p;
}


static u_char *
ngx_http_gsh_response_bytes(u_char *p, u_char *last, const char *name,
    ngx_http_gsh_snapshot_t *s)
{
    ngx_uint_t         cmd;
    ngx_atomic_uint_t  n;

    for (cmd = 0; cmd < ngx_http_gsh_cmd_n; cmd++) {
        n = s->sh->body_bytes[cmd];

        if (n) {
            p = ngx_slprintf(p, last, "%s{command=\"%s\"} %uA\n",
                             name, ngx_http_gsh_cmd_names[cmd], n);
        }
    }

    return p;
}


static u_char *
ngx_http_gsh_pack_seconds(u_char *p, u_char *last, const char *name,
    ngx_http_gsh_snapshot_t *s)
{
    p = ngx_http_gsh_histogram(p, last, name, s->sh->pack_msec_buckets);

    p = ngx_slprintf(p, last, "%s_sum ", name);
    p = ngx_http_gsh_print_msec(p, last, s->sh->pack_msec_sum);

    return ngx_slprintf(p, last, "\n%s_count %uA\n", name,
                        ngx_http_gsh_total(s->sh->pack_msec_buckets));
}


/* the pairs of command and phase that were counted */

static u_char *
ngx_http_gsh_phase_seconds(u_char *p, u_char *last, const char *name,
    ngx_http_gsh_snapshot_t *s)
{
    u_char             labels[NGX_HTTP_GSH_LINE], *l;
    ngx_uint_t         cmd, ph;
    ngx_atomic_t      *buckets;
    ngx_atomic_uint_t  usec;

    for (cmd = 0; cmd < ngx_http_gsh_cmd_n; cmd++) {
        for (ph = 0; ph < GSH_PHASES; ph++) {
            buckets = s->sh->phase_msec_buckets[cmd][ph];

            if (ngx_http_gsh_total(buckets) == 0) {
                continue;
            }

            l = ngx_snprintf(labels, sizeof(labels) - 1,
                    "phase=\"%s\",service=\"%s\",command=\"%s\"",
                    gsh_phase_name(ph),
                    cmd == ngx_http_gsh_cmd_receive_pack ? "receive-pack"
                                                         : "upload-pack",
                    ngx_http_gsh_cmd_names[cmd]);
            *l = '\0';

            p = ngx_http_gsh_labelled_histogram(p, last, name, labels,
                                                buckets);

            usec = s->sh->phase_usec_sum[cmd][ph];

            p = ngx_slprintf(p, last, "%s_sum{%s} %uA.%06uA\n", name, labels,
                             usec / 1000000, usec % 1000000);
            p = ngx_slprintf(p, last, "%s_count{%s} %uA\n", name, labels,
                             ngx_http_gsh_total(buckets));
        }
    }

    return p;
}


static u_char *
ngx_http_gsh_histogram(u_char *p, u_char *last, const char *name,
    ngx_atomic_t *buckets)
{
    return ngx_http_gsh_labelled_histogram(p, last, name, (u_char *) "",
                                           buckets);
}


/* the cumulative _bucket lines; labels go before "le" */

static u_char *
ngx_http_gsh_labelled_histogram(u_char *p, u_char *last, const char *name,
    u_char *labels, ngx_atomic_t *buckets)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total;

    total = 0;

    for (i = 0; i <= NGX_HTTP_GSH_BUCKETS; i++) {
        total += buckets[i];

        p = ngx_slprintf(p, last, "%s_bucket{%s%sle=\"", name, labels,
                         labels[0] ? "," : "");

        if (i == NGX_HTTP_GSH_BUCKETS) {
            p = ngx_slprintf(p, last, "+Inf");

        } else {
            p = ngx_http_gsh_print_msec(p, last, ngx_http_gsh_buckets[i]);
        }

        p = ngx_slprintf(p, last, "\"} %uA\n", total);
    }

    return p;
}


static ngx_atomic_uint_t
ngx_http_gsh_total(ngx_atomic_t *buckets)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total;

    total = 0;

    for (i = 0; i <= NGX_HTTP_GSH_BUCKETS; i++) {
        total += buckets[i];
    }

    return total;
}


/* every kind, zero or not */

static u_char *
ngx_http_gsh_errors(u_char *p, u_char *last, const char *name,
    ngx_http_gsh_snapshot_t *s)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_http_gsh_err_n; i++) {
        p = ngx_slprintf(p, last, "%s{kind=\"%s\"} %uA\n",
                         name, ngx_http_gsh_err_names[i], s->sh->errors[i]);
    }

    return p;
}


static ngx_atomic_uint_t
ngx_http_gsh_pack_bytes(ngx_http_gsh_snapshot_t *s)
{
    return s->sh->pack_bytes;
}


static ngx_atomic_uint_t
ngx_http_gsh_pack_file_bytes(ngx_http_gsh_snapshot_t *s)
{
    return s->sh->pack_file_bytes;
}


static ngx_atomic_uint_t
ngx_http_gsh_pack_objects(ngx_http_gsh_snapshot_t *s)
{
    return s->sh->pack_objects;
}


static ngx_atomic_uint_t
ngx_http_gsh_in_flight(ngx_http_gsh_snapshot_t *s)
{
    return s->in_flight;
}


static ngx_atomic_uint_t
ngx_http_gsh_running(ngx_http_gsh_snapshot_t *s)
{
    return s->running;
}


static ngx_atomic_uint_t
ngx_http_gsh_queued(ngx_http_gsh_snapshot_t *s)
{
    return s->queued;
}


/* milliseconds as seconds, "0.005" */

static u_char *
ngx_http_gsh_print_msec(u_char *p, u_char *last, ngx_atomic_uint_t msec)
{
    return ngx_slprintf(p, last, "%uA.%03uA", msec / 1000, msec % 1000);
}

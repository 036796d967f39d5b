
/*
 * Git Smart HTTP for nginx: the $git_* variables for log_format.
 *
 * They are read from the request's context and from the core's session,
 * typically in the log phase; a value the request did not get to is "not
 * found" (logged as "-").  While a thread-pool task runs on the session the
 * session's values are not read, so an earlier use (add_header, a map) sees
 * only what the event loop knows.
 */


#include "ngx_http_git_smart_http_module.h"


typedef enum {
    ngx_http_gsh_var_repo = 0,
    ngx_http_gsh_var_service,
    ngx_http_gsh_var_protocol,
    ngx_http_gsh_var_command,
    ngx_http_gsh_var_wants,
    ngx_http_gsh_var_haves,
    ngx_http_gsh_var_pack_objects,
    ngx_http_gsh_var_pack_bytes,
    ngx_http_gsh_var_pack_file_bytes,
    ngx_http_gsh_var_depth,
    ngx_http_gsh_var_filter,
    ngx_http_gsh_var_status,
    ngx_http_gsh_var_user,
    ngx_http_gsh_var_client_note,
    ngx_http_gsh_var_cache_status,
    ngx_http_gsh_var_time          /* + gsh_phase: $git_time_<phase> */
} ngx_http_gsh_var_e;


static ngx_int_t ngx_http_gsh_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gsh_session_variable(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_variable_value_t *v,
    ngx_http_gsh_var_e var);
static ngx_int_t ngx_http_gsh_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, long long n);
static ngx_int_t ngx_http_gsh_seconds(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, double sec);
static void ngx_http_gsh_set_value(ngx_http_variable_value_t *v,
    u_char *data, size_t len);


static ngx_http_variable_t  ngx_http_gsh_vars[] = {

    { ngx_string("git_repo"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_repo, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_service"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_service, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_protocol"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_protocol, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_command"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_command, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_wants"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_wants, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_haves"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_haves, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_pack_objects"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_pack_objects, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_pack_bytes"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_pack_bytes, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_pack_file_bytes"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_pack_file_bytes, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_depth"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_depth, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_filter"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_filter, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_status"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_status, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_user"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_user, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_client_note"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_client_note, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_cache_status"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_cache_status, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_parse"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_PARSE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_negotiate"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_NEGOTIATE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_count"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_COUNT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_plan"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_PLAN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_write"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_WRITE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_receive"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_RECEIVE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_index"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_INDEX, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_check"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_CHECK, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_refs"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_REFS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("git_time_hooks"), NULL, ngx_http_gsh_variable,
      ngx_http_gsh_var_time + GSH_PHASE_HOOKS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_gsh_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_gsh_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gsh_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t            user;
    const char          *status;
    ngx_http_gsh_ctx_t  *ctx;

    v->not_found = 1;

    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    switch ((ngx_http_gsh_var_e) data) {

    case ngx_http_gsh_var_repo:
        if (ctx->repo.data) {
            ngx_http_gsh_set_value(v, ctx->repo.data, ctx->repo.len);
        }
        return NGX_OK;

    case ngx_http_gsh_var_service:
        if (ctx->service.len) {
            ngx_http_gsh_set_value(v, ctx->service.data, ctx->service.len);
        }
        return NGX_OK;

    case ngx_http_gsh_var_protocol:
        if (ctx->protocol >= 0) {
            return ngx_http_gsh_number(r, v, ctx->protocol);
        }
        return NGX_OK;

    case ngx_http_gsh_var_user:
        /* the user a push would be made as (see the user file) */
        if (ngx_http_gsh_user(r, &user) != NGX_OK) {
            return NGX_ERROR;
        }
        if (user.len) {
            ngx_http_gsh_set_value(v, user.data, user.len);
        }
        return NGX_OK;

    case ngx_http_gsh_var_cache_status:
        if (ctx->cache_status != ngx_http_gsh_cache_none) {
            status = ngx_http_gsh_cache_status_name(ctx->cache_status);
            ngx_http_gsh_set_value(v, (u_char *) status, ngx_strlen(status));
        }
        return NGX_OK;

    case ngx_http_gsh_var_status:
        status = ngx_http_gsh_outcome_name(ngx_http_gsh_outcome(r, ctx));
        if (status) {
            ngx_http_gsh_set_value(v, (u_char *) status, ngx_strlen(status));
        }
        return NGX_OK;

    default:
        return ngx_http_gsh_session_variable(r, ctx, v,
                                             (ngx_http_gsh_var_e) data);
    }
}


static ngx_int_t
ngx_http_gsh_session_variable(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_variable_value_t *v, ngx_http_gsh_var_e var)
{
    const char         *note;
    gsh_session_stats   st;

    if (ctx->session == NULL || ctx->task_busy) {
        return NGX_OK;
    }

    gsh_session_get_stats(ctx->session, &st);

    /* a push's counters are those of the pack it brought, if any */

    if (ctx->kind == GSH_RPC_RECEIVE_PACK && st.pack_bytes) {
        st.pack = 1;
    }

    if (var >= ngx_http_gsh_var_time) {
        return ngx_http_gsh_seconds(r, v,
                                st.phase_seconds[var - ngx_http_gsh_var_time]);
    }

    switch (var) {

    case ngx_http_gsh_var_client_note:
        /* the client's session-id (and v2 server options), to trace a
         * request; escaped by the core */
        note = gsh_session_client_note(ctx->session);
        if (note[0] != '\0') {
            ngx_http_gsh_set_value(v, (u_char *) note, ngx_strlen(note));
        }
        return NGX_OK;

    case ngx_http_gsh_var_command:
        if (st.command) {
            ngx_http_gsh_set_value(v, (u_char *) st.command,
                                   ngx_strlen(st.command));
        }
        return NGX_OK;

    case ngx_http_gsh_var_wants:
        return ngx_http_gsh_number(r, v, st.wants);

    case ngx_http_gsh_var_haves:
        return ngx_http_gsh_number(r, v, st.haves);

    case ngx_http_gsh_var_depth:
        return ngx_http_gsh_number(r, v, st.depth);

    case ngx_http_gsh_var_filter:
        if (st.filter) {
            ngx_http_gsh_set_value(v, (u_char *) st.filter, st.filter_len);
        }
        return NGX_OK;

    case ngx_http_gsh_var_pack_objects:
        return st.pack ? ngx_http_gsh_number(r, v, (long long) st.pack_objects)
                       : NGX_OK;

    case ngx_http_gsh_var_pack_bytes:
        return st.pack ? ngx_http_gsh_number(r, v, (long long) st.pack_bytes)
                       : NGX_OK;

    case ngx_http_gsh_var_pack_file_bytes:
        return st.pack ? ngx_http_gsh_number(r, v, (long long) ctx->file_bytes)
                       : NGX_OK;

    default:
        return NGX_OK;
    }
}


/* n < 0 is "not known": the variable stays not found */

static ngx_int_t
ngx_http_gsh_number(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    long long n)
{
    u_char  *p;

    if (n < 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_gsh_set_value(v, p, ngx_sprintf(p, "%L", (int64_t) n) - p);

    return NGX_OK;
}


/* as $upstream_response_time: seconds with milliseconds, "0.012"; sec < 0
 * (the phase did not happen) leaves the variable not found, "-" */

static ngx_int_t
ngx_http_gsh_seconds(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    double sec)
{
    u_char      *p;
    ngx_msec_t   ms;

    if (sec < 0) {
        return NGX_OK;
    }

    ms = (ngx_msec_t) (sec * 1000 + 0.5);

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_gsh_set_value(v, p, ngx_sprintf(p, "%T.%03M",
                                             (time_t) (ms / 1000), ms % 1000)
                                 - p);

    return NGX_OK;
}


static void
ngx_http_gsh_set_value(ngx_http_variable_value_t *v, u_char *data, size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
}

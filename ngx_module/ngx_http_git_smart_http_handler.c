
/*
 * Git Smart HTTP for nginx: the content handler.  It routes the request the
 * way "git http-backend" does, refuses URIs that could leave the root,
 * reads the request body and hands everything to a core session, whose
 * blocking work then runs on the thread pool (see the stream file).
 */


#include "ngx_http_git_smart_http_module.h"
#include "ngx_http_git_smart_http_route.h"


static ngx_int_t ngx_http_gsh_locate(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf,
    const ngx_http_gsh_route_t **found);
static ngx_int_t ngx_http_gsh_read_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_gsh_info_refs(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf);
static ngx_int_t ngx_http_gsh_rpc(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf,
    const ngx_http_gsh_route_t *route);
static ngx_int_t ngx_http_gsh_uri_is_safe(ngx_http_request_t *r,
    ngx_str_t *rel);
static ngx_int_t ngx_http_gsh_method_not_allowed(ngx_http_request_t *r,
    const ngx_http_gsh_route_t *route);
static ngx_int_t ngx_http_gsh_get_service(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_gsh_refuse(ngx_http_request_t *r,
    ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *repo, ngx_int_t status);
static ngx_int_t ngx_http_gsh_begin_upload_pack(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *rel);
static ngx_int_t ngx_http_gsh_begin_receive_pack(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *rel);
static ngx_int_t ngx_http_gsh_content_type_is(ngx_http_request_t *r,
    ngx_str_t *type);
static void ngx_http_gsh_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gsh_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_gsh_make_request(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, gsh_request *req);
static ngx_int_t ngx_http_gsh_add_body(ngx_http_request_t *r,
    gsh_session *session);
static void ngx_http_gsh_cleanup(void *data);


static ngx_str_t  ngx_http_gsh_upload_pack_request =
    ngx_string("application/x-git-upload-pack-request");
static ngx_str_t  ngx_http_gsh_receive_pack_request =
    ngx_string("application/x-git-receive-pack-request");


ngx_int_t
ngx_http_gsh_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_gsh_ctx_t          *ctx;
    ngx_http_gsh_loc_conf_t     *glcf;
    const ngx_http_gsh_route_t  *route;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);
    route = NULL;

    if (!glcf->enable || glcf->root.data == NULL) {
        return NGX_DECLINED;
    }

    /* made first, so that the log variables see every refusal */

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gsh_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->protocol = -1;
    ctx->error = -1;

    ngx_http_set_ctx(r, ctx, ngx_http_git_smart_http_module);

    rc = ngx_http_gsh_locate(r, ctx, glcf, &route);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (route->route) {

    case ngx_http_gsh_route_info_refs:
        rc = ngx_http_gsh_info_refs(r, ctx, glcf);
        break;

    case ngx_http_gsh_route_upload_pack:
    case ngx_http_gsh_route_receive_pack:
        rc = ngx_http_gsh_rpc(r, ctx, glcf, route);
        break;

    case ngx_http_gsh_route_published:
    case ngx_http_gsh_route_bundle_list:

        if (glcf->publish.len == 0) {
            return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
        }

        /* what clones take: refused where upload-pack is */

        if (!glcf->upload_pack) {
            return ngx_http_gsh_refuse(r, glcf, &ctx->repo,
                                       NGX_HTTP_FORBIDDEN);
        }

        ctx->kind = (route->route == ngx_http_gsh_route_published)
                    ? GSH_PUBLISHED_FILE : GSH_PUBLISHED_LIST;
        rc = NGX_OK;
        break;

    default: /* the dumb protocol's other files */

        if (!glcf->dumb) {
            return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
        }

        ctx->kind = (route->route == ngx_http_gsh_route_head)
                    ? GSH_DUMB_HEAD
                    : (route->route == ngx_http_gsh_route_info_packs)
                      ? GSH_DUMB_INFO_PACKS : GSH_DUMB_FILE;
        rc = NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_gsh_read_body(r);
}


/* a POST's body is read first; a GET is answered now */

static ngx_int_t
ngx_http_gsh_read_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_read_client_request_body(r, ngx_http_gsh_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        if (rc == NGX_AGAIN) {
            ngx_http_gsh_body_pace(r, ngx_http_get_module_ctx(r,
                                           ngx_http_git_smart_http_module));
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_gsh_start(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/*
 * The route of the URI after the location prefix, and the repository it
 * names (ctx->repo, ctx->file), once checked: NGX_OK to go on, else the
 * status to return.
 */

static ngx_int_t
ngx_http_gsh_locate(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_loc_conf_t *glcf, const ngx_http_gsh_route_t **found)
{
    size_t                       repo_len;
    ngx_str_t                    rel;
    const u_char                *repo;
    const ngx_http_gsh_route_t  *route;

    if (r->uri.len < glcf->prefix.len
#if (NGX_HAVE_CASELESS_FILESYSTEM)
        || ngx_strncasecmp(r->uri.data, glcf->prefix.data, glcf->prefix.len)
#else
        || ngx_strncmp(r->uri.data, glcf->prefix.data, glcf->prefix.len)
#endif
           != 0)
    {
        if (ngx_http_gsh_log_escape(r->pool, &r->uri, &rel) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: URI \"%V\" is outside of \"%V\"",
                      &rel, &glcf->prefix);
        return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
    }

    rel.data = r->uri.data + glcf->prefix.len;
    rel.len = r->uri.len - glcf->prefix.len;

    route = ngx_http_gsh_route_find(rel.data, rel.len, &repo, &repo_len);

    if (route == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "git_smart_http: no route for \"%V\"", &rel);
        return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
    }

    if (route->route == ngx_http_gsh_route_file
        || route->route == ngx_http_gsh_route_published)
    {
        ctx->file.data = (u_char *) ngx_http_gsh_route_file_name(route,
                                                 rel.data, rel.len,
                                                 &ctx->file.len);
        ctx->file_type = route->type;
        ctx->file_immutable = route->immutable;

        if (route->route == ngx_http_gsh_route_published) {
            /* its name in the published folder */
            ctx->file.data += sizeof("published/") - 1;
            ctx->file.len -= sizeof("published/") - 1;
        }
    }

    rel.data = (u_char *) repo;
    rel.len = repo_len;

    if (ngx_http_gsh_uri_is_safe(r, &rel) != NGX_OK) {
        return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
    }

    ctx->repo = rel;

    if (route->post) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_http_gsh_method_not_allowed(r, route);
        }

    } else if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_gsh_method_not_allowed(r, route);
    }

    if (ngx_http_gsh_log_escape(r->pool, &rel, &ctx->repo_log) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->thread_pool = glcf->thread_pool;

    *found = route;

    return NGX_OK;
}


/* GET info/refs: an advertisement of a service, or the dumb ref list */

static ngx_int_t
ngx_http_gsh_info_refs(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_loc_conf_t *glcf)
{
    ngx_int_t   rc;
    ngx_str_t   service;

    rc = ngx_http_gsh_get_service(r, &service);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        if (!glcf->dumb) {
            return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
        }

        ctx->kind = GSH_DUMB_INFO_REFS;
        return NGX_OK;
    }

    if (service.len == sizeof("git-receive-pack") - 1
        && ngx_strncmp(service.data, "git-receive-pack", service.len) == 0)
    {
        rc = ngx_http_gsh_begin_receive_pack(r, ctx, glcf, &ctx->repo);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->kind = GSH_ADVERTISE_RECEIVE_PACK;
        return NGX_OK;
    }

    if (service.len != sizeof("git-upload-pack") - 1
        || ngx_strncmp(service.data, "git-upload-pack", service.len) != 0)
    {
        /*
         * an unsupported service; the decoded value is not logged, the
         * request line shows it
         */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: unsupported service");
        return ngx_http_gsh_refuse(r, glcf, &ctx->repo, NGX_HTTP_FORBIDDEN);
    }

    rc = ngx_http_gsh_begin_upload_pack(r, ctx, glcf, &ctx->repo);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->kind = GSH_ADVERTISE_UPLOAD_PACK;
    return NGX_OK;
}


/* POST git-upload-pack or git-receive-pack */

static ngx_int_t
ngx_http_gsh_rpc(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_loc_conf_t *glcf, const ngx_http_gsh_route_t *route)
{
    ngx_int_t          rc;
    ngx_str_t         *type;
    gsh_request_kind   kind;

    if (route->route == ngx_http_gsh_route_upload_pack) {
        rc = ngx_http_gsh_begin_upload_pack(r, ctx, glcf, &ctx->repo);
        type = &ngx_http_gsh_upload_pack_request;
        kind = GSH_RPC_UPLOAD_PACK;

    } else {
        rc = ngx_http_gsh_begin_receive_pack(r, ctx, glcf, &ctx->repo);
        type = &ngx_http_gsh_receive_pack_request;
        kind = GSH_RPC_RECEIVE_PACK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (!ngx_http_gsh_content_type_is(r, type)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: POST without Content-Type \"%V\"",
                      type);
        return ngx_http_gsh_refuse(r, glcf, &ctx->repo,
                                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE);
    }

    ctx->kind = kind;

    return NGX_OK;
}


/* refuses what could leave the root (see ngx_http_gsh_route_is_safe) */

static ngx_int_t
ngx_http_gsh_uri_is_safe(ngx_http_request_t *r, ngx_str_t *rel)
{
    if (ngx_http_gsh_route_is_safe(r->unparsed_uri.data, r->unparsed_uri.len,
                                   rel->data, rel->len))
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "git_smart_http: refusing unsafe URI \"%V\"",
                  &r->unparsed_uri);

    return NGX_DECLINED;
}


/*
 * As "git http-backend": 405 with the allowed methods in HTTP/1.1 (and,
 * here, HTTP/2 and later), 400 in HTTP/1.0, which has no 405.
 */

static ngx_int_t
ngx_http_gsh_method_not_allowed(ngx_http_request_t *r,
    const ngx_http_gsh_route_t *route)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "git_smart_http: method \"%V\" not allowed",
                  &r->method_name);

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_http_gsh_error(r, NGX_HTTP_BAD_REQUEST);
    }

    if (route->post) {
        if (ngx_http_gsh_add_header(r, "Allow", sizeof("Allow") - 1,
                                    "POST", sizeof("POST") - 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        if (ngx_http_gsh_add_header(r, "Allow", sizeof("Allow") - 1,
                                    "GET, HEAD", sizeof("GET, HEAD") - 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_gsh_error(r, NGX_HTTP_NOT_ALLOWED);
}


/*
 * The "service" query parameter (see ngx_http_gsh_route_service), or
 * NGX_DECLINED when there is none.
 */

static ngx_int_t
ngx_http_gsh_get_service(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char        *buf;
    const u_char  *found;

    if (r->args.len == 0) {
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(r->pool, 3 * r->args.len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_http_gsh_route_service(r->args.data, r->args.len, buf, &found,
                                    &value->len))
    {
        return NGX_DECLINED;
    }

    value->data = (u_char *) found;

    return NGX_OK;
}



/*
 * A refusal (403, 415) says 404 instead when the repository is not served,
 * as "git http-backend" looks for the repository first.
 */

static ngx_int_t
ngx_http_gsh_refuse(ngx_http_request_t *r, ngx_http_gsh_loc_conf_t *glcf,
    ngx_str_t *repo, ngx_int_t status)
{
    gsh_request  req;

    ngx_memzero(&req, sizeof(gsh_request));

    req.root = (const char *) glcf->root.data;
    req.root_len = glcf->root.len;
    req.repo = (const char *) repo->data;
    req.repo_len = repo->len;
    req.export_all = glcf->export_all;

    if (gsh_repository_status(&req) != 200) {
        return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
    }

    return ngx_http_gsh_error(r, status);
}


/*
 * Both upload-pack routes (the advertisement and the POST): the service and
 * protocol are set first, so that the log variables see them on a refusal.
 * NGX_OK to go on, else the status to return.
 */

static ngx_int_t
ngx_http_gsh_begin_upload_pack(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *rel)
{
    ngx_str_set(&ctx->service, "git-upload-pack");
    ctx->protocol = ngx_http_gsh_protocol(r);

    if (!glcf->upload_pack) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: upload-pack is disabled");
        return ngx_http_gsh_refuse(r, glcf, rel, NGX_HTTP_FORBIDDEN);
    }

    return NGX_OK;
}


/*
 * Both receive-pack routes.  Off, the answer is git http-backend's for a
 * disabled service (403); on, whether this user may push is the core's
 * decision, as it reads the repository's http.receivepack.
 */

static ngx_int_t
ngx_http_gsh_begin_receive_pack(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *rel)
{
    ngx_str_set(&ctx->service, "git-receive-pack");
    ctx->protocol = ngx_http_gsh_protocol(r);

    if (!glcf->receive_pack) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: receive-pack is disabled");
        return ngx_http_gsh_refuse(r, glcf, rel, NGX_HTTP_FORBIDDEN);
    }

    return NGX_OK;
}


/* exactly the type, as git http-backend compares it */

static ngx_int_t
ngx_http_gsh_content_type_is(ngx_http_request_t *r, ngx_str_t *type)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.content_type;

    return h != NULL
           && h->value.len == type->len
           && ngx_strncmp(h->value.data, type->data, type->len) == 0;
}


static void
ngx_http_gsh_body_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    ngx_http_gsh_body_unpace(ngx_http_get_module_ctx(r,
                                     ngx_http_git_smart_http_module));

    rc = ngx_http_gsh_start(r);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
    }
}


/* what the core is told of the request: configuration and headers */

static ngx_int_t
ngx_http_gsh_make_request(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    gsh_request *req)
{
    ngx_str_t                 user;
    ngx_table_elt_t          *h;
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    ngx_memzero(req, sizeof(gsh_request));

    req->kind = ctx->kind;
    req->root = (const char *) glcf->root.data;
    req->root_len = glcf->root.len;
    req->repo = (const char *) ctx->repo.data;
    req->repo_len = ctx->repo.len;
    req->export_all = glcf->export_all ? 1 : 0;
    req->max_request_size = glcf->max_request_size;
    req->max_wants = glcf->max_wants;
    req->max_haves = glcf->max_haves;
    req->allow_filter = glcf->filter ? 1 : 0;

    if (req->kind == GSH_ADVERTISE_RECEIVE_PACK
        || req->kind == GSH_RPC_RECEIVE_PACK)
    {
        /* anonymous (NULL) unless an nginx check verified a user */

        if (ngx_http_gsh_user(r, &user) != NGX_OK) {
            return NGX_ERROR;
        }

        if (user.len) {
            req->remote_user = (const char *) user.data;
            req->remote_user_len = user.len;
        }

        req->remote_addr = (const char *) r->connection->addr_text.data;
        req->remote_addr_len = r->connection->addr_text.len;
        req->run_hooks = glcf->hooks ? 1 : 0;
        req->max_object_size = glcf->max_object_size;
    }

    if (ngx_http_gsh_publish_request(r, ctx, req) != NGX_OK) {
        return NGX_ERROR;
    }

    h = ngx_http_gsh_find_header(r, "Git-Protocol",
                                 sizeof("Git-Protocol") - 1);
    if (h) {
        req->git_protocol = (const char *) h->value.data;
        req->git_protocol_len = h->value.len;
    }

    h = ngx_http_gsh_find_header(r, "Content-Encoding",
                                 sizeof("Content-Encoding") - 1);
    if (h) {
        req->content_encoding = (const char *) h->value.data;
        req->content_encoding_len = h->value.len;
    }

    return NGX_OK;
}


/*
 * Creates the session on the event loop, gives it the request body and
 * opens it.
 */

static ngx_int_t
ngx_http_gsh_start(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    gsh_request          req;
    ngx_pool_cleanup_t  *cln;
    ngx_http_gsh_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_git_smart_http_module);

    if (ngx_http_gsh_make_request(r, ctx, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->session = gsh_session_create(&req);
    if (ctx->session == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "git_smart_http: gsh_session_create() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the pool goes only when no task is in flight (r->main->blocked) */

    cln->handler = ngx_http_gsh_cleanup;
    cln->data = ctx;

    if (ngx_http_gsh_add_body(r, ctx->session) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    rc = ngx_http_gsh_open(r, ctx);

    if (rc != NGX_OK) {
        /* NGX_ERROR, or a refusal of the shared limits (429, 503) */
        return rc == NGX_ERROR ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gsh_add_body(ngx_http_request_t *r, gsh_session *session)
{
    int           rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            if (b->file_last == b->file_pos) {
                continue;
            }

            rc = gsh_session_add_body_file(session, b->file->fd, b->file_pos,
                                           (size_t) (b->file_last
                                                     - b->file_pos));

        } else {
            if (b->last == b->pos) {
                continue;
            }

            rc = gsh_session_add_body(session, b->pos, b->last - b->pos);
        }

        if (rc != 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "git_smart_http: cannot add the request body: %s",
                          gsh_session_message(session));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_gsh_cleanup(void *data)
{
    ngx_http_gsh_ctx_t  *ctx = data;

    if (ctx->session) {
        gsh_session_destroy(ctx->session);
        ctx->session = NULL;

        ngx_http_gsh_memory_session_ended(ctx->thread_pool);
    }
}

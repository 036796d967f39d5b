
/*
 * Git Smart HTTP for nginx: published base packs (packfile-uris and
 * bundle-uri).  The directives git_smart_http_publish, _publish_url,
 * _packfile_uris and _bundle_uri, their merge, and what a request tells
 * the core of them: the folder, the rules, and the URL at which clients
 * find the repository's published files.  The core publishes and the
 * module serves the files as static files (the dumb file).
 */


#include "ngx_http_git_smart_http_module.h"


/* a new base at most this often, and a replaced one kept this long */
#define NGX_HTTP_GSH_PUBLISH_INTERVAL  3600
#define NGX_HTTP_GSH_PUBLISH_GRACE     3600


static ngx_int_t ngx_http_gsh_publish_folder(ngx_conf_t *cf,
    ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *name);
static ngx_int_t ngx_http_gsh_publish_host(ngx_http_request_t *r,
    ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *base);
static ngx_int_t ngx_http_gsh_publish_path(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *path);


/* git_smart_http_publish off | PATH [interval=TIME] [grace=TIME] */

char *
ngx_http_gsh_publish(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    time_t      *t;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (glcf->publish.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters with \"off\"";
        }

        ngx_str_set(&glcf->publish, "");
        return NGX_CONF_OK;
    }

    if (ngx_http_gsh_publish_folder(cf, glcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    glcf->publish_interval = NGX_HTTP_GSH_PUBLISH_INTERVAL;
    glcf->publish_grace = NGX_HTTP_GSH_PUBLISH_GRACE;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            t = &glcf->publish_interval;

        } else if (ngx_strncmp(value[i].data, "grace=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;
            t = &glcf->publish_grace;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\"",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        *t = ngx_parse_time(&s, 1);

        if (*t == (time_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\" in \"%V\"",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* inherited as a whole: the folder with its rules */

char *
ngx_http_gsh_publish_merge(ngx_conf_t *cf, ngx_http_gsh_loc_conf_t *prev,
    ngx_http_gsh_loc_conf_t *conf)
{
    if (conf->publish.data == NULL) {
        conf->publish = prev->publish;
        conf->publish_interval = prev->publish_interval;
        conf->publish_grace = prev->publish_grace;
    }

    if (conf->publish_url == NULL) {
        conf->publish_url = prev->publish_url;
    }

    ngx_conf_merge_value(conf->packfile_uris, prev->packfile_uris, 0);
    ngx_conf_merge_value(conf->bundle_uri, prev->bundle_uri, 0);

    return NGX_CONF_OK;
}


/* in a location that serves Git: what the directives need is there */

char *
ngx_http_gsh_publish_check(ngx_conf_t *cf, ngx_http_gsh_loc_conf_t *conf)
{
    const char                *name;
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->publish.len) {
        return NGX_CONF_OK;
    }

    if (conf->packfile_uris) {
        name = "git_smart_http_packfile_uris";

    } else if (conf->bundle_uri) {
        name = "git_smart_http_bundle_uri";

    } else {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%s\" is on in location \"%V\" but "
                       "\"git_smart_http_publish\" is not set",
                       name, &clcf->name);

    return NGX_CONF_ERROR;
}


/*
 * The publishing a request is told of: none unless git_smart_http_publish
 * is set, and then, for the requests that name published files to clients,
 * the URL of the repository's published files.
 */

ngx_int_t
ngx_http_gsh_publish_request(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    gsh_request *req)
{
    u_char                   *p;
    ngx_str_t                 base, path;
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    if (glcf->publish.len == 0
        || (req->kind != GSH_ADVERTISE_UPLOAD_PACK
            && req->kind != GSH_RPC_UPLOAD_PACK
            && req->kind != GSH_PUBLISHED_FILE
            && req->kind != GSH_PUBLISHED_LIST))
    {
        return NGX_OK;
    }

    req->publish_dir = (const char *) glcf->publish.data;
    req->publish_dir_len = glcf->publish.len;
    req->publish_interval = glcf->publish_interval;
    req->publish_grace = glcf->publish_grace;
    req->packfile_uris = glcf->packfile_uris ? 1 : 0;
    req->bundle_uri = glcf->bundle_uri ? 1 : 0;

    /* URIs are given only in answers to a POST and in the bundle list */

    if (req->kind != GSH_RPC_UPLOAD_PACK && req->kind != GSH_PUBLISHED_LIST) {
        return NGX_OK;
    }

    if (ngx_http_gsh_publish_host(r, glcf, &base) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_gsh_publish_path(r, ctx, glcf, &path) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, base.len + path.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    req->publish_url = (const char *) p;
    req->publish_url_len = ngx_cpymem(ngx_cpymem(p, base.data, base.len),
                                      path.data, path.len) - p;

    return NGX_OK;
}


/*
 * The folder, absolute and NUL-terminated for the core; made at start and
 * given to the workers' user, as cache paths are.
 */

static ngx_int_t
ngx_http_gsh_publish_folder(ngx_conf_t *cf, ngx_http_gsh_loc_conf_t *glcf,
    ngx_str_t *name)
{
    ngx_str_t    s;
    ngx_path_t  *path;

    s = *name;

    if (ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    glcf->publish.len = s.len;
    glcf->publish.data = ngx_pnalloc(cf->pool, s.len + 1);
    if (glcf->publish.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(glcf->publish.data, s.data, s.len);
    glcf->publish.data[s.len] = '\0';

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_ERROR;
    }

    path->name = glcf->publish;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    return ngx_add_path(cf, &path);
}


/* scheme and host: the operator's (a CDN), or the request's own */

static ngx_int_t
ngx_http_gsh_publish_host(ngx_http_request_t *r,
    ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *base)
{
    u_char                    *p;
    ngx_str_t                  host;
    ngx_http_core_srv_conf_t  *cscf;

    if (glcf->publish_url) {
        return ngx_http_complex_value(r, glcf->publish_url, base);
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(base, "https://");
    } else
#endif
    {
        ngx_str_set(base, "http://");
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        /* no Host (HTTP/1.0): the server's name, as $host has it */
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        host = cscf->server_name;
    }

    p = ngx_pnalloc(r->pool, base->len + host.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    base->len = ngx_cpymem(ngx_cpymem(p, base->data, base->len),
                           host.data, host.len) - p;
    base->data = p;

    return NGX_OK;
}


/* "<location prefix><repository, URI-escaped>/published/" */

static ngx_int_t
ngx_http_gsh_publish_path(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_http_gsh_loc_conf_t *glcf, ngx_str_t *path)
{
    u_char     *p;
    size_t      len;
    uintptr_t   escape;

    static const char  published[] = "/published/";

    escape = ngx_escape_uri(NULL, ctx->repo.data, ctx->repo.len,
                            NGX_ESCAPE_URI);

    len = glcf->prefix.len + 1 + ctx->repo.len + 2 * escape
          + sizeof(published) - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    path->data = p;

    p = ngx_cpymem(p, glcf->prefix.data, glcf->prefix.len);

    if (p == path->data || p[-1] != '/') {
        *p++ = '/';
    }

    p = (u_char *) ngx_escape_uri(p, ctx->repo.data, ctx->repo.len,
                                  NGX_ESCAPE_URI);
    p = ngx_cpymem(p, published, sizeof(published) - 1);

    path->len = p - path->data;

    return NGX_OK;
}


/*
 * Git Smart HTTP for nginx: the dumb protocol's files (loose objects,
 * packs, their indexes, alternates), sent as nginx's static module sends a
 * file: sendfile, byte ranges, ETag and Last-Modified, through the whole
 * filter chain.  The session has found the repository (export rules,
 * http.getanyfile) on the thread pool; the file is opened here, on the
 * event loop, as static files are.
 */


#include "ngx_http_git_smart_http_module.h"


/* git http-backend's "cache forever": a year */
#define NGX_HTTP_GSH_FOREVER  31536000


static ngx_int_t ngx_http_gsh_open_file(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_str_t *path, ngx_open_file_info_t *of);
static size_t ngx_http_gsh_file_path(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx, ngx_str_t *path);
static ngx_int_t ngx_http_gsh_file_headers(ngx_http_request_t *r,
    ngx_http_gsh_ctx_t *ctx);


/*
 * Returns what ngx_http_finalize_request() is to be given: the output
 * filter's result, or an error status.
 */

ngx_int_t
ngx_http_gsh_send_file(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    u_char                *p;
    ngx_int_t              rc;
    ngx_str_t              path;
    ngx_buf_t             *b;
    ngx_chain_t            out;
    ngx_open_file_info_t   of;

    rc = ngx_http_gsh_open_file(r, ctx, &path, &of);

    if (rc != NGX_OK) {
        return rc;
    }

    r->root_tested = !r->error_page;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;

    if (ngx_http_set_etag(r) != NGX_OK
        || ngx_http_gsh_file_headers(r, ctx) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * a published file's name is its content's: the same ETag wherever
     * and whenever it was written, for caches in front of several origins
     */

    if (ctx->kind == GSH_PUBLISHED_FILE && r->headers_out.etag) {
        p = ngx_pnalloc(r->pool, ctx->file.len + 2);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.etag->value.data = p;
        *p++ = '"';
        p = ngx_cpymem(p, ctx->file.data, ctx->file.len);
        *p++ = '"';
        r->headers_out.etag->value.len = p - r->headers_out.etag->value.data;
    }

    r->allow_ranges = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;

    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Opens the file through the open file cache, as the static module does:
 * NGX_OK, or the status to answer with.
 */

static ngx_int_t
ngx_http_gsh_open_file(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_str_t *path, ngx_open_file_info_t *of)
{
    size_t                     dir_len;
    ngx_int_t                  rc;
    ngx_uint_t                 level;
    ngx_http_core_loc_conf_t  *clcf;

    dir_len = ngx_http_gsh_file_path(r, ctx, path);

    if (dir_len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(of, sizeof(ngx_open_file_info_t));

    of->read_ahead = clcf->read_ahead;
    of->directio = clcf->directio;
    of->valid = clcf->open_file_cache_valid;
    of->min_uses = clcf->open_file_cache_min_uses;
    of->errors = clcf->open_file_cache_errors;
    of->events = clcf->open_file_cache_events;

#if (NGX_HAVE_OPENAT)
    /*
     * the git directory was resolved and found inside the root; below it
     * no symbolic link is followed, so that an object file cannot be a link
     * to a file outside
     */
    of->disable_symlinks = NGX_DISABLE_SYMLINKS_ON;
    of->disable_symlinks_from = dir_len;
#endif

    if (ngx_open_cached_file(clcf->open_file_cache, path, of, r->pool)
        != NGX_OK)
    {
        switch (of->err) {

        case 0:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;

        case NGX_ENOENT:
        case NGX_ENOTDIR:
        case NGX_ENAMETOOLONG:
            /* as git http-backend: a file that is not there is 404 */
            level = NGX_LOG_INFO;
            rc = NGX_HTTP_NOT_FOUND;
            break;

        default:
            /* EACCES, and ELOOP/EMLINK: a symbolic link refused */
            level = NGX_LOG_ERR;
            rc = NGX_HTTP_NOT_FOUND;
            break;
        }

        ngx_log_error(level, r->connection->log, of->err,
                      "git_smart_http: repository \"%V\": %s \"%s\" failed",
                      &ctx->repo_log, of->failed, path->data);

        return ngx_http_gsh_error(r, rc);
    }

    if (!of->is_file) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "git_smart_http: repository \"%V\": \"%s\" is not "
                      "a file", &ctx->repo_log, path->data);

        return ngx_http_gsh_error(r, NGX_HTTP_NOT_FOUND);
    }

    return NGX_OK;
}


/*
 * The file's path, writable and NUL-terminated: the symlink checks cut it
 * in place.  Returns the length of its git directory's part, 0 on failure.
 */

static size_t
ngx_http_gsh_file_path(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_str_t *path)
{
    u_char      *last;
    size_t       dir_len;
    const char  *dir;

    dir = gsh_session_file_dir(ctx->session);
    dir_len = ngx_strlen(dir);

    if (dir_len == 0) {
        return 0;
    }

    path->len = dir_len + 1 + ctx->file.len;
    path->data = ngx_pnalloc(r->pool, path->len + 1);
    if (path->data == NULL) {
        return 0;
    }

    last = ngx_cpymem(path->data, dir, dir_len);
    *last++ = '/';
    last = ngx_cpymem(last, ctx->file.data, ctx->file.len);
    *last = '\0';

    return dir_len;
}


/* Content-Type and the cache headers git http-backend sends for the file */

static ngx_int_t
ngx_http_gsh_file_headers(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(ctx->file_type);

    r->headers_out.content_type.data = (u_char *) ctx->file_type;
    r->headers_out.content_type.len = len;
    r->headers_out.content_type_len = len;
    r->headers_out.content_type_lowcase = NULL;

    if (!ctx->file_immutable) {
        return ngx_http_gsh_set_nocache(r);
    }

    p = ngx_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_http_time(p, ngx_time() + NGX_HTTP_GSH_FOREVER) - p;

    if (ngx_http_gsh_add_header(r, "Expires", sizeof("Expires") - 1,
                                (const char *) p, len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gsh_add_header(r, "Cache-Control",
                                   sizeof("Cache-Control") - 1,
                                   "public, max-age=31536000",
                                   sizeof("public, max-age=31536000") - 1);
}


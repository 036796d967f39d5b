
/*
 * Git Smart HTTP for nginx: the module.  All its directives, their merge
 * (http -> server -> location), the registration of the shared zone and of
 * the log phase handler that counts, and per-process initialisation.
 */


#include "ngx_http_git_smart_http_zone.h"


static char *ngx_http_gsh_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_root(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_max_concurrent(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_queue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_cache_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gsh_cache_open_files(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_gsh_postconfiguration(ngx_conf_t *cf);
static void ngx_http_gsh_merge_limits(ngx_http_gsh_loc_conf_t *prev,
    ngx_http_gsh_loc_conf_t *conf);
static char *ngx_http_gsh_check_enabled(ngx_conf_t *cf,
    ngx_http_gsh_loc_conf_t *conf);
static void *ngx_http_gsh_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gsh_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_gsh_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gsh_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gsh_init_process(ngx_cycle_t *cycle);
static void ngx_http_gsh_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_gsh_commands[] = {

    { ngx_string("git_smart_http"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_gsh_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, enable),
      NULL },

    { ngx_string("git_smart_http_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gsh_root,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_export_all"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, export_all),
      NULL },

    { ngx_string("git_smart_http_upload_pack"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, upload_pack),
      NULL },

    { ngx_string("git_smart_http_dumb"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, dumb),
      NULL },

    { ngx_string("git_smart_http_receive_pack"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, receive_pack),
      NULL },

    { ngx_string("git_smart_http_hooks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, hooks),
      NULL },

    { ngx_string("git_smart_http_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, user),
      NULL },

    { ngx_string("git_smart_http_filter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, filter),
      NULL },

    { ngx_string("git_smart_http_max_request_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, max_request_size),
      NULL },

    { ngx_string("git_smart_http_max_object_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, max_object_size),
      NULL },

    { ngx_string("git_smart_http_max_wants"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, max_wants),
      NULL },

    { ngx_string("git_smart_http_max_haves"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, max_haves),
      NULL },

    { ngx_string("git_smart_http_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gsh_thread_pool,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_max_concurrent"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gsh_max_concurrent,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_gsh_queue,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, timeout),
      NULL },

    { ngx_string("git_smart_http_cache_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_gsh_cache_size,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_cache_open_files"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_gsh_cache_open_files,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_pack_cache_path"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gsh_cache_path,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_pack_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gsh_cache_use,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_publish"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gsh_publish,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("git_smart_http_publish_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, publish_url),
      NULL },

    { ngx_string("git_smart_http_packfile_uris"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, packfile_uris),
      NULL },

    { ngx_string("git_smart_http_bundle_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gsh_loc_conf_t, bundle_uri),
      NULL },

    { ngx_string("git_smart_http_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gsh_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gsh_module_ctx = {
    ngx_http_gsh_add_variables,            /* preconfiguration */
    ngx_http_gsh_postconfiguration,        /* postconfiguration */

    ngx_http_gsh_create_main_conf,         /* create main configuration */
    ngx_http_gsh_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gsh_create_loc_conf,          /* create location configuration */
    ngx_http_gsh_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_git_smart_http_module = {
    NGX_MODULE_V1,
    &ngx_http_gsh_module_ctx,              /* module context */
    ngx_http_gsh_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_gsh_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_gsh_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_http_gsh_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (!glcf->enable) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_gsh_handler;

    /* the repository is named by the URI after a prefix location's name */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        ngx_str_set(&glcf->prefix, "");

    } else {
        glcf->prefix = clcf->name;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gsh_root(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    u_char           *p;
    ngx_str_t        *value, path;
    ngx_file_info_t   fi;

    if (glcf->root.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must not be empty", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    while (path.len > 1 && path.data[path.len - 1] == '/') {
        path.len--;
    }

    p = ngx_pnalloc(cf->pool, path.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(p, path.data, path.len + 1);

    path.data = p;

    if (ngx_file_info(path.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" \"%V\" is not an existing directory, "
                           ngx_file_info_n " failed", &cmd->name, &path);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" \"%V\" is not a directory",
                           &cmd->name, &path);
        return NGX_CONF_ERROR;
    }

    glcf->root = path;

    return NGX_CONF_OK;
}


static char *
ngx_http_gsh_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    ngx_str_t  *value;

    if (glcf->thread_pool) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must not be empty", &cmd->name);
        return NGX_CONF_ERROR;
    }

    /*
     * like "aio threads=NAME": the pool may be defined later in the file;
     * nginx reports an unknown name when the configuration is complete
     */

    glcf->thread_pool = ngx_thread_pool_add(cf, &value[1]);
    if (glcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gsh_max_concurrent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;
    u_char      where[NGX_MAX_PATH + NGX_INT_T_LEN + 2], *p;

    if (glcf->max_concurrent != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        n = 0;

    } else {
        n = ngx_atoi(value[1].data, value[1].len);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes a number of packs greater than "
                               "0, or \"off\", not \"%V\"",
                               &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    glcf->max_concurrent = n;

    p = ngx_snprintf(where, sizeof(where), "%V:%ui",
                     &cf->conf_file->file.name, cf->conf_file->line);

    glcf->limit_key = ngx_crc32_long(where, p - where);

    return NGX_CONF_OK;
}


static char *
ngx_http_gsh_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   t;
    ngx_uint_t   i;

    if (glcf->queue != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a number of waiting requests (0 or "
                           "more), not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (n > NGX_HTTP_GSH_HOLDERS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" %i is more than the zone holds (%d)",
                           &cmd->name, n, NGX_HTTP_GSH_HOLDERS);
        return NGX_CONF_ERROR;
    }

    glcf->queue = n;
    glcf->queue_timeout = NGX_HTTP_GSH_QUEUE_TIMEOUT;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            t = ngx_parse_time(&s, 0);

            if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": invalid timeout \"%V\"",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            glcf->queue_timeout = t;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gsh_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_gsh_main_conf_t  *gmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_gsh_metrics_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_gsh_metrics_handler;

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_git_smart_http_module);
    gmcf->metrics = 1;

    return NGX_CONF_OK;
}


/* the per-worker cache: process-wide, hence http level only */

static char *
ngx_http_gsh_cache_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_main_conf_t *gmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (gmcf->cache_size != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a size greater than 0, such as "
                           "64m, not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->cache_size = (size_t) size;

    return NGX_CONF_OK;
}


static char *
ngx_http_gsh_cache_open_files(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_main_conf_t *gmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (gmcf->cache_open_files != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    /* a quarter of them is libgit2's, the rest the snapshots' */

    if (n == NGX_ERROR || n < 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a number of files, 4 or more, "
                           "not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->cache_open_files = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


/* the zone, and the log phase handler that counts into it */

static ngx_int_t
ngx_http_gsh_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_gsh_main_conf_t   *gmcf;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_gsh_zone_add(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_git_smart_http_module);

    if (!gmcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gsh_metrics_log;

    return NGX_OK;
}


static void *
ngx_http_gsh_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gsh_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gsh_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    gmcf->cache_size = NGX_CONF_UNSET_SIZE;
    gmcf->cache_open_files = NGX_CONF_UNSET_UINT;

    return gmcf;
}


static char *
ngx_http_gsh_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gsh_main_conf_t *gmcf = conf;

    ngx_conf_init_size_value(gmcf->cache_size, NGX_HTTP_GSH_CACHE_SIZE);
    ngx_conf_init_uint_value(gmcf->cache_open_files,
                             NGX_HTTP_GSH_CACHE_OPEN_FILES);

    return NGX_CONF_OK;
}


static void *
ngx_http_gsh_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gsh_loc_conf_t  *glcf;

    glcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gsh_loc_conf_t));
    if (glcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     glcf->prefix = { 0, NULL };
     *     glcf->root = { 0, NULL };
     *     glcf->thread_pool = NULL;
     *     glcf->user = NULL;
     *     glcf->publish = { 0, NULL };
     *     glcf->publish_url = NULL;
     */

    glcf->enable = NGX_CONF_UNSET;
    glcf->export_all = NGX_CONF_UNSET;
    glcf->upload_pack = NGX_CONF_UNSET;
    glcf->dumb = NGX_CONF_UNSET;
    glcf->receive_pack = NGX_CONF_UNSET;
    glcf->hooks = NGX_CONF_UNSET;
    glcf->filter = NGX_CONF_UNSET;
    glcf->max_request_size = NGX_CONF_UNSET_SIZE;
    glcf->max_object_size = NGX_CONF_UNSET_SIZE;
    glcf->max_wants = NGX_CONF_UNSET_UINT;
    glcf->max_haves = NGX_CONF_UNSET_UINT;
    glcf->max_concurrent = NGX_CONF_UNSET;
    glcf->queue = NGX_CONF_UNSET;
    glcf->queue_timeout = NGX_CONF_UNSET_MSEC;
    glcf->timeout = NGX_CONF_UNSET_MSEC;
    glcf->pack_cache = NGX_CONF_UNSET_PTR;
    glcf->packfile_uris = NGX_CONF_UNSET;
    glcf->bundle_uri = NGX_CONF_UNSET;

    return glcf;
}


static char *
ngx_http_gsh_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gsh_loc_conf_t *prev = parent;
    ngx_http_gsh_loc_conf_t *conf = child;

    /*
     * "git_smart_http on" is inherited by nested locations (and by
     * "limit_except" blocks), which then serve Git as well unless they
     * have a content handler of their own or say "git_smart_http off"
     */

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->prefix.data == NULL) {
        conf->prefix = prev->prefix;
    }

    if (conf->root.data == NULL) {
        conf->root = prev->root;
    }

    ngx_conf_merge_value(conf->export_all, prev->export_all, 0);
    ngx_conf_merge_value(conf->upload_pack, prev->upload_pack, 1);

    /*
     * off: dumb HTTP hands out object and pack files as they are, objects
     * that no advertised ref reaches included (see the README)
     */
    ngx_conf_merge_value(conf->dumb, prev->dumb, 0);
    ngx_conf_merge_value(conf->receive_pack, prev->receive_pack, 0);
    ngx_conf_merge_value(conf->hooks, prev->hooks, 0);
    ngx_conf_merge_value(conf->filter, prev->filter, 1);

    if (conf->user == NULL) {
        conf->user = prev->user;
    }

    ngx_conf_merge_size_value(conf->max_request_size, prev->max_request_size,
                              64 * 1024 * 1024);
    ngx_conf_merge_size_value(conf->max_object_size, prev->max_object_size,
                              128 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_wants, prev->max_wants, 1000000);
    ngx_conf_merge_uint_value(conf->max_haves, prev->max_haves, 1000000);

    if (conf->thread_pool == NULL) {
        conf->thread_pool = prev->thread_pool;
    }

    ngx_http_gsh_merge_limits(prev, conf);

    ngx_conf_merge_ptr_value(conf->pack_cache, prev->pack_cache, NULL);

    if (ngx_http_gsh_cache_check(cf, conf->pack_cache) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_gsh_publish_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (ngx_http_gsh_publish_check(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_gsh_check_enabled(cf, conf);
}


/* a location that serves Git: what it needs, completed */

static char *
ngx_http_gsh_check_enabled(ngx_conf_t *cf, ngx_http_gsh_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_gsh_main_conf_t  *gmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->root.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"git_smart_http\" is on in location \"%V\" "
                           "but \"git_smart_http_root\" is not set",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->thread_pool == NULL) {
        /* the implicit "default" pool, created by nginx if not defined */

        conf->thread_pool = ngx_thread_pool_add(cf, NULL);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (clcf->handler == NULL) {
        clcf->handler = ngx_http_gsh_handler;
    }

    ngx_http_gsh_user_check_conf(cf, conf);

    if (conf->prefix.data == NULL) {
        ngx_str_set(&conf->prefix, "");
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_git_smart_http_module);
    gmcf->used = 1;

    return NGX_CONF_OK;
}


static void
ngx_http_gsh_merge_limits(ngx_http_gsh_loc_conf_t *prev,
    ngx_http_gsh_loc_conf_t *conf)
{
    /* a limit inherited is the same limit: its slots are shared */

    if (conf->max_concurrent == NGX_CONF_UNSET) {
        conf->max_concurrent = (prev->max_concurrent == NGX_CONF_UNSET)
                               ? 0 : prev->max_concurrent;
        conf->limit_key = prev->limit_key;
    }

    /* the queue and its timeout are one directive */

    if (conf->queue == NGX_CONF_UNSET) {
        conf->queue = (prev->queue == NGX_CONF_UNSET) ? 0 : prev->queue;
        conf->queue_timeout = prev->queue_timeout;
    }

    ngx_conf_merge_msec_value(conf->queue_timeout, prev->queue_timeout,
                              NGX_HTTP_GSH_QUEUE_TIMEOUT);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 0);
}


static ngx_int_t
ngx_http_gsh_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gsh_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_git_smart_http_module);

    if (gmcf == NULL) {
        return NGX_OK;
    }

    /* not used: maybe a metrics location alone */

    if (gmcf->used && gsh_global_init() != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "git_smart_http: gsh_global_init() failed");
        return NGX_ERROR;
    }

    if (gmcf->used
        && gsh_cache_configure(gmcf->cache_size, gmcf->cache_open_files) != 0)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "git_smart_http: gsh_cache_configure() failed");
        return NGX_ERROR;
    }

    ngx_http_gsh_limit_init_process();
    ngx_http_gsh_memory_init_process(cycle);

    return ngx_http_gsh_zone_init_process(cycle);
}


static void
ngx_http_gsh_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_gsh_zone_exit_process(cycle);
}

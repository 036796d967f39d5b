
/*
 * Git Smart HTTP for nginx: the pack cache's index, in a shared zone of its
 * own (git_smart_http_pack_cache_path ... keys_zone=name:size).
 *
 * An entry is one answer: its key (the repository and the request as the
 * core normalises them), the stamp of the repository's state it was made
 * on, and a generation number that names its file, <key hex>.<generation>
 * in the cache's folder (".tmp" while it is written).  Every worker of
 * every configuration sees the same index, so concurrent identical
 * requests share one generation: the first writes, the others follow its
 * file as it grows.  Only what the index says is finished is ever served:
 * a fresh start (not a reload) removes the folder's entries, and an entry
 * whose writer died is taken over by the next request.
 */


#include "ngx_http_git_smart_http_cache_zone.h"


static char *ngx_http_gsh_cache_register(ngx_conf_t *cf,
    ngx_http_gsh_cache_t *cache, ngx_str_t *name, ssize_t size,
    ngx_http_gsh_main_conf_t *gmcf);
static ngx_uint_t ngx_http_gsh_cache_path_taken(ngx_conf_t *cf,
    ngx_http_gsh_main_conf_t *gmcf, ngx_str_t *path);
static ngx_int_t ngx_http_gsh_cache_param(ngx_conf_t *cf,
    ngx_http_gsh_cache_t *cache, ngx_str_t *value, ngx_str_t *name,
    ssize_t *size);
static ngx_int_t ngx_http_gsh_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_gsh_cache_wipe(ngx_http_gsh_cache_t *cache,
    ngx_log_t *log);
static ngx_http_gsh_cache_node_t *ngx_http_gsh_cache_lookup(
    ngx_http_gsh_cache_sh_t *sh, const u_char *key);
static ngx_http_gsh_cache_node_t *ngx_http_gsh_cache_lookup_gen(
    ngx_http_gsh_cache_sh_t *sh, const u_char *key, uint64_t gen);
static ngx_http_gsh_cache_node_t *ngx_http_gsh_cache_insert(
    ngx_http_gsh_cache_t *cache, const u_char *key, const u_char *stamp,
    ngx_http_gsh_cache_gone_t *gone);
static void ngx_http_gsh_cache_touch(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node);
static void ngx_http_gsh_cache_peek(ngx_http_gsh_cache_node_t *node,
    const u_char *stamp, ngx_http_gsh_cache_way_t *way);
static ngx_int_t ngx_http_gsh_cache_restamp(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, const u_char *stamp,
    ngx_http_gsh_cache_way_t *way, ngx_http_gsh_cache_gone_t *gone);
static void ngx_http_gsh_cache_write(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, ngx_http_gsh_cache_way_t *way,
    ngx_http_gsh_cache_gone_t *gone, ngx_log_t *log);
static void ngx_http_gsh_cache_let_go(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, ngx_http_gsh_cache_gone_t *gone);
static void ngx_http_gsh_cache_forget(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, ngx_http_gsh_cache_gone_t *gone);
static void ngx_http_gsh_cache_expire(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_gone_t *gone);
static ngx_uint_t ngx_http_gsh_cache_writer_alive(
    ngx_http_gsh_cache_node_t *node);
static void ngx_http_gsh_cache_unlink(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_gone_t *gone, ngx_log_t *log);
static u_char *ngx_http_gsh_cache_metric(u_char *p, u_char *last,
    ngx_array_t *caches, const char *name, const char *type,
    const char *help, size_t offset);


char *
ngx_http_gsh_cache_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                    size;
    ngx_str_t                 *value, name;
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_http_gsh_cache_t      *cache;
    ngx_http_gsh_main_conf_t  *gmcf = conf;

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_gsh_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (cache->path == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    cache->path->name = value[1];

    if (cache->path->name.data[cache->path->name.len - 1] == '/') {
        cache->path->name.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &cache->path->name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cache->path->conf_file = cf->conf_file->file.name.data;
    cache->path->line = cf->conf_file->line;

    cache->max_size = NGX_MAX_OFF_T_VALUE;
    cache->inactive = 600;
    cache->min_uses = 1;

    name.len = 0;
    size = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        rc = ngx_http_gsh_cache_param(cf, cache, &value[i], &name, &size);

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
        }

        if (rc != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"keys_zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_gsh_cache_path_taken(cf, gmcf, &cache->path->name)) {
        return NGX_CONF_ERROR;
    }

    if (ngx_add_path(cf, &cache->path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_gsh_cache_register(cf, cache, &name, size, gmcf);
}


/* the cache's zone, and its place in the metrics */

static char *
ngx_http_gsh_cache_register(ngx_conf_t *cf, ngx_http_gsh_cache_t *cache,
    ngx_str_t *name, ssize_t size, ngx_http_gsh_main_conf_t *gmcf)
{
    ngx_http_gsh_cache_t  **slot;

    cache->shm_zone = ngx_shared_memory_add(cf, name, size,
                                            &ngx_http_git_smart_http_module);
    if (cache->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cache->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate zone \"%V\"",
                           name);
        return NGX_CONF_ERROR;
    }

    cache->shm_zone->init = ngx_http_gsh_cache_init_zone;
    cache->shm_zone->data = cache;

    if (gmcf->pack_caches == NULL) {
        gmcf->pack_caches = ngx_array_create(cf->pool, 2,
                                             sizeof(ngx_http_gsh_cache_t *));
        if (gmcf->pack_caches == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    slot = ngx_array_push(gmcf->pack_caches);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = cache;

    return NGX_CONF_OK;
}


/* one name=value of git_smart_http_pack_cache_path: NGX_DECLINED when
   invalid, NGX_ERROR when said already */

static ngx_int_t
ngx_http_gsh_cache_param(ngx_conf_t *cf, ngx_http_gsh_cache_t *cache,
    ngx_str_t *value, ngx_str_t *name, ssize_t *size)
{
    ngx_str_t  s;
    ngx_int_t  n;

    if (ngx_strncmp(value->data, "keys_zone=", 10) == 0) {
        name->data = value->data + 10;
        s.data = (u_char *) ngx_strlchr(name->data, value->data + value->len,
                                        ':');
        if (s.data == NULL) {
            return NGX_DECLINED;
        }

        name->len = s.data - name->data;
        s.data++;
        s.len = value->data + value->len - s.data;

        *size = ngx_parse_size(&s);

        if (name->len == 0 || *size == NGX_ERROR) {
            return NGX_DECLINED;
        }

        if (*size < (ssize_t) (8 * ngx_pagesize)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "keys zone \"%V\" is too small", value);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    s.data = (u_char *) ngx_strlchr(value->data, value->data + value->len,
                                    '=');
    if (s.data == NULL) {
        return NGX_DECLINED;
    }

    s.data++;
    s.len = value->data + value->len - s.data;

    if (ngx_strncmp(value->data, "max_size=", 9) == 0) {
        cache->max_size = ngx_parse_offset(&s);
        return (cache->max_size < 0) ? NGX_DECLINED : NGX_OK;
    }

    if (ngx_strncmp(value->data, "inactive=", 9) == 0) {
        n = ngx_parse_time(&s, 1);
        if (n == NGX_ERROR || n == 0) {
            return NGX_DECLINED;
        }

        cache->inactive = (time_t) n;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "min_uses=", 9) == 0) {
        n = ngx_atoi(s.data, s.len);
        if (n == NGX_ERROR || n == 0) {
            return NGX_DECLINED;
        }

        cache->min_uses = n;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* two caches in one folder would remove each other's files */

static ngx_uint_t
ngx_http_gsh_cache_path_taken(ngx_conf_t *cf, ngx_http_gsh_main_conf_t *gmcf,
    ngx_str_t *path)
{
    ngx_uint_t              i;
    ngx_http_gsh_cache_t  **cache;

    if (gmcf->pack_caches == NULL) {
        return 0;
    }

    cache = gmcf->pack_caches->elts;

    for (i = 0; i < gmcf->pack_caches->nelts; i++) {
        if (cache[i]->path->name.len == path->len
            && ngx_strncmp(cache[i]->path->name.data, path->data, path->len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the \"%V\" folder is the pack cache "
                               "\"%V\"'s already", path,
                               &cache[i]->shm_zone->shm.name);
            return 1;
        }
    }

    return 0;
}


/* git_smart_http_pack_cache name | off */

char *
ngx_http_gsh_cache_use(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gsh_loc_conf_t *glcf = conf;

    ngx_str_t  *value;

    if (glcf->pack_cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        glcf->pack_cache = NULL;
        return NGX_CONF_OK;
    }

    /* a zone no git_smart_http_pack_cache_path declares keeps size 0, which
       nginx refuses when it creates the zones, naming it */

    glcf->pack_cache = ngx_shared_memory_add(cf, &value[1], 0,
                                             &ngx_http_git_smart_http_module);
    if (glcf->pack_cache == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * At the merge, once the http block is read: the zone that a location
 * names must be one that git_smart_http_pack_cache_path declared (not
 * another module's, nor the module's own "git_smart_http").
 */

char *
ngx_http_gsh_cache_check(ngx_conf_t *cf, ngx_shm_zone_t *zone)
{
    if (zone == NULL || zone->init == ngx_http_gsh_cache_init_zone) {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "git_smart_http_pack_cache \"%V\": no "
                       "git_smart_http_pack_cache_path declares that zone",
                       &zone->shm.name);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_gsh_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_gsh_cache_t *ocache = data;

    ngx_slab_pool_t       *shpool;
    ngx_http_gsh_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        if (ngx_strcmp(cache->path->name.data, ocache->path->name.data) != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "pack cache \"%V\" uses the \"%V\" cache path "
                          "while previously it used the \"%V\" cache path",
                          &shm_zone->shm.name, &cache->path->name,
                          &ocache->path->name);
            return NGX_ERROR;
        }

        if (ocache->sh->magic != NGX_HTTP_GSH_CACHE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "pack cache \"%V\" was made by another version "
                          "of the module: restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    cache->shpool = shpool;

    cache->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_gsh_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&cache->sh->queue);
    cache->sh->magic = NGX_HTTP_GSH_CACHE_MAGIC;

    /*
     * generations of this index never name a file of another (a binary
     * upgrade's, whose workers may still write beside these)
     */

    cache->sh->next_gen = ((uint64_t) ngx_time() << 20)
                          ^ ((uint64_t) ngx_random() & 0xfffff);

    shpool->log_nomem = 0;

    /*
     * what a former run left is not in the index, so nothing trusts it;
     * "nginx -t" makes zones too, beside a server that runs
     */

    if (!ngx_test_config) {
        ngx_http_gsh_cache_wipe(cache, shm_zone->shm.log);
    }

    return NGX_OK;
}


/* removes the folder's files named as entries are, and only those */

static void
ngx_http_gsh_cache_wipe(ngx_http_gsh_cache_t *cache, ngx_log_t *log)
{
    size_t        len, i;
    u_char       *name, file[NGX_MAX_PATH];
    ngx_dir_t     dir;
    ngx_uint_t    ours;

    if (ngx_open_dir(&cache->path->name, &dir) != NGX_OK) {
        return;
    }

    while (ngx_read_dir(&dir) == NGX_OK) {
        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        ours = (len > 41 && name[40] == '.');

        for (i = 0; ours && i < 40; i++) {
            ours = ngx_strchr("0123456789abcdef", name[i]) != NULL;
        }

        if (!ours
            || cache->path->name.len + 1 + len + 1 > sizeof(file))
        {
            continue;
        }

        ngx_sprintf(file, "%V/%*s%Z", &cache->path->name, len, name);

        if (ngx_delete_file(file) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", file);
        }
    }

    ngx_close_dir(&dir);
}


void
ngx_http_gsh_cache_file_name(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, ngx_uint_t tmp, u_char *buf)
{
    u_char  *p;

    p = ngx_sprintf(buf, "%V/", &cache->path->name);
    p = ngx_hex_dump(p, (u_char *) key, NGX_HTTP_GSH_CACHE_KEY_LEN);
    p = ngx_sprintf(p, ".%uL", gen);

    if (tmp) {
        p = ngx_cpymem(p, ".tmp", 4);
    }

    *p = '\0';
}


/* the entry is used now: it goes to the head of the LRU queue */

static void
ngx_http_gsh_cache_touch(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node)
{
    node->used = ngx_time();
    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&cache->sh->queue, &node->queue);
}


/*
 * A HIT or UPDATING way for node, if its answer on this stamp is there or
 * being written by a live writer (counted as a follower); else none.
 */

static void
ngx_http_gsh_cache_peek(ngx_http_gsh_cache_node_t *node, const u_char *stamp,
    ngx_http_gsh_cache_way_t *way)
{
    if (node == NULL
        || ngx_memcmp(node->stamp, stamp, NGX_HTTP_GSH_CACHE_KEY_LEN) != 0)
    {
        return;
    }

    if (node->state == ngx_http_gsh_cache_ready) {
        way->status = ngx_http_gsh_cache_hit;
        way->size = node->size;

    } else if (node->state == ngx_http_gsh_cache_writing
               && ngx_http_gsh_cache_writer_alive(node))
    {
        way->status = ngx_http_gsh_cache_updating;
        node->followers++;

    } else {
        return;
    }

    way->gen = node->gen;
}


/*
 * The request's way with the cache, and the entry's state changed for it
 * (see the way's comment in the header).  Files of entries it let go are
 * removed after the lock is released.
 *
 * Before a request waits for a pack slot it only peeks (claim 0): whether
 * the answer is there (HIT), or being written by a live writer (UPDATING),
 * with no change but the entry's use.  Else way->status stays none, and
 * the request claims once it holds its slot, so that a writer never waits
 * in the queue with followers behind it.
 */

void
ngx_http_gsh_cache_find(ngx_http_gsh_cache_t *cache, const u_char *key,
    const u_char *stamp, ngx_uint_t claim, ngx_http_gsh_cache_way_t *way,
    ngx_log_t *log)
{
    ngx_http_gsh_cache_gone_t   gone;
    ngx_http_gsh_cache_node_t  *node;

    ngx_memzero(way, sizeof(*way));
    gone.n = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    ngx_http_gsh_cache_expire(cache, &gone);

    node = ngx_http_gsh_cache_lookup(cache->sh, key);

    if (!claim) {
        ngx_http_gsh_cache_peek(node, stamp, way);

        if (way->status != ngx_http_gsh_cache_none) {
            ngx_http_gsh_cache_touch(cache, node);
        }

        goto done;
    }

    if (node == NULL) {
        way->status = ngx_http_gsh_cache_miss;
        node = ngx_http_gsh_cache_insert(cache, key, stamp, &gone);

        if (node && node->uses >= cache->min_uses) {
            ngx_http_gsh_cache_write(cache, node, way, &gone, log);
        }

        goto done;
    }

    ngx_http_gsh_cache_touch(cache, node);

    if (ngx_memcmp(node->stamp, stamp, NGX_HTTP_GSH_CACHE_KEY_LEN) != 0
        && ngx_http_gsh_cache_restamp(cache, node, stamp, way, &gone)
           != NGX_OK)
    {
        goto done;
    }

    /* a restamped entry is counting again: no HIT or UPDATING here */

    ngx_http_gsh_cache_peek(node, stamp, way);

    if (way->status == ngx_http_gsh_cache_hit
        || way->status == ngx_http_gsh_cache_updating)
    {
        goto done;
    }

    if (node->state == ngx_http_gsh_cache_writing) {
        /* its writer died: the next one takes over */
        way->status = ngx_http_gsh_cache_miss;
        ngx_http_gsh_cache_write(cache, node, way, &gone, log);
        goto done;
    }

    /* counting */

    if (way->status == ngx_http_gsh_cache_none) {
        way->status = ngx_http_gsh_cache_miss;
    }

    if (++node->uses >= cache->min_uses) {
        ngx_http_gsh_cache_write(cache, node, way, &gone, log);
    }

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_http_gsh_cache_unlink(cache, &gone, log);
}


/*
 * The entry was made on another state of the repository: it starts again
 * on this one, unless its answer is being written (NGX_DECLINED: this
 * request answers without the cache, and leaves that one to finish).
 */

static ngx_int_t
ngx_http_gsh_cache_restamp(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, const u_char *stamp,
    ngx_http_gsh_cache_way_t *way, ngx_http_gsh_cache_gone_t *gone)
{
    way->status = (node->state == ngx_http_gsh_cache_ready)
                  ? ngx_http_gsh_cache_expired : ngx_http_gsh_cache_miss;

    if (node->state == ngx_http_gsh_cache_writing
        && ngx_http_gsh_cache_writer_alive(node))
    {
        way->status = ngx_http_gsh_cache_expired;
        return NGX_DECLINED;
    }

    ngx_http_gsh_cache_let_go(cache, node, gone);
    ngx_memcpy(node->stamp, stamp, NGX_HTTP_GSH_CACHE_KEY_LEN);
    node->uses = 0;

    return NGX_OK;
}


/*
 * The node's answer is made by this request, under a new generation.  Its
 * file is made here, under the lock: a follower that finds the entry
 * being written finds its file too.  If it cannot be made, the request
 * answers without the cache.
 */

static void
ngx_http_gsh_cache_write(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, ngx_http_gsh_cache_way_t *way,
    ngx_http_gsh_cache_gone_t *gone, ngx_log_t *log)
{
    u_char    name[NGX_MAX_PATH];
    uint64_t  gen;
    ngx_fd_t  fd;

    gen = cache->sh->next_gen++;

    ngx_http_gsh_cache_file_name(cache, node->node_key, gen, 1, name);

    fd = ngx_open_file(name, NGX_FILE_WRONLY, NGX_FILE_CREATE_OR_OPEN|O_EXCL,
                       NGX_HTTP_GSH_CACHE_PART);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", name);
        return;
    }

    ngx_http_gsh_cache_let_go(cache, node, gone);

    node->state = ngx_http_gsh_cache_writing;
    node->gen = gen;
    node->followers = 0;
    node->writer = ngx_pid;
    node->size = 0;

    way->write = 1;
    way->gen = gen;
    way->fd = fd;
}


static ngx_uint_t
ngx_http_gsh_cache_writer_alive(ngx_http_gsh_cache_node_t *node)
{
    /* EPERM: a process of another user has that pid: alive */
    return node->writer == ngx_pid || kill(node->writer, 0) == 0
           || ngx_errno != NGX_ESRCH;
}


/* the entry of key while it is at generation gen (a request's), or NULL */

static ngx_http_gsh_cache_node_t *
ngx_http_gsh_cache_lookup_gen(ngx_http_gsh_cache_sh_t *sh, const u_char *key,
    uint64_t gen)
{
    ngx_http_gsh_cache_node_t  *node;

    node = ngx_http_gsh_cache_lookup(sh, key);

    return (node && node->gen == gen) ? node : NULL;
}


static ngx_http_gsh_cache_node_t *
ngx_http_gsh_cache_lookup(ngx_http_gsh_cache_sh_t *sh, const u_char *key)
{
    ngx_int_t                   rc;
    ngx_rbtree_key_t            hash;
    ngx_rbtree_node_t          *n, *sentinel;
    ngx_http_gsh_cache_node_t  *node;

    ngx_memcpy(&hash, key, sizeof(ngx_rbtree_key_t));

    n = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (n != sentinel) {

        if (hash != n->key) {
            n = (hash < n->key) ? n->left : n->right;
            continue;
        }

        node = (ngx_http_gsh_cache_node_t *) n;

        rc = ngx_memcmp(key, node->node_key, NGX_HTTP_GSH_CACHE_KEY_LEN);

        if (rc == 0) {
            return node;
        }

        n = (rc < 0) ? n->left : n->right;
    }

    return NULL;
}


/* a new entry; the least recently used go when the zone is full */

static ngx_http_gsh_cache_node_t *
ngx_http_gsh_cache_insert(ngx_http_gsh_cache_t *cache, const u_char *key,
    const u_char *stamp, ngx_http_gsh_cache_gone_t *gone)
{
    ngx_queue_t                *q;
    ngx_http_gsh_cache_node_t  *node, *old;

    for ( ;; ) {
        node = ngx_slab_calloc_locked(cache->shpool,
                                      sizeof(ngx_http_gsh_cache_node_t));
        if (node) {
            break;
        }

        if (gone->n == NGX_HTTP_GSH_CACHE_GONE) {
            return NULL;
        }

        for (q = ngx_queue_last(&cache->sh->queue);
             q != ngx_queue_sentinel(&cache->sh->queue);
             q = ngx_queue_prev(q))
        {
            old = ngx_queue_data(q, ngx_http_gsh_cache_node_t, queue);

            if (old->state != ngx_http_gsh_cache_writing) {
                break;
            }
        }

        if (q == ngx_queue_sentinel(&cache->sh->queue)) {
            return NULL;
        }

        ngx_http_gsh_cache_forget(cache, old, gone);
        cache->sh->evictions++;
    }

    ngx_memcpy(&node->node.key, key, sizeof(ngx_rbtree_key_t));
    ngx_memcpy(node->node_key, key, NGX_HTTP_GSH_CACHE_KEY_LEN);
    ngx_memcpy(node->stamp, stamp, NGX_HTTP_GSH_CACHE_KEY_LEN);
    node->state = ngx_http_gsh_cache_counting;
    node->uses = 1;
    node->used = ngx_time();

    ngx_rbtree_insert(&cache->sh->rbtree, &node->node);
    ngx_queue_insert_head(&cache->sh->queue, &node->queue);

    return node;
}


/*
 * The entry's file, finished or being written by a writer that died, is
 * to be removed; the entry keeps its place as one that counts uses.  A
 * file that does not fit the list is left for the next fresh start.
 */

static void
ngx_http_gsh_cache_let_go(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, ngx_http_gsh_cache_gone_t *gone)
{
    if (node->state != ngx_http_gsh_cache_counting
        && gone->n < NGX_HTTP_GSH_CACHE_GONE)
    {
        ngx_memcpy(gone->key[gone->n], node->node_key,
                   NGX_HTTP_GSH_CACHE_KEY_LEN);
        gone->gen[gone->n] = node->gen;
        /* a writer that died may have renamed its file already */
        gone->tmp[gone->n] = (node->state == ngx_http_gsh_cache_writing);
        gone->n++;
    }

    if (node->state == ngx_http_gsh_cache_ready) {
        cache->sh->size -= node->size;
        cache->sh->entries--;
    }

    node->state = ngx_http_gsh_cache_counting;
}


/* the entry leaves the index; its file, if any, is to be removed */

static void
ngx_http_gsh_cache_forget(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_node_t *node, ngx_http_gsh_cache_gone_t *gone)
{
    ngx_http_gsh_cache_let_go(cache, node, gone);

    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &node->node);
    ngx_slab_free_locked(cache->shpool, node);
}


/* entries not used for "inactive", oldest first, a few per call */

static void
ngx_http_gsh_cache_expire(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_gone_t *gone)
{
    time_t                      now;
    ngx_queue_t                *q;
    ngx_http_gsh_cache_node_t  *node;

    now = ngx_time();

    while (gone->n < NGX_HTTP_GSH_CACHE_GONE / 2
           && !ngx_queue_empty(&cache->sh->queue))
    {
        q = ngx_queue_last(&cache->sh->queue);
        node = ngx_queue_data(q, ngx_http_gsh_cache_node_t, queue);

        if (node->used + cache->inactive > now
            || (node->state == ngx_http_gsh_cache_writing
                && ngx_http_gsh_cache_writer_alive(node)))
        {
            return;
        }

        ngx_http_gsh_cache_forget(cache, node, gone);
    }
}


/*
 * The writer's answer is whole: the entry is served from now on, unless
 * the generation is no longer the entry's.  Entries used least recently
 * go until the finished ones fit max_size (this one too, if it alone does
 * not).  Returns whether the answer is kept.
 */

ngx_uint_t
ngx_http_gsh_cache_finish(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, off_t size, ngx_log_t *log)
{
    ngx_uint_t                  kept;
    ngx_queue_t                *q;
    ngx_http_gsh_cache_gone_t   gone;
    ngx_http_gsh_cache_node_t  *node, *old;

    gone.n = 0;
    kept = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_gsh_cache_lookup_gen(cache->sh, key, gen);

    if (node == NULL || node->state != ngx_http_gsh_cache_writing) {
        goto done;
    }

    if (size > cache->max_size) {
        /* not kept, and nothing else goes for it */
        ngx_http_gsh_cache_forget(cache, node, &gone);
        goto done;
    }

    node->state = ngx_http_gsh_cache_ready;
    node->size = size;
    cache->sh->size += size;
    cache->sh->entries++;
    kept = 1;

    q = ngx_queue_last(&cache->sh->queue);

    /* a full list of files to remove stops it: the next finish goes on */

    while (cache->sh->size > cache->max_size
           && q != ngx_queue_sentinel(&cache->sh->queue)
           && gone.n < NGX_HTTP_GSH_CACHE_GONE)
    {
        old = ngx_queue_data(q, ngx_http_gsh_cache_node_t, queue);
        q = ngx_queue_prev(q);

        if (old->state != ngx_http_gsh_cache_ready) {
            continue;
        }

        if (old == node) {
            kept = 0;
        }

        ngx_http_gsh_cache_forget(cache, old, &gone);
        cache->sh->evictions++;
    }

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_http_gsh_cache_unlink(cache, &gone, log);

    return kept;
}


/*
 * The generation's entry goes with its files: its writer failed or left
 * (its followers end), or its file went away.
 */

void
ngx_http_gsh_cache_drop(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, ngx_log_t *log)
{
    ngx_http_gsh_cache_gone_t   gone;
    ngx_http_gsh_cache_node_t  *node;

    gone.n = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_gsh_cache_lookup_gen(cache->sh, key, gen);

    if (node && node->state != ngx_http_gsh_cache_counting) {
        ngx_http_gsh_cache_forget(cache, node, &gone);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_http_gsh_cache_unlink(cache, &gone, log);
}


/* a follower of generation gen ended (counted by ngx_http_gsh_cache_find()) */

void
ngx_http_gsh_cache_unfollow(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen)
{
    ngx_http_gsh_cache_node_t  *node;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_gsh_cache_lookup_gen(cache->sh, key, gen);

    if (node && node->followers) {
        node->followers--;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * Whether requests follow generation gen now: one killed with its worker
 * is still counted, which only lets a writer go on alone when none needs
 * it to.
 */

ngx_uint_t
ngx_http_gsh_cache_followed(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen)
{
    ngx_uint_t                  followed;
    ngx_http_gsh_cache_node_t  *node;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_gsh_cache_lookup_gen(cache->sh, key, gen);
    followed = (node && node->followers);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return followed;
}


/*
 * What a follower asks while the file does not grow: NGX_AGAIN while the
 * generation is written by a live writer, NGX_OK when it is finished
 * (*size), NGX_DECLINED when the index no longer has it or its writer died.
 */

ngx_int_t
ngx_http_gsh_cache_state(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, off_t *size)
{
    ngx_int_t                   rc;
    ngx_http_gsh_cache_node_t  *node;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_gsh_cache_lookup_gen(cache->sh, key, gen);

    if (node) {
        if (node->state == ngx_http_gsh_cache_ready) {
            *size = node->size;
            rc = NGX_OK;

        } else if (node->state == ngx_http_gsh_cache_writing
                   && ngx_http_gsh_cache_writer_alive(node))
        {
            rc = NGX_AGAIN;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


void
ngx_http_gsh_cache_count(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_status_e status, off_t bytes)
{
    if (status > ngx_http_gsh_cache_none && status < ngx_http_gsh_cache_n) {
        (void) ngx_atomic_fetch_add(&cache->sh->requests[status], 1);
    }

    if (bytes > 0) {
        (void) ngx_atomic_fetch_add(&cache->sh->bytes, bytes);
    }
}


static void
ngx_http_gsh_cache_unlink(ngx_http_gsh_cache_t *cache,
    ngx_http_gsh_cache_gone_t *gone, ngx_log_t *log)
{
    ngx_uint_t  i;

    for (i = 0; i < gone->n; i++) {
        ngx_http_gsh_cache_delete(cache, gone->key[i], gone->gen[i], 0, log);

        if (gone->tmp[i]) {
            ngx_http_gsh_cache_delete(cache, gone->key[i], gone->gen[i], 1,
                                      log);
        }
    }
}


void
ngx_http_gsh_cache_delete(ngx_http_gsh_cache_t *cache, const u_char *key,
    uint64_t gen, ngx_uint_t tmp, ngx_log_t *log)
{
    u_char  file[NGX_MAX_PATH];

    ngx_http_gsh_cache_file_name(cache, key, gen, tmp, file);

    if (ngx_delete_file(file) == NGX_FILE_ERROR && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", file);
    }
}


/* the metrics file's room for the series below */

ngx_uint_t
ngx_http_gsh_cache_metrics_size(ngx_array_t *caches)
{
    return caches ? 512 * (caches->nelts * ngx_http_gsh_cache_n + 16) : 0;
}


u_char *
ngx_http_gsh_cache_metrics(u_char *p, u_char *last, ngx_array_t *caches)
{
    ngx_uint_t              i, st;
    ngx_str_t              *zone;
    ngx_http_gsh_cache_t  **cache;

    static const char  *names[ngx_http_gsh_cache_n] = {
        "", "miss", "hit", "updating", "expired", "bypass"
    };

    if (caches == NULL) {
        return p;
    }

    cache = caches->elts;

    p = ngx_slprintf(p, last,
            "# HELP git_smart_http_pack_cache_requests_total Fetches of "
            "locations with a pack cache, by what the cache did "
            "($git_cache_status).\n"
            "# TYPE git_smart_http_pack_cache_requests_total counter\n");

    for (i = 0; i < caches->nelts; i++) {
        zone = &cache[i]->shm_zone->shm.name;

        for (st = ngx_http_gsh_cache_miss; st < ngx_http_gsh_cache_n; st++) {
            p = ngx_slprintf(p, last,
                    "git_smart_http_pack_cache_requests_total{zone=\"%V\","
                    "status=\"%s\"} %uA\n", zone, names[st],
                    cache[i]->sh ? cache[i]->sh->requests[st] : 0);
        }
    }

    p = ngx_http_gsh_cache_metric(p, last, caches,
            "git_smart_http_pack_cache_bytes_total", "counter",
            "Bytes sent from pack cache files (hits and followers).",
            offsetof(ngx_http_gsh_cache_sh_t, bytes));

    p = ngx_http_gsh_cache_metric(p, last, caches,
            "git_smart_http_pack_cache_evictions_total", "counter",
            "Finished entries removed to keep max_size, or the zone's "
            "room.", offsetof(ngx_http_gsh_cache_sh_t, evictions));

    p = ngx_http_gsh_cache_metric(p, last, caches,
            "git_smart_http_pack_cache_size_bytes", "gauge",
            "Bytes of the finished entries.",
            offsetof(ngx_http_gsh_cache_sh_t, size));

    return ngx_http_gsh_cache_metric(p, last, caches,
            "git_smart_http_pack_cache_entries", "gauge",
            "Finished entries.", offsetof(ngx_http_gsh_cache_sh_t, entries));
}


/* one value per zone, at offset of its shared struct (all word-sized) */

static u_char *
ngx_http_gsh_cache_metric(u_char *p, u_char *last, ngx_array_t *caches,
    const char *name, const char *type, const char *help, size_t offset)
{
    ngx_uint_t              i;
    ngx_atomic_uint_t       v;
    ngx_http_gsh_cache_t  **cache;

    cache = caches->elts;

    p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                     name, help, name, type);

    for (i = 0; i < caches->nelts; i++) {
        v = cache[i]->sh
            ? *(ngx_atomic_uint_t *) ((u_char *) cache[i]->sh + offset) : 0;

        p = ngx_slprintf(p, last, "%s{zone=\"%V\"} %uA\n", name,
                         &cache[i]->shm_zone->shm.name, v);
    }

    return p;
}

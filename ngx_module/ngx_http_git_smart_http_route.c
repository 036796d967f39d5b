
/*
 * Git Smart HTTP for nginx: the routing of a request (see the header), as
 * "git http-backend" routes it.  No nginx header here: the fuzz target
 * builds this file alone.
 */


#include <string.h>

#include "ngx_http_git_smart_http_route.h"


#define H8  "########"
#define H38 H8 H8 H8 H8 "######"
#define H40 H8 H8 H8 H8 H8
#define H62 H8 H8 H8 H8 H8 H8 H8 "######"
#define H64 H8 H8 H8 H8 H8 H8 H8 H8

#define NGX_HTTP_GSH_LOOSE  "application/x-git-loose-object"
#define NGX_HTTP_GSH_PACK   "application/x-git-packed-objects"
#define NGX_HTTP_GSH_IDX    "application/x-git-packed-objects-toc"


/* "git http-backend" routes (git 2.39), anchored at the end of the path */

static const ngx_http_gsh_route_t  ngx_http_gsh_routes[] = {

    { ngx_http_gsh_route_head, 0, "/HEAD", NULL, 0 },
    { ngx_http_gsh_route_info_refs, 0, "/info/refs", NULL, 0 },
    { ngx_http_gsh_route_file, 0, "/objects/info/alternates",
      "text/plain", 0 },
    { ngx_http_gsh_route_file, 0, "/objects/info/http-alternates",
      "text/plain", 0 },
    { ngx_http_gsh_route_info_packs, 0, "/objects/info/packs", NULL, 0 },
    { ngx_http_gsh_route_file, 0, "/objects/##/" H38,
      NGX_HTTP_GSH_LOOSE, 1 },
    { ngx_http_gsh_route_file, 0, "/objects/##/" H62,
      NGX_HTTP_GSH_LOOSE, 1 },
    { ngx_http_gsh_route_file, 0, "/objects/pack/pack-" H40 ".pack",
      NGX_HTTP_GSH_PACK, 1 },
    { ngx_http_gsh_route_file, 0, "/objects/pack/pack-" H64 ".pack",
      NGX_HTTP_GSH_PACK, 1 },
    { ngx_http_gsh_route_file, 0, "/objects/pack/pack-" H40 ".idx",
      NGX_HTTP_GSH_IDX, 1 },
    { ngx_http_gsh_route_file, 0, "/objects/pack/pack-" H64 ".idx",
      NGX_HTTP_GSH_IDX, 1 },

    /* published base packs (git_smart_http_publish) */
    { ngx_http_gsh_route_published, 0, "/published/pack-" H40 ".pack",
      NGX_HTTP_GSH_PACK, 1 },
    { ngx_http_gsh_route_published, 0, "/published/bundle-" H40 ".bundle",
      "application/x-git-bundle", 1 },
    { ngx_http_gsh_route_published, 0,
      "/published/filter-" H8 H8 "/pack-" H40 ".pack", NGX_HTTP_GSH_PACK, 1 },
    { ngx_http_gsh_route_bundle_list, 0, "/published/bundle-list", NULL, 0 },

    { ngx_http_gsh_route_upload_pack, 1, "/git-upload-pack", NULL, 0 },
    { ngx_http_gsh_route_receive_pack, 1, "/git-receive-pack", NULL, 0 },

    { ngx_http_gsh_route_none, 0, NULL, NULL, 0 }
};


static const ngx_http_gsh_route_t *ngx_http_gsh_route_match(
    const unsigned char *path, size_t path_len, size_t *repo_len);
static unsigned char *ngx_http_gsh_route_decode_param(
    const unsigned char **pos, const unsigned char *last, const char *stop,
    unsigned char *dst);


const ngx_http_gsh_route_t *
ngx_http_gsh_route_find(const unsigned char *rel, size_t len,
    const unsigned char **repo, size_t *repo_len)
{
    size_t                       n;
    const ngx_http_gsh_route_t  *route;

    while (len && rel[0] == '/') {
        rel++;
        len--;
    }

    route = ngx_http_gsh_route_match(rel, len, &n);

    if (route == NULL) {
        return NULL;
    }

    while (n && rel[n - 1] == '/') {
        n--;
    }

    *repo = rel;
    *repo_len = n;

    return route;
}


const unsigned char *
ngx_http_gsh_route_file_name(const ngx_http_gsh_route_t *route,
    const unsigned char *rel, size_t len, size_t *name_len)
{
    /* the suffix matched the end of rel, its "/" perhaps before rel */

    *name_len = strlen(route->suffix) - 1;

    return rel + len - *name_len;
}


/*
 * Matches the path after the location prefix, as if it started with "/",
 * against the route suffixes; the repository is what precedes the suffix.
 */

static const ngx_http_gsh_route_t *
ngx_http_gsh_route_match(const unsigned char *path, size_t path_len,
    size_t *repo_len)
{
    size_t                       len, n;
    const char                  *s;
    const unsigned char         *p;
    const ngx_http_gsh_route_t  *route;

    for (route = ngx_http_gsh_routes; route->suffix; route++) {

        s = route->suffix;
        len = strlen(s);

        if (path_len + 1 < len) {
            continue;
        }

        if (path_len + 1 == len) {
            /* the suffix's leading "/" is the one before the path */
            s++;
            len--;
            p = path;
            *repo_len = 0;

        } else {
            p = path + path_len - len;
            *repo_len = path_len - len;
        }

        for (n = 0; n < len; n++) {
            if (s[n] == '#') {
                if (!((p[n] >= '0' && p[n] <= '9')
                      || (p[n] >= 'a' && p[n] <= 'f')))
                {
                    break;
                }

            } else if ((unsigned char) s[n] != p[n]) {
                break;
            }
        }

        if (n == len) {
            return route;
        }
    }

    return NULL;
}


/*
 * Refuses what could leave the root: encoded slashes, dots and backslashes,
 * backslashes and NULs in the request line, and "." or ".." components (or
 * empty ones, which http-backend refuses as well) in the decoded path.
 */

int
ngx_http_gsh_route_is_safe(const unsigned char *unparsed,
    size_t unparsed_len, const unsigned char *repo, size_t repo_len)
{
    unsigned char         c1, c2;
    const unsigned char  *p, *last, *start;

    p = unparsed;
    last = p + unparsed_len;

    for ( /* void */ ; p < last && *p != '?'; p++) {

        if (*p == '\\' || *p == '\0') {
            return 0;
        }

        if (*p != '%' || last - p < 3) {
            continue;
        }

        c1 = p[1];
        c2 = (unsigned char) (p[2] | 0x20);

        if ((c1 == '2' && (c2 == 'f' || c2 == 'e'))
            || (c1 == '5' && c2 == 'c')
            || (c1 == '0' && c2 == '0'))
        {
            return 0;
        }
    }

    p = repo;
    last = p + repo_len;

    while (p < last) {
        start = p;

        while (p < last && *p != '/') {
            if (*p == '\\' || *p == '\0') {
                return 0;
            }

            p++;
        }

        if (p - start == 0
            || (p - start == 1 && start[0] == '.')
            || (p - start == 2 && start[0] == '.' && start[1] == '.'))
        {
            return 0;
        }

        p++;
    }

    return 1;
}


/*
 * The "service" query parameter, decoded as git's url.c does it ("+" is a
 * space, %XX a byte except %00; the last occurrence wins).  Decoding never
 * grows, so each of name, value and result needs len bytes of buf.
 */

int
ngx_http_gsh_route_service(const unsigned char *args, size_t len,
    unsigned char *buf, const unsigned char **value, size_t *value_len)
{
    int                   found;
    unsigned char        *name, *name_end, *val, *val_end, *out;
    const unsigned char  *p, *last;

    if (len == 0) {
        return 0;
    }

    name = buf;
    val = buf + len;
    out = buf + 2 * len;
    found = 0;

    p = args;
    last = p + len;

    while (p < last) {
        name_end = ngx_http_gsh_route_decode_param(&p, last, "&=", name);
        val_end = ngx_http_gsh_route_decode_param(&p, last, "&", val);

        if (name_end - name != sizeof("service") - 1
            || memcmp(name, "service", sizeof("service") - 1) != 0)
        {
            continue;
        }

        *value_len = val_end - val;
        memcpy(out, val, *value_len);
        found = 1;
    }

    *value = out;

    return found;
}


static unsigned char *
ngx_http_gsh_route_decode_param(const unsigned char **pos,
    const unsigned char *last, const char *stop, unsigned char *dst)
{
    unsigned              n;
    unsigned char         c, hi, lo;
    const unsigned char  *p;

    for (p = *pos; p < last; p++) {

        /* as strchr() tells: a NUL byte ends a part too */
        if (strchr(stop, *p)) {
            p++;
            break;
        }

        if (*p == '%' && last - p >= 3) {
            hi = (unsigned char) (p[1] | 0x20);
            lo = (unsigned char) (p[2] | 0x20);

            if (((hi >= '0' && hi <= '9') || (hi >= 'a' && hi <= 'f'))
                && ((lo >= '0' && lo <= '9') || (lo >= 'a' && lo <= 'f')))
            {
                n = (unsigned) (hi <= '9' ? hi - '0' : hi - 'a' + 10) << 4;
                n |= lo <= '9' ? lo - '0' : lo - 'a' + 10;

                if (n) {
                    *dst++ = (unsigned char) n;
                    p += 2;
                    continue;
                }
            }
        }

        c = *p;
        *dst++ = (c == '+') ? ' ' : c;
    }

    *pos = p;

    return dst;
}


/*
 * Git Smart HTTP for nginx: the routing of a request, in plain C with no
 * nginx header, so that the fuzz target tests/fuzz/fuzz_route.cpp runs the
 * very functions the content handler calls: the route of a path, the
 * refusal of URIs that could leave the root, and the "service" parameter.
 */


#ifndef _NGX_HTTP_GIT_SMART_HTTP_ROUTE_H_INCLUDED_
#define _NGX_HTTP_GIT_SMART_HTTP_ROUTE_H_INCLUDED_


#include <stddef.h>


#ifdef __cplusplus
extern "C" {
#endif


typedef enum {
    ngx_http_gsh_route_none = 0,
    ngx_http_gsh_route_info_refs,       /* GET, smart or dumb */
    ngx_http_gsh_route_head,            /* GET, dumb: made up from HEAD */
    ngx_http_gsh_route_info_packs,      /* GET, dumb: made up from packs */
    ngx_http_gsh_route_file,            /* GET, dumb: a file, as it is */
    ngx_http_gsh_route_upload_pack,     /* POST */
    ngx_http_gsh_route_receive_pack,    /* POST */
    ngx_http_gsh_route_published,       /* GET: a published file */
    ngx_http_gsh_route_bundle_list      /* GET: made up from the published */
} ngx_http_gsh_route_e;


typedef struct {
    ngx_http_gsh_route_e        route;
    unsigned                    post;   /* the method: POST, or GET/HEAD */
    const char                 *suffix; /* '#' stands for [0-9a-f] */

    /*
     * a file route's Content-Type, and whether the file never changes under
     * its name (objects, packs: cached for a year, as git http-backend says)
     */
    const char                 *type;
    unsigned                    immutable;
} ngx_http_gsh_route_t;


/*
 * The route of the URI's part after the location prefix (rel, len bytes),
 * or NULL; on a route, *repo and *repo_len are the repository's name in it
 * (leading and trailing slashes left out).
 */
const ngx_http_gsh_route_t *ngx_http_gsh_route_find(const unsigned char *rel,
    size_t len, const unsigned char **repo, size_t *repo_len);

/*
 * The file a file route names, relative to the git directory: the matched
 * suffix without its leading "/" (rel, len as given to route_find).
 */
const unsigned char *ngx_http_gsh_route_file_name(
    const ngx_http_gsh_route_t *route, const unsigned char *rel, size_t len,
    size_t *name_len);

/*
 * 1 unless the request line (unparsed, up to its '?') or the decoded
 * repository name could lead out of the root.
 */
int ngx_http_gsh_route_is_safe(const unsigned char *unparsed,
    size_t unparsed_len, const unsigned char *repo, size_t repo_len);

/*
 * The last "service" parameter of the query string args, decoded; buf holds
 * 3 * len bytes, and *value points into it.  0 when there is none.
 */
int ngx_http_gsh_route_service(const unsigned char *args, size_t len,
    unsigned char *buf, const unsigned char **value, size_t *value_len);


#ifdef __cplusplus
}
#endif


#endif /* _NGX_HTTP_GIT_SMART_HTTP_ROUTE_H_INCLUDED_ */

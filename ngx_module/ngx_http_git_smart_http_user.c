
/*
 * Who is pushing: a user comes only from an nginx check that ran for this
 * request, never from a header that nothing verified.
 *
 * $remote_user alone is no such check: it decodes the Authorization header
 * whether or not anything verified it, so a location without auth_basic
 * would take any forged "Authorization: Basic" as a user (the fastcgi
 * "REMOTE_USER $remote_user" set-up of git http-backend has that hole).
 *
 *   git_smart_http_user VALUE   the user is VALUE (variables allowed, e.g.
 *                               $remote_user behind auth_basic, or a name
 *                               from an auth_request answer through
 *                               auth_request_set); empty: anonymous
 *   unset                       $remote_user where auth_basic verified it
 *                               (auth_basic on in this location, and
 *                               "satisfy all"), else anonymous
 */


#include "ngx_http_git_smart_http_module.h"


/*
 * auth_basic's own location configuration.  Its struct is private to that
 * module; only its first two machine words are read: the realm (a complex
 * value pointer in every nginx since 1.3) and the user file, which is a
 * pointer in newer releases and an embedded complex value, starting with
 * its length, in older ones: in both a zero word means "not set".
 * Declared weak: an nginx built without auth_basic has no such module, and
 * then no location can have it.
 */
extern ngx_module_t  ngx_http_auth_basic_module __attribute__((weak));

typedef struct {
    ngx_http_complex_value_t   *realm;
    void                       *user_file;
} ngx_http_gsh_auth_basic_conf_t;


static ngx_int_t ngx_http_gsh_auth_basic_conf(void *conf);


/* Whether auth_basic has a realm and a user file in this configuration. */
static ngx_int_t
ngx_http_gsh_auth_basic_conf(void *conf)
{
    ngx_http_gsh_auth_basic_conf_t  *abcf = conf;

    return abcf != NULL && abcf->realm != NULL && abcf->user_file != NULL;
}


ngx_int_t
ngx_http_gsh_user(ngx_http_request_t *r, ngx_str_t *user)
{
    ngx_str_t                  realm;
    ngx_http_gsh_loc_conf_t   *glcf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_str_null(user);

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_git_smart_http_module);

    if (glcf->user) {
        return ngx_http_complex_value(r, glcf->user, user);
    }

    if (&ngx_http_auth_basic_module == NULL) {
        return NGX_OK;
    }

    /*
     * with "satisfy any" another access check (allow, auth_request) may
     * have let the request in while auth_basic refused its credentials
     */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy != NGX_HTTP_SATISFY_ALL) {
        return NGX_OK;
    }

    if (!ngx_http_gsh_auth_basic_conf(
            ngx_http_get_module_loc_conf(r, ngx_http_auth_basic_module)))
    {
        return NGX_OK;
    }

    /* auth_basic's handler lets everything through when the realm is off */

    if (ngx_http_complex_value(r,
            ((ngx_http_gsh_auth_basic_conf_t *)
             ngx_http_get_module_loc_conf(r, ngx_http_auth_basic_module))
            ->realm, &realm)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (realm.len == 3 && ngx_strncmp(realm.data, "off", 3) == 0) {
        return NGX_OK;
    }

    if (ngx_http_auth_basic_user(r) == NGX_OK) {
        *user = r->headers_in.user;
    }

    return NGX_OK;
}


/*
 * At "nginx -t": a location that takes pushes but where no push can ever
 * carry a user is most likely a forgotten auth_basic or git_smart_http_user
 * (only repositories with http.receivepack true take anonymous pushes).
 */
void
ngx_http_gsh_user_check_conf(ngx_conf_t *cf, ngx_http_gsh_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (!conf->receive_pack || conf->user) {
        return;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (&ngx_http_auth_basic_module != NULL
        && clcf->satisfy == NGX_HTTP_SATISFY_ALL
        && ngx_http_gsh_auth_basic_conf(
               ngx_http_conf_get_module_loc_conf(cf,
                                                 ngx_http_auth_basic_module)))
    {
        return;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "\"git_smart_http_receive_pack\" is on in location "
                       "\"%V\", but no user can be verified there (no "
                       "\"auth_basic\" with \"satisfy all\", no "
                       "\"git_smart_http_user\"): every push is anonymous, "
                       "refused unless a repository sets "
                       "http.receivepack true", &clcf->name);
}

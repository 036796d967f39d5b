// TEMPORARY stub so that the module links; replaced by the real session.
#include "git_smart_http.h"

#include <new>
#include <string>

struct gsh_session {
    std::string message = "not implemented";
};

extern "C" {
int gsh_global_init(void) { return 0; }
gsh_session *gsh_session_create(const gsh_request *) { return new (std::nothrow) gsh_session; }
int gsh_session_add_body(gsh_session *, const void *, size_t) { return 0; }
int gsh_session_add_body_file(gsh_session *, int, off_t, size_t) { return 0; }
int gsh_session_open(gsh_session *) { return 404; }
const char *gsh_session_content_type(const gsh_session *) { return "text/plain"; }
const char *gsh_session_message(const gsh_session *s) { return s->message.c_str(); }
int gsh_session_read(gsh_session *, unsigned char *, size_t, size_t *written) {
    *written = 0;
    return GSH_DONE;
}
unsigned long long gsh_session_pack_objects(const gsh_session *) { return 0; }
unsigned long long gsh_session_pack_bytes(const gsh_session *) { return 0; }
void gsh_session_destroy(gsh_session *s) { delete s; }
}


/*
 * Git Smart HTTP for nginx: the worker's memory given back to the system.
 * Pack work runs on pool threads, each with an allocator arena of its own
 * that keeps what a request freed; once no session is live, the core hands
 * every arena's free pages back (gsh_release_memory()).  A timer defers
 * that a little, so that a busy worker does it at most once per
 * NGX_HTTP_GSH_TRIM_DELAY, on the event loop, never mid-request.
 */


#include "ngx_http_git_smart_http_module.h"


static void ngx_http_gsh_memory_trim(ngx_event_t *ev);


static ngx_event_t  ngx_http_gsh_trim_event;


void
ngx_http_gsh_memory_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gsh_trim_event.handler = ngx_http_gsh_memory_trim;
    ngx_http_gsh_trim_event.log = cycle->log;
    ngx_http_gsh_trim_event.data = NULL;

    /* a worker that is shutting down does not wait for it */
    ngx_http_gsh_trim_event.cancelable = 1;
}


void
ngx_http_gsh_memory_session_ended(void)
{
    if (gsh_live_sessions() != 0
        || ngx_http_gsh_trim_event.timer_set
        || ngx_http_gsh_trim_event.log == NULL)
    {
        return;
    }

    ngx_add_timer(&ngx_http_gsh_trim_event, NGX_HTTP_GSH_TRIM_DELAY);
}


static void
ngx_http_gsh_memory_trim(ngx_event_t *ev)
{
    /* a request that came meanwhile will arm the timer again */

    if (gsh_live_sessions() != 0) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "git_smart_http: giving free memory back");

    gsh_release_memory();
}

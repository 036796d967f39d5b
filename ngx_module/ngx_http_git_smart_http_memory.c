
/*
 * Git Smart HTTP for nginx: the worker's memory given back to the system.
 * Pack work runs on pool threads, each with an allocator arena of its own
 * that keeps what a request freed; once no session is live, the core hands
 * every arena's free pages back (gsh_release_memory()).  That walks every
 * free chunk of every arena, up to a few hundred milliseconds when they
 * are many, so it runs as a task on the thread pool of the last request,
 * never on the event loop; a timer defers it, so that it runs at most once
 * per NGX_HTTP_GSH_TRIM_DELAY, and only when the worker is idle.
 */


#include "ngx_http_git_smart_http_module.h"


static void ngx_http_gsh_memory_trim(ngx_event_t *ev);
static void ngx_http_gsh_memory_trim_thread(void *data, ngx_log_t *log);
static void ngx_http_gsh_memory_trim_done(ngx_event_t *ev);


static ngx_event_t         ngx_http_gsh_trim_event;
static ngx_thread_task_t  *ngx_http_gsh_trim_task;
static ngx_thread_pool_t  *ngx_http_gsh_trim_pool;
static ngx_uint_t          ngx_http_gsh_trim_running;


void
ngx_http_gsh_memory_init_process(ngx_cycle_t *cycle)
{
    ngx_thread_task_t  *task;

    task = ngx_thread_task_alloc(cycle->pool, 0);
    if (task == NULL) {
        return;     /* memory is then only given back by free() itself */
    }

    task->handler = ngx_http_gsh_memory_trim_thread;
    task->event.handler = ngx_http_gsh_memory_trim_done;
    task->event.log = cycle->log;

    ngx_http_gsh_trim_task = task;

    ngx_http_gsh_trim_event.handler = ngx_http_gsh_memory_trim;
    ngx_http_gsh_trim_event.log = cycle->log;
    ngx_http_gsh_trim_event.data = NULL;

    /* a worker that is shutting down does not wait for it */
    ngx_http_gsh_trim_event.cancelable = 1;
}


void
ngx_http_gsh_memory_session_ended(ngx_thread_pool_t *pool)
{
    if (pool) {
        ngx_http_gsh_trim_pool = pool;
    }

    if (gsh_live_sessions() != 0
        || ngx_http_gsh_trim_task == NULL
        || ngx_http_gsh_trim_pool == NULL
        || ngx_http_gsh_trim_running
        || ngx_http_gsh_trim_event.timer_set)
    {
        return;
    }

    ngx_add_timer(&ngx_http_gsh_trim_event, NGX_HTTP_GSH_TRIM_DELAY);
}


static void
ngx_http_gsh_memory_trim(ngx_event_t *ev)
{
    /* a request that came meanwhile will arm the timer again */

    if (gsh_live_sessions() != 0 || ngx_http_gsh_trim_running) {
        return;
    }

    if (ngx_thread_task_post(ngx_http_gsh_trim_pool, ngx_http_gsh_trim_task)
        != NGX_OK)
    {
        return;
    }

    ngx_http_gsh_trim_running = 1;
}


static void
ngx_http_gsh_memory_trim_thread(void *data, ngx_log_t *log)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                   "git_smart_http: giving free memory back");

    gsh_release_memory();
}


static void
ngx_http_gsh_memory_trim_done(ngx_event_t *ev)
{
    ngx_http_gsh_trim_running = 0;
}


/*
 * Git Smart HTTP for nginx: a read's output as nginx buffers.
 *
 * A read task fills a memory buffer; with zero copy it also hands out
 * ranges of pack files between pieces of that buffer.  Each piece then
 * gets a buffer of its own (the file ranges are nginx file buffers, which
 * the output filters send with sendfile, or read into nginx's own output
 * buffers where sendfile is off, as for static files), and the memory
 * buffer is reused only once the read's last piece is sent.
 */


#include "ngx_http_git_smart_http_module.h"


/* tells the piece buffers from the memory buffers, which carry the module */
static char  ngx_http_gsh_piece_tag;


static ngx_http_gsh_piece_buf_t *ngx_http_gsh_piece_get(
    ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx);


/*
 * Zero copy, unless the copy filter may read the files in a thread of its
 * own (aio): r->aio and r->main->blocked are then shared with the module's
 * read tasks.
 */

ngx_uint_t
ngx_http_gsh_zero_copy(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    return clcf->aio == NGX_HTTP_AIO_OFF;
}


/*
 * The chain that sends the n pieces of a read into owner's buffer; the
 * last piece gives owner back.  NULL when there is nothing to send (owner
 * is free again).
 */

ngx_chain_t *
ngx_http_gsh_pieces_chain(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t *owner, gsh_piece *pieces, size_t n)
{
    u_char                    *mem;
    size_t                     i;
    ngx_buf_t                 *b;
    ngx_chain_t               *out, **ll;
    ngx_http_gsh_piece_buf_t  *pb;

    out = NULL;
    ll = &out;
    pb = NULL;
    mem = owner->buf->start;

    for (i = 0; i < n; i++) {
        pb = ngx_http_gsh_piece_get(r, ctx);
        if (pb == NULL) {
            return NGX_CHAIN_ERROR;
        }

        b = &pb->buf;

        if (pieces[i].fd < 0) {
            b->pos = mem;
            b->last = mem + pieces[i].len;
            b->start = b->pos;
            b->end = b->last;
            b->temporary = 1;
            mem += pieces[i].len;

        } else {
            pb->file.fd = pieces[i].fd;
            pb->file.name = ctx->repo;
            pb->file.log = r->connection->log;

            b->file = &pb->file;
            b->file_pos = pieces[i].offset;
            b->file_last = pieces[i].offset + (off_t) pieces[i].len;
            b->in_file = 1;

            ctx->file_bytes += (off_t) pieces[i].len;
        }

        *ll = &pb->link;
        ll = &pb->link.next;
    }

    if (pb == NULL) {
        owner->next = ctx->free;
        ctx->free = owner;
        return NULL;
    }

    pb->owner = owner;
    pb->buf.flush = 1;

    return out;
}


/*
 * A writer of the pack cache whose client is gone: out and busy are not
 * sent, and their buffers are free again.  No output filter is called
 * after this, so what the filters still hold of them is never read.
 */

void
ngx_http_gsh_drop_chains(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t **out)
{
    ngx_chain_t  *cl;
    ngx_uint_t    i;

    for (i = 0; i < 2; i++) {
        for (cl = i ? ctx->busy : *out; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }
    }

    ngx_http_gsh_update_chains(r, ctx, out);
}


/*
 * ngx_chain_update_chains() for the module's buffers: out joins busy, and
 * what is sent of busy is freed, in order.
 */

void
ngx_http_gsh_update_chains(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx,
    ngx_chain_t **out)
{
    ngx_buf_t                 *b;
    ngx_chain_t               *cl, **ll;
    ngx_http_gsh_piece_buf_t  *pb;

    for (ll = &ctx->busy; *ll; ll = &(*ll)->next) { /* void */ }

    *ll = *out;
    *out = NULL;

    while (ctx->busy) {
        cl = ctx->busy;
        b = cl->buf;

        if (ngx_buf_size(b) != 0) {
            break;
        }

        ctx->busy = cl->next;

        if (b->tag == (ngx_buf_tag_t) &ngx_http_gsh_piece_tag) {
            pb = (ngx_http_gsh_piece_buf_t *)
                     ((u_char *) cl - offsetof(ngx_http_gsh_piece_buf_t,
                                               link));

            if (pb->owner) {
                pb->owner->buf->pos = pb->owner->buf->start;
                pb->owner->buf->last = pb->owner->buf->start;
                pb->owner->next = ctx->free;
                ctx->free = pb->owner;
            }

            pb->next_free = ctx->free_pieces;
            ctx->free_pieces = pb;

        } else if (b->tag == (ngx_buf_tag_t) &ngx_http_git_smart_http_module) {
            b->pos = b->start;
            b->last = b->start;
            cl->next = ctx->free;
            ctx->free = cl;

        } else {
            ngx_free_chain(r->pool, cl);
        }
    }
}


static ngx_http_gsh_piece_buf_t *
ngx_http_gsh_piece_get(ngx_http_request_t *r, ngx_http_gsh_ctx_t *ctx)
{
    ngx_http_gsh_piece_buf_t  *pb;

    pb = ctx->free_pieces;

    if (pb) {
        ctx->free_pieces = pb->next_free;
        ngx_memzero(pb, sizeof(ngx_http_gsh_piece_buf_t));

    } else {
        pb = ngx_pcalloc(r->pool, sizeof(ngx_http_gsh_piece_buf_t));
        if (pb == NULL) {
            return NULL;
        }
    }

    pb->buf.tag = (ngx_buf_tag_t) &ngx_http_gsh_piece_tag;
    pb->link.buf = &pb->buf;

    return pb;
}

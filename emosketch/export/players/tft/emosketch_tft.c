/* emosketch TFT player core: see emosketch_tft.h. */
#include "emosketch_tft.h"

static void emit(const es_tft_pack *p, uint32_t at, uint16_t n, const uint8_t *words, uint16_t colour,
                 es_tft_span_fn span, void *ctx)
{
    /* Cut the span at row ends. */
    while (n > 0) {
        uint16_t y = (uint16_t)(at / p->width), x = (uint16_t)(at % p->width);
        uint16_t piece = (uint16_t)(p->width - x);
        if (piece > n) piece = n;
        span(ctx, x, y, piece, words, colour);
        if (words) words += 2u * piece;
        at += piece;
        n = (uint16_t)(n - piece);
    }
}

int es_tft_draw_frame(const es_tft_pack *p, uint16_t frame, int key, es_tft_span_fn span, void *ctx)
{
    const uint8_t *d, *end;
    uint32_t at = 0, total;
    if (frame >= p->frame_count) return 0;
    d = p->data + p->offsets[frame];
    end = p->data + p->offsets[frame + 1u];
    total = (uint32_t)p->width * p->height;
    while (d < end) {
        uint8_t c = *d++, kind = (uint8_t)(c >> 6);
        uint32_t n = (uint32_t)(c & 63u) + 1u;
        if (n == 64u) {
            if (end - d < 2) return 0;
            n = (uint32_t)d[0] | ((uint32_t)d[1] << 8);
            d += 2;
        }
        if (n == 0u || n > total - at || kind > 2u) return 0;
        if (kind == 0u) {
            if (key) emit(p, at, (uint16_t)n, 0, p->paper, span, ctx);
        } else if (kind == 1u) {
            if ((uint32_t)(end - d) < 2u * n) return 0;
            emit(p, at, (uint16_t)n, d, 0, span, ctx);
            d += 2u * n;
        } else {
            if (end - d < 2) return 0;
            emit(p, at, (uint16_t)n, 0, (uint16_t)(d[0] | (d[1] << 8)), span, ctx);
            d += 2;
        }
        at += n;
    }
    if (key && at < total) {  /* a key frame's trailing pixels are paper too */
        while (at < total) {
            uint32_t n = total - at;
            if (n > 65535u) n = 65535u;
            emit(p, at, (uint16_t)n, 0, p->paper, span, ctx);
            at += n;
        }
    }
    return 1;
}

void es_tft_player_init(es_tft_player *p, const es_tft_pack *pack)
{
    p->pack = pack;
    p->sequence = 0;
    p->index = 0;
    p->due = 0;
    p->started = 0;
}

void es_tft_player_play(es_tft_player *p, uint16_t sequence)
{
    if (sequence >= p->pack->sequence_count) return;
    p->sequence = sequence;
    p->index = 0;
    p->started = 0;
}

int es_tft_player_update(es_tft_player *p, uint32_t now_ms, es_tft_span_fn span, void *ctx)
{
    const uint16_t *seq = p->pack->sequences + 3u * p->sequence;
    if (p->started && (int32_t)(now_ms - p->due) < 0) return 0;
    es_tft_draw_frame(p->pack, (uint16_t)(seq[0] + p->index), p->index == 0, span, ctx);
    p->due = (p->started ? p->due : now_ms) + seq[2];
    p->started = 1;
    if (++p->index >= seq[1]) {  /* on to the next sequence */
        p->index = 0;
        p->sequence = (uint16_t)((p->sequence + 1u) % p->pack->sequence_count);
    }
    return 1;
}

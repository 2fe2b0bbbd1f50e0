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
    if (frame >= p->frame_count || !p->width || p->offsets[frame + 1u] < p->offsets[frame]
        || p->offsets[frame + 1u] > p->data_bytes) return 0;
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

/* As join_wait in emosketch_player.c: the frames an idle loop shows before it reaches its pose (its first
 * frame, or its middle one when it has an even number), where it may be left without a jump. */
static uint16_t join_wait(uint16_t pos, uint16_t count)
{
    uint16_t half = count >> 1;
    if (pos <= 1u) return 0;
    if (!(count & 1u) && pos <= half + 1u) return (uint16_t)(half + 1u - pos);
    return (uint16_t)(count + 1u - pos); /* count + 1 - pos < 65536: pos >= 2 */
}

static void begin(es_tft_player *p, uint8_t x);

/* As take_pending in emosketch_player.c: the request waiting for a transition's end or a loop's pose, begun now. */
static void take_pending(es_tft_player *p)
{
    uint8_t x = (uint8_t)p->pending;
    p->pending = -1;
    begin(p, x);
}

static void begin(es_tft_player *p, uint8_t x)
{
    const es_tft_pack *pack = p->pack;
    int16_t t = pack->transitions[p->emotion * pack->emotion_count + x];
    p->pos = 0;
    if (t >= 0) {
        p->target = x;
        p->seq = (uint16_t)t;
        p->in_transition = 1;
    } else {
        p->emotion = p->target = x;
        p->seq = (uint16_t)pack->idle[x];
        p->in_transition = 0;
    }
}

/* As es_pack_check (emosketch_player.c): each table walked only as far as its own contents allow. */
int es_tft_pack_check(const es_tft_pack *pack)
{
    uint32_t i, n = pack->emotion_count, at = 0, frames = 0;
    if (!pack->width || !pack->height) return ES_TFT_ERR_GEOMETRY;
    for (i = 0; i < pack->frame_count; i++) {
        if (pack->offsets[i] < at || pack->offsets[i] >= pack->data_bytes) return ES_TFT_ERR_OFFSETS;
        at = pack->offsets[i];
    }
    if (pack->offsets[i] != pack->data_bytes) return ES_TFT_ERR_OFFSETS;
    for (i = 0; i < pack->sequence_count && frames < pack->frame_count; i++) {
        const uint16_t *s = pack->sequences + 3u * i;
        if (s[0] != frames || !s[1] || !s[2]) return ES_TFT_ERR_SEQUENCES;
        frames += s[1];
    }
    if (!i || i != pack->sequence_count || frames != pack->frame_count) return ES_TFT_ERR_SEQUENCES;
    for (i = 0; i < n; i++)
        if (pack->idle[i] < 0 || pack->idle[i] >= (int32_t)pack->sequence_count) return ES_TFT_ERR_EMOTIONS;
    if (pack->idle[n] != ES_TFT_END) return ES_TFT_ERR_EMOTIONS;
    for (i = 0; i < n * n; i++)
        if (pack->transitions[i] < -1 || pack->transitions[i] >= (int32_t)pack->sequence_count)
            return ES_TFT_ERR_EMOTIONS;
    if (pack->transitions[i] != ES_TFT_END) return ES_TFT_ERR_EMOTIONS;
    return ES_TFT_OK;
}

int es_tft_player_init(es_tft_player *p, const es_tft_pack *pack, uint8_t emotion)
{
    p->pack = pack;
    p->error = (uint8_t)es_tft_pack_check(pack);
    if (emotion >= pack->emotion_count) emotion = 0;
    p->emotion = p->target = emotion;
    p->pending = -1;
    p->in_transition = 0;
    p->seq = pack->emotion_count && !p->error ? (uint16_t)pack->idle[emotion] : 0;
    p->pos = 0;
    p->due = 0;
    p->started = 0;
    return p->error;
}

void es_tft_player_request(es_tft_player *p, uint8_t emotion)
{
    if (p->error || emotion >= p->pack->emotion_count) return;
    /* Played by es_tft_player_update: after a transition, or where an idle loop shows its pose */
    p->pending = (emotion == (p->in_transition ? p->target : p->emotion)) ? -1 : (int16_t)emotion;
}

int es_tft_player_update(es_tft_player *p, uint32_t now_ms, es_tft_span_fn span, void *ctx)
{
    const es_tft_pack *pack = p->pack;
    const uint16_t *seq;
    if (p->error || (p->started && (int32_t)(p->due - now_ms) > 0)) return 0;
    if (!p->in_transition && p->pending >= 0) {
        uint16_t wait = join_wait(p->pos, pack->sequences[3u * p->seq + 1u]);
        if (!wait || wait > ES_TFT_JOIN_MS / pack->sequences[3u * p->seq + 2u]) take_pending(p);  /* too far: now */
    }
    if (p->pos >= pack->sequences[3u * p->seq + 1u]) {
        if (p->in_transition) {
            p->in_transition = 0;
            p->emotion = p->target;
            if (p->pending >= 0) {  /* never the target: es_tft_player_request drops a request for it */
                take_pending(p);
            } else {
                p->seq = (uint16_t)pack->idle[p->emotion];
                p->pos = 0;
            }
        } else {
            p->pos = 0;
            if (!pack->emotion_count) p->seq = (uint16_t)((p->seq + 1u) % pack->sequence_count);
        }
    }
    seq = pack->sequences + 3u * p->seq;
    /* A sequence's first frame is coded against paper: drawn as a key frame it paints the screen. */
    if (!es_tft_draw_frame(pack, (uint16_t)(seq[0] + p->pos), p->pos == 0, span, ctx)) {
        /* A damaged frame: the rest of the sequence builds on it, so go on from the next sequence, whose
         * first frame repaints the screen, at once (as the OLED player does). */
        p->pos = seq[1];
        if (!p->in_transition && p->pending >= 0) take_pending(p);  /* a damaged loop may never show its pose */
        if (!p->started) p->due = now_ms;
        p->started = 1;
        return 0;
    }
    p->pos++;
    if (!p->started || (int32_t)(now_ms - (p->due + seq[2])) > 0) {
        p->due = now_ms + seq[2];  /* first frame, or fell behind: do not try to catch up */
    } else {
        p->due += seq[2];
    }
    p->started = 1;
    return 1;
}

uint8_t es_tft_player_emotion(const es_tft_player *p)
{
    return p->pending >= 0 ? (uint8_t)p->pending : p->in_transition ? p->target : p->emotion;
}

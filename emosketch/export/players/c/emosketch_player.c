/* emosketch pack player: see emosketch_player.h. */
#include "emosketch_player.h"

#ifdef ES_WITH_CTX
/* The context codec (emosketch/export/ctx.py has the format in words): 8x8 blocks of the buffer's bit
 * grid, a coded flag per block, then a coded flip per pixel of a flagged block; a pixel's context is
 * the buffer around it as it is when the pixel is decoded. A sound frame's coder ends with code 0
 * on its last byte; a frame cut short or damaged ends elsewhere and is refused. */
#define ES_CTX_KEY 1024u              /* key-frame bit of a pixel context */
#define ES_CTX_BLOCKS 2048u           /* the model's block contexts follow its 2048 pixel contexts */

typedef struct {
    const uint8_t *p;
    uint32_t at, end, range, code;
} es_rc;

static uint8_t rc_byte(es_rc *rc)
{
    return rc->at < rc->end ? ES_READ8(&rc->p[rc->at++]) : 0u;
}

#ifdef __GNUC__
#define ES_INLINE static inline __attribute__((always_inline))
#else
#define ES_INLINE static inline
#endif

/* Inlined into the pixel loops, so that their coder state can stay in registers. */
ES_INLINE uint8_t rc_bit(es_rc *rc, uint8_t p0)
{
    uint32_t bound = (rc->range >> 8) * p0;
    uint8_t bit;
    if (rc->code < bound) {
        rc->range = bound;
        bit = 0;
    } else {
        rc->code -= bound;
        rc->range -= bound;
        bit = 1;
    }
    while (rc->range < 0x1000000UL) {
        rc->range <<= 8;
        rc->code = (rc->code << 8) | rc_byte(rc);
    }
    return bit;
}

/* Rows (row formats): a pixel at a time. */
typedef struct {
    uint8_t *buf;
    int16_t rows, cols;
    uint16_t stride;
} es_grid;

static uint8_t px(const es_grid *g, int16_t r, int16_t c)
{
    if (r < 0 || c < 0 || r >= g->rows || c >= g->cols) return 0;
    return (uint8_t)((g->buf[(uint16_t)r * g->stride + (uint16_t)(c >> 3)] >> (c & 7)) & 1u);
}

static void flip(const es_grid *g, int16_t r, int16_t c)
{
    g->buf[(uint16_t)r * g->stride + (uint16_t)(c >> 3)] ^= (uint8_t)(1u << (c & 7));
}

/* Pages (vertical formats): a block is 8 columns of one page. Each of its columns and the two on
 * either side is held as a word of the grid's rows br - 1 .. br + 8, shifted down a row after each
 * block row, so a pixel's context is three table lookups. spread[x] puts a column's bits for the
 * rows above, at and below the pixel where the template wants them. */
static const uint8_t spread[8] ES_PROGMEM = {0, 1, 8, 9, 64, 65, 72, 73};

static void ctx_block_pages(es_rc *rc, const uint8_t *model, uint8_t *buf, uint16_t stride, int16_t pages,
                            int16_t page, int16_t bc, int16_t cols, uint16_t kbit)
{
    uint16_t w[12];
    uint8_t *row = buf + (uint16_t)page * stride, j, k, n, mask = 1;
    for (j = 0; j < 12; j++) {
        int16_t c = (int16_t)(bc - 2 + j);
        uint16_t v = 0;
        if (c >= 0 && c < cols) {
            v = (uint16_t)row[c] << 1;
            if (page > 0) v |= row[c - (int16_t)stride] >> 7;
            if (page + 1 < pages) v |= (uint16_t)(row[c + stride] & 1u) << 9;
        }
        w[j] = v;
    }
    n = (uint8_t)(cols - bc < 8 ? cols - bc : 8);
    for (k = 0; k < 8; k++) {
        for (j = 2; j < n + 2; j++) {
            uint16_t ctx = (uint16_t)(ES_READ8(&spread[w[j - 1] & 7u]) | ES_READ8(&spread[w[j] & 7u]) << 1
                                      | ES_READ8(&spread[w[j + 1] & 7u]) << 2 | (w[j - 2] & 2u) << 8 | kbit);
            if (rc_bit(rc, ES_READ8(&model[ctx]))) {
                w[j] ^= 2u;
                row[bc + j - 2] ^= mask;
            }
        }
        for (j = 0; j < 12; j++) w[j] >>= 1;
        mask = (uint8_t)(mask << 1);
    }
}

static int decode_ctx(const es_pack *pack, uint32_t pos, uint32_t end, uint8_t *buf, uint8_t key)
{
    es_grid g;
    es_rc rc;
    uint32_t up = 0;  /* the flags of the block row above, one bit per block column */
    uint32_t k;
    int16_t br, bc, r, c;
    uint8_t i;
    const uint8_t *model = pack->model;
    if (!model || !pack->stride) return 0;
    g.buf = buf;
    g.stride = pack->stride;
    g.rows = (int16_t)(pack->vertical ? (pack->frame_bytes / pack->stride) * 8u : pack->frame_bytes / pack->stride);
    g.cols = (int16_t)(pack->vertical ? pack->stride : pack->stride * 8u);
    if ((g.rows & 7) || ((g.cols + 7) >> 3) > 32) return 0;
    if (key) for (k = 0; k < pack->frame_bytes; k++) buf[k] = 0;  /* frame_bytes may pass int16_t */
    rc.p = pack->data;
    rc.at = pos;
    rc.end = end;
    rc.range = 0xFFFFFFFFUL;
    rc.code = 0;
    for (i = 0; i < 4; i++) rc.code = (rc.code << 8) | rc_byte(&rc);
    for (br = 0; br < g.rows; br += 8) {
        uint8_t left = 0;
        for (bc = 0; bc < g.cols; bc += 8) {
            uint32_t bit = 1UL << (bc >> 3);
            uint8_t bctx = (uint8_t)(left | ((up & bit) ? 2u : 0u) | (key ? 4u : 0u));
            uint8_t flag = rc_bit(&rc, ES_READ8(&model[ES_CTX_BLOCKS + bctx]));
            if (flag) up |= bit; else up &= ~bit;
            left = flag;
            if (!flag) continue;
            if (pack->vertical) {
                ctx_block_pages(&rc, model, buf, g.stride, (int16_t)(g.rows >> 3), (int16_t)(br >> 3), bc, g.cols,
                                key ? ES_CTX_KEY : 0u);
                continue;
            }
            for (r = br; r < br + 8; r++) {
                /* The context of the row's first pixel, then slid one column at a time: three new
                 * pixels enter, and the pixel just decoded moves to (0, -1). */
                uint16_t ctx = (uint16_t)(px(&g, r - 1, bc - 1) | px(&g, r - 1, bc) << 1 | px(&g, r - 1, bc + 1) << 2
                    | px(&g, r, bc - 1) << 3 | px(&g, r, bc) << 4 | px(&g, r, bc + 1) << 5
                    | px(&g, r + 1, bc - 1) << 6 | px(&g, r + 1, bc) << 7 | px(&g, r + 1, bc + 1) << 8
                    | px(&g, r, bc - 2) << 9);
                for (c = bc; c < bc + 8 && c < g.cols; c++) {
                    if (rc_bit(&rc, ES_READ8(&model[key ? ctx | ES_CTX_KEY : ctx]))) {
                        flip(&g, r, c);
                        ctx ^= 1u << 4;
                    }
                    ctx = (uint16_t)(((ctx >> 1) & 3u) | px(&g, r - 1, c + 2) << 2
                        | ((ctx >> 3) & 1u) << 9 | ((ctx >> 4) & 1u) << 3 | ((ctx >> 5) & 1u) << 4 | px(&g, r, c + 2) << 5
                        | ((ctx >> 7) & 3u) << 6 | px(&g, r + 1, c + 2) << 8);
                }
            }
        }
    }
    return rc.code == 0 && rc.at == rc.end;
}
#endif

/* The 2x2 pen (packs with pen 2): the pack stores one-pixel skeletons, and buf holds them drawn with
 * the pen, as they are shown. It works a byte (8 pixels) at a time over the frame's lines of bytes:
 * pages of display columns (vertical formats) or rows of stride bytes. */
typedef struct {
    uint8_t *at;  /* the line's first display byte, 0 past the frame's edges */
    uint8_t valid;  /* its display bits (a last page can be part padding) */
} pen_line;

static pen_line pen_at(const es_pack *pk, uint8_t *b, int16_t line, int16_t lines)
{
    pen_line l = {0, 0xFFu};
    uint8_t rest = (uint8_t)(pk->height & 7u);
    if (line < 0 || line >= lines) return l;
    l.at = b + (uint16_t)line * pk->stride + (pk->vertical ? pk->column_offset : 0u);
    if (pk->vertical && rest && line == lines - 1) l.valid = (uint8_t)((1u << rest) - 1u);
    return l;
}

/* Byte `col` of a line, its pixels outside the display set to `edge` (0x00 or 0xFF). */
static uint8_t pen_byte(pen_line l, int16_t col, int16_t cols, uint8_t last, uint8_t edge)
{
    uint8_t m;
    if (!l.at || col < 0 || col >= cols) return edge;
    m = (uint8_t)(col == cols - 1 ? l.valid & last : l.valid);
    return (uint8_t)((l.at[col] & m) | (edge & (uint8_t)~m));
}

/* pen_pass for pages of whole bytes (vertical formats, height a multiple of 8), the common case:
 * the same rule without the edge masks, the bits of a pixel's upper (lower) neighbour one bit over
 * in the same byte or in bit 7 (bit 0) of the page above (below). */
static void pen_pages(uint8_t *b, uint16_t stride, int16_t lines, int16_t cols, uint8_t lift)
{
    int16_t line, col;
    if (lift) {
        for (line = 0; line < lines; line++) {
            uint8_t *p = b + (uint16_t)line * stride, *q = line + 1 < lines ? p + stride : 0;
            for (col = 0; col < cols; col++) {
                uint8_t edge = col + 1 == cols;
                uint8_t a = (uint8_t)(p[col] & (edge ? 0xFFu : p[col + 1]));
                uint8_t down = q ? (uint8_t)(q[col] & (edge ? 0xFFu : q[col + 1])) : 0xFFu;
                p[col] = (uint8_t)(a & ((a >> 1) | (uint8_t)(down << 7)));
            }
        }
    } else {
        for (line = lines - 1; line >= 0; line--) {
            uint8_t *p = b + (uint16_t)line * stride, *u = line ? p - stride : 0;
            for (col = cols - 1; col >= 0; col--) {
                uint8_t a = (uint8_t)(p[col] | (col ? p[col - 1] : 0u));
                uint8_t up = u ? (uint8_t)(u[col] | (col ? u[col - 1] : 0u)) : 0u;
                p[col] = (uint8_t)(a | (uint8_t)(a << 1) | (up >> 7));
            }
        }
    }
}

/* lift = 0 draws the skeleton with the pen: a pixel is lit when it or its left, upper or upper-left
 * neighbour is (bytes in reverse order, so each reads bytes not yet redrawn). lift = 1 takes the
 * skeleton back out, which a delta frame applies to: a pixel stays lit when its whole pen square,
 * right and down, is lit, past the display's edges counting as lit (bytes in order). In place. */
static void pen_pass(const es_pack *pk, uint8_t *b, uint8_t lift)
{
    int16_t d = lift ? 1 : -1, line, col, k;
    int16_t lines = (int16_t)(pk->vertical ? (pk->height + 7u) >> 3 : pk->height);
    int16_t cols = (int16_t)(pk->vertical ? pk->width : pk->stride);
    uint8_t edge = lift ? 0xFFu : 0u, rest = (uint8_t)(pk->width & 7u), last = 0xFFu;
    uint8_t toward_msb = (uint8_t)(pk->msb_first == lift);  /* rows: the way a neighbour's bits move */
    if (!pk->vertical && rest) last = (uint8_t)(pk->msb_first ? 0xFFu << (8u - rest) : (1u << rest) - 1u);
    if (pk->vertical && !(pk->height & 7u)) {
        pen_pages(b + pk->column_offset, pk->stride, lines, cols, lift);
        return;
    }
    for (line = lift ? 0 : lines - 1; line >= 0 && line < lines; line += d) {
        pen_line here = pen_at(pk, b, line, lines), there = pen_at(pk, b, (int16_t)(line + d), lines);
        for (col = lift ? 0 : cols - 1; col >= 0 && col < cols; col += d) {
            uint8_t h[2], v;
            for (k = 0; k < 2; k++) {  /* this line and the next one over, each with its neighbour along */
                pen_line l = k ? there : here;
                uint8_t a = pen_byte(l, col, cols, last, edge), n = pen_byte(l, (int16_t)(col + d), cols, last, edge);
                if (!pk->vertical) n = toward_msb ? (uint8_t)((a << 1) | (n >> 7)) : (uint8_t)((a >> 1) | (n << 7));
                h[k] = lift ? (uint8_t)(a & n) : (uint8_t)(a | n);
            }
            if (pk->vertical)  /* pages: the pixel above (drawing) or below (lifting) is one bit over */
                h[1] = lift ? (uint8_t)((h[0] >> 1) | (h[1] << 7)) : (uint8_t)((h[0] << 1) | (h[1] >> 7));
            v = lift ? (uint8_t)(h[0] & h[1]) : (uint8_t)(h[0] | h[1]);
            here.at[col] = (uint8_t)(v & (col == cols - 1 ? here.valid & last : here.valid));
        }
    }
}

static int decode_stored(const es_pack *pack, uint16_t index, uint8_t *buf);
static uint16_t seq_field(const es_pack *pack, uint16_t seq, uint8_t field);

/* The pen passes and the context codec walk the frame by width, height, stride and column offset:
 * they must describe exactly frame_bytes. */
static int geometry_ok(const es_pack *k)
{
    uint16_t lines = k->vertical ? (uint16_t)((k->height + 7u) >> 3) : k->height;
    if (!k->width || !k->height || k->width > ES_MAX_SIDE || k->height > ES_MAX_SIDE || !k->stride || k->pen > 2)
        return 0;
    if (k->vertical ? (uint32_t)k->column_offset + k->width > k->stride : k->stride != (k->width + 7u) >> 3)
        return 0;
    return (uint32_t)k->stride * lines == k->frame_bytes;
}

/* n sequence numbers from `lowest` up, then ES_END. */
static int table_ok(const int16_t *t, uint16_t n, int16_t lowest, uint16_t sequences)
{
    uint16_t i;
    for (i = 0; i < n; i++) {
        int16_t s = (int16_t)ES_READ16((const uint16_t *)&t[i]);
        if (s < lowest || s >= (int32_t)sequences) return 0;  /* ES_END included */
    }
    return (int16_t)ES_READ16((const uint16_t *)&t[n]) == ES_END;
}

/* A count in the descriptor may itself be damaged, so each table is walked only as far as its own
 * contents allow: the offsets until the one at data_bytes, the sequences until they cover the frames
 * (they tile them in order), idle and transitions until their ES_END. */
int es_pack_check(const es_pack *pack)
{
    uint16_t i, n = pack->emotion_count, frames = 0, count = pack->frame_count;
    uint32_t at = 0, o;
    if (!geometry_ok(pack)) return ES_ERR_GEOMETRY;
    for (i = 0;; i++) {
        o = ES_READ32(&pack->offsets[i]);
        if (i == count) break;
        if (o < at || o >= pack->data_bytes) return ES_ERR_OFFSETS;  /* every frame has at least one byte */
        at = o;
#ifdef ES_WITH_CTX
        if (ES_READ8(&pack->codecs[i]) > (pack->model ? ES_CODEC_CTX : ES_CODEC_DELTA)) return ES_ERR_CODEC;
#else
        if (ES_READ8(&pack->codecs[i]) > ES_CODEC_DELTA) return ES_ERR_CODEC;
#endif
    }
    if (o != pack->data_bytes) return ES_ERR_OFFSETS;
    for (i = 0; i < pack->sequence_count && frames < count; i++) {
        uint16_t c = seq_field(pack, i, 1);
        if (seq_field(pack, i, 0) != frames || !c || c > count - frames || !seq_field(pack, i, 2)) return ES_ERR_SEQUENCES;
        frames = (uint16_t)(frames + c);
    }
    if (!i || i != pack->sequence_count || frames != count) return ES_ERR_SEQUENCES;
    if (!table_ok(pack->idle, n, 0, i) || !table_ok(pack->transitions, (uint16_t)(n * n), -1, i)) return ES_ERR_EMOTIONS;
    return ES_OK;
}

int es_decode_frame(const es_pack *pack, uint16_t index, uint8_t *buf)
{
    uint8_t codec;
    if (pack->pen != 2) return decode_stored(pack, index, buf);
    if (index >= pack->frame_count) return 0;
    codec = ES_READ8(&pack->codecs[index]);
    if (codec == ES_CODEC_DELTA || codec == ES_CODEC_CTX) pen_pass(pack, buf, 1);
    if (!decode_stored(pack, index, buf)) return 0;
    pen_pass(pack, buf, 0);
    return 1;
}

/* Frame `index` as the pack stores it. */
static int decode_stored(const es_pack *pack, uint16_t index, uint8_t *buf)
{
    uint32_t pos, end, out = 0;
    uint8_t codec;
    const uint8_t *data = pack->data;
    if (index >= pack->frame_count) return 0;
    pos = ES_READ32(&pack->offsets[index]);
    end = ES_READ32(&pack->offsets[index + 1u]);
    codec = ES_READ8(&pack->codecs[index]);
    if (end < pos || end > pack->data_bytes) return 0;
    if (codec == ES_CODEC_RAW) {
        if (end - pos != pack->frame_bytes) return 0;
        for (out = 0; out < pack->frame_bytes; out++) buf[out] = ES_READ8(&data[pos + out]);
        return 1;
    }
#ifdef ES_WITH_CTX
    if (codec == ES_CODEC_CTX_KEY || codec == ES_CODEC_CTX) return decode_ctx(pack, pos, end, buf, codec == ES_CODEC_CTX_KEY);
#endif
    if (codec != ES_CODEC_RLE && codec != ES_CODEC_DELTA) return 0;
    while (pos < end) {
        uint8_t c = ES_READ8(&data[pos++]);
        uint16_t n;
        if (c < 128u) {
            n = (uint16_t)(c + 1u);
            if (out + n > pack->frame_bytes || pos + n > end) return 0;
            if (codec == ES_CODEC_DELTA) {
                while (n--) buf[out++] ^= ES_READ8(&data[pos++]);
            } else {
                while (n--) buf[out++] = ES_READ8(&data[pos++]);
            }
        } else {
            uint8_t v;
            n = (uint16_t)(c - 125u);
            if (out + n > pack->frame_bytes || pos >= end) return 0;
            v = ES_READ8(&data[pos++]);
            if (codec == ES_CODEC_DELTA) {
                if (v) while (n--) buf[out++] ^= v;
                else out += n;
            } else {
                while (n--) buf[out++] = v;
            }
        }
    }
    return out == pack->frame_bytes;
}

static uint16_t seq_field(const es_pack *pack, uint16_t seq, uint8_t field)
{
    return ES_READ16(&pack->sequences[3u * seq + field]);
}

/* An idle loop is left where it shows its emotion's own pose, from which every transition starts, so
 * the face goes on without a jump: after the loop's first frame, or after its middle one when it has an
 * even number of frames (a breath out and back in, as `emosketch pack` draws them). Returns how many
 * frames the loop shows before that, 0 when it may be left now (pos is the next frame to show). */
static uint16_t join_wait(uint16_t pos, uint16_t count)
{
    uint16_t half = count >> 1;
    if (pos <= 1u) return 0;
    if (!(count & 1u) && pos <= half + 1u) return (uint16_t)(half + 1u - pos);
    return (uint16_t)(count + 1u - pos); /* count + 1 - pos < 65536: pos >= 2 */
}

static void begin(es_player *p, uint8_t x);

/* The request waiting for a transition's end or a loop's pose, begun now. */
static void take_pending(es_player *p)
{
    uint8_t x = (uint8_t)p->pending;
    p->pending = -1;
    begin(p, x);
}

static void begin(es_player *p, uint8_t x)
{
    const es_pack *pack = p->pack;
    int16_t t = (int16_t)ES_READ16((const uint16_t *)&pack->transitions[(uint16_t)p->emotion * pack->emotion_count + x]);
    p->pos = 0;
    if (t >= 0) {
        p->seq = (uint16_t)t;
        p->target = x;
        p->in_transition = 1;
    } else {
        p->emotion = p->target = x;
        p->seq = (uint16_t)ES_READ16((const uint16_t *)&pack->idle[x]);
        p->in_transition = 0;
    }
}

int es_player_init(es_player *p, const es_pack *pack, uint8_t *buf, uint8_t emotion)
{
    p->pack = pack;
    p->buf = buf;
    p->error = (uint8_t)es_pack_check(pack);
    if (emotion >= pack->emotion_count) emotion = 0;
    p->emotion = p->target = emotion;
    p->pending = -1;
    p->in_transition = 0;
    p->seq = pack->emotion_count && !p->error ? (uint16_t)ES_READ16((const uint16_t *)&pack->idle[emotion]) : 0;
    p->pos = 0;
    p->frame = 0;
    p->started = 0;
    p->due_ms = 0;
    return p->error;
}

void es_player_request(es_player *p, uint8_t emotion)
{
    if (p->error || emotion >= p->pack->emotion_count) return;
    /* Played by es_player_next: after a transition, or where an idle loop shows its pose */
    p->pending = (emotion == (p->in_transition ? p->target : p->emotion)) ? -1 : (int16_t)emotion;
}

uint16_t es_player_next(es_player *p)
{
    const es_pack *pack = p->pack;
    if (p->error) return 0;
    if (!p->in_transition && p->pending >= 0) {
        /* Wait for the loop's pose only as long as ES_JOIN_MS (wait * ms <= ES_JOIN_MS; a sequence's ms is never
         * 0, es_pack_check refuses it); a longer wait starts now. */
        uint16_t wait = join_wait(p->pos, seq_field(pack, p->seq, 1));
        if (!wait || wait > ES_JOIN_MS / seq_field(pack, p->seq, 2)) take_pending(p);
    }
    if (p->pos >= seq_field(pack, p->seq, 1)) {
        if (p->in_transition) {
            p->in_transition = 0;
            p->emotion = p->target;
            if (p->pending >= 0) {  /* never the target: es_player_request drops a request for it */
                take_pending(p);
            } else {
                p->seq = (uint16_t)ES_READ16((const uint16_t *)&pack->idle[p->emotion]);
                p->pos = 0;
            }
        } else {
            p->pos = 0;
        }
    }
    p->frame = (uint16_t)(seq_field(pack, p->seq, 0) + p->pos);
    p->pos++;
    if (!es_decode_frame(pack, p->frame, p->buf)) {
        /* The rest of the sequence builds on this frame: go on from the next sequence's first frame. A damaged
         * loop may never show its pose again: a request waiting for it begins now. */
        p->pos = seq_field(pack, p->seq, 1);
        if (!p->in_transition && p->pending >= 0) take_pending(p);
        return 0;
    }
    return seq_field(pack, p->seq, 2);
}

int es_player_update(es_player *p, uint32_t now_ms)
{
    uint16_t ms;
    if (p->started && (int32_t)(p->due_ms - now_ms) > 0) return 0;
    ms = es_player_next(p);
    if (!p->started || (int32_t)(now_ms - (p->due_ms + ms)) > 0) {
        p->due_ms = now_ms + ms;  /* first frame, or fell behind: do not try to catch up */
    } else {
        p->due_ms += ms;
    }
    p->started = 1;
    return ms != 0;
}

uint8_t es_player_emotion(const es_player *p)
{
    return p->pending >= 0 ? (uint8_t)p->pending : p->in_transition ? p->target : p->emotion;
}

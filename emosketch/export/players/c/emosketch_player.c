/* emosketch pack player: see emosketch_player.h. */
#include "emosketch_player.h"

int es_decode_frame(const es_pack *pack, uint16_t index, uint8_t *buf)
{
    uint32_t pos, end, out = 0;
    uint8_t codec;
    const uint8_t *data = pack->data;
    if (index >= pack->frame_count) return 0;
    pos = ES_READ32(&pack->offsets[index]);
    end = ES_READ32(&pack->offsets[index + 1u]);
    codec = ES_READ8(&pack->codecs[index]);
    if (codec == ES_CODEC_RAW) {
        if (end - pos != pack->frame_bytes) return 0;
        for (out = 0; out < pack->frame_bytes; out++) buf[out] = ES_READ8(&data[pos + out]);
        return 1;
    }
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

void es_player_init(es_player *p, const es_pack *pack, uint8_t *buf, uint8_t emotion)
{
    p->pack = pack;
    p->buf = buf;
    if (emotion >= pack->emotion_count) emotion = 0;
    p->emotion = p->target = emotion;
    p->pending = -1;
    p->in_transition = 0;
    p->seq = pack->emotion_count ? (uint16_t)ES_READ16((const uint16_t *)&pack->idle[emotion]) : 0;
    p->pos = 0;
    p->frame = 0;
    p->started = 0;
    p->due_ms = 0;
}

void es_player_request(es_player *p, uint8_t emotion)
{
    if (emotion >= p->pack->emotion_count) return;
    if (p->in_transition) {
        p->pending = (emotion == p->target) ? -1 : (int16_t)emotion;
    } else if (emotion != p->emotion) {
        begin(p, emotion);
    }
}

uint16_t es_player_next(es_player *p)
{
    const es_pack *pack = p->pack;
    if (p->pos >= seq_field(pack, p->seq, 1)) {
        if (p->in_transition) {
            int16_t x = p->pending;
            p->in_transition = 0;
            p->emotion = p->target;
            p->pending = -1;
            if (x >= 0 && (uint8_t)x != p->emotion) {
                begin(p, (uint8_t)x);
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
    if (!es_decode_frame(pack, p->frame, p->buf)) return 0;
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
    return p->in_transition ? p->target : p->emotion;
}

/* emosketch TFT player core: draws span-coded RGB565 frames (an emosketch TFT pack's <name>_tft.h)
 * through one callback, so any display library can show them without a frame buffer.
 *
 * The span codec (see emosketch/export/tft.py): per frame, control bytes c with kind c >> 6
 * (0 skip, 1 literal, 2 run) and a pixel count (c & 63) + 1, or a little-endian uint16 count
 * after c when c & 63 == 63; a literal is followed by its little-endian RGB565 words, a run by
 * one word. Spans walk the frame's pixels in row-major order, against the frame drawn before.
 * A sequence's first frame is coded against a screen of paper: drawn with key = 1, its skips are
 * painted paper, so a sequence can start on any screen.
 *
 * C99, no allocation. Meant for 32-bit boards (ESP32, RP2040, SAMD, STM32), where the pack's
 * const arrays are read straight from flash: a 240x240 pack does not fit an AVR.
 */
#ifndef EMOSKETCH_TFT_H
#define EMOSKETCH_TFT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ES_TFT_PROGMEM
#define ES_TFT_PROGMEM
#endif
#if defined(__GNUC__)
#define ES_TFT_UNUSED __attribute__((unused))
#else
#define ES_TFT_UNUSED
#endif

typedef struct {
    uint16_t width, height;
    uint16_t paper;          /* RGB565 of the paper colour */
    uint16_t frame_count, sequence_count;
    uint8_t emotion_count;   /* 0 when the pack has no idle_<emotion> sequences */
    const uint8_t *data;     /* span-coded frames, back to back */
    const uint32_t *offsets; /* frame_count + 1 byte offsets into data */
    const uint16_t *sequences; /* sequence_count x {first frame, frame count, ms per frame} */
    const int16_t *idle;     /* emotion_count idle sequences, then ES_TFT_END */
    const int16_t *transitions; /* emotion_count x emotion_count sequences (-1 = cut straight), then ES_TFT_END */
    uint32_t data_bytes;     /* length of data: no offset may pass it */
} es_tft_pack;

/* What es_tft_pack_check and es_tft_player_init return (the OLED player's ES_* codes, renamed). */
enum {
    ES_TFT_OK = 0,
    ES_TFT_ERR_GEOMETRY = 1,  /* width or height is 0 */
    ES_TFT_ERR_OFFSETS = 2,   /* frame offsets go backwards, the last frame is empty, or the offsets do not end at data_bytes */
    ES_TFT_ERR_SEQUENCES = 4, /* the sequences do not tile the frames in order, or one is empty or lasts 0 ms */
    ES_TFT_ERR_EMOTIONS = 5   /* an idle or transition entry names no sequence, or a table's ES_TFT_END
                                 is not where emotion_count puts it */
};
#define ES_TFT_END (-32768) /* ends the idle and transitions tables */

/* ES_TFT_OK when the descriptor is consistent (see the ES_TFT_ERR_* codes). It reads each table once,
 * never past its end, a damaged count included; a pack exported before data_bytes and ES_TFT_END
 * existed is refused: export it again. */
int es_tft_pack_check(const es_tft_pack *pack);

/* Draw n pixels on row y from column x. words != NULL: n little-endian RGB565 words (a literal);
 * words == NULL: n pixels of colour (a run, or paper). A span never crosses a row. */
typedef void (*es_tft_span_fn)(void *ctx, uint16_t x, uint16_t y, uint16_t n, const uint8_t *words,
                               uint16_t colour);

/* Draw frame `frame`; key != 0 paints its skipped pixels paper (a sequence's first frame, or any
 * frame drawn on a screen that does not hold the frame before it). Returns 0 on a damaged frame
 * (nothing past the damage is drawn; offsets out of order or past data_bytes draw nothing), 1
 * otherwise. */
int es_tft_draw_frame(const es_tft_pack *pack, uint16_t frame, int key, es_tft_span_fn span, void *ctx);

/* The emotion state machine of the OLED player (emosketch_player.h): the current emotion's idle
 * loop plays; a request plays the transition to the new emotion (or cuts to its loop when the
 * pack has none), then its loop. A request during a transition waits for it to end; the latest
 * request wins. A request during an idle loop waits for the loop's pose (its first frame, or its
 * middle one when it has an even number), where the transition starts, if that comes within
 * ES_TFT_JOIN_MS. A pack without idle loops plays its sequences in turn. */
#ifndef ES_TFT_JOIN_MS
#define ES_TFT_JOIN_MS 500u
#endif
typedef struct {
    const es_tft_pack *pack;
    uint16_t seq, pos;
    int16_t pending;
    uint8_t emotion, target, in_transition, started;
    uint8_t error;  /* es_tft_player_init's verdict: anything but ES_TFT_OK and nothing is drawn */
    uint32_t due;
} es_tft_player;

/* Returns es_tft_pack_check's verdict; on anything but ES_TFT_OK the player stays stopped:
 * es_tft_player_update draws nothing and returns 0. */
int es_tft_player_init(es_tft_player *p, const es_tft_pack *pack, uint8_t emotion);
void es_tft_player_request(es_tft_player *p, uint8_t emotion);
/* Draws the next frame if it is due at now_ms: returns 1 if a frame was drawn. A damaged frame returns 0, and
 * the next call goes on at once from the next sequence, whose first frame repaints the screen. */
int es_tft_player_update(es_tft_player *p, uint32_t now_ms, es_tft_span_fn span, void *ctx);
/* The emotion being shown or being moved to: the last one requested, once it is under way or waiting to be. */
uint8_t es_tft_player_emotion(const es_tft_player *p);

#ifdef __cplusplus
}
#endif

#endif

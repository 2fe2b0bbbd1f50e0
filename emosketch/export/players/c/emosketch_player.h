/* emosketch pack player: plain C99, no allocation.
 *
 * Decodes raw, RLE, XOR-delta+RLE and context-coded frames of an emosketch pack into one frame buffer
 * (W*H/8 bytes, 1024 for 128x64), and runs the emotion state machine: the current emotion's
 * idle loop plays; es_player_request(e) plays the transition from the current emotion to e,
 * then e's idle loop. A request during a transition waits for it to end (the latest one wins). A
 * request during an idle loop waits for the loop to show its pose (its first frame, or its middle one
 * when it has an even number of frames), where the transition starts, if that comes within
 * ES_JOIN_MS; so the face moves on without a jump, at most half a default loop (0.5 s) later.
 *
 *   #include "emosketch_player.h"
 *   #include "pack.h"                        // written by `emosketch pack` (or export): pack_pack
 *   static uint8_t frame[PACK_FRAME_BYTES];
 *   es_player player;
 *   if (es_player_init(&player, &pack_pack, frame, PACK_EMOTION_NEUTRAL) != ES_OK) halt();
 *   es_player_request(&player, PACK_EMOTION_HAPPY);
 *   for (;;) if (es_player_update(&player, millis())) show(frame);
 *
 * On AVR the pack's tables live in flash (PROGMEM) and are read with pgm_read_*.
 *
 * A damaged pack (a corrupted flash, a hand-edited header) is refused, never played past its
 * bounds: es_player_init checks the descriptor (es_pack_check) and returns an ES_ERR_* code, and a
 * refused player shows nothing; es_decode_frame checks each frame's offsets and data as it decodes
 * it. Within a pack that passes the check, no frame data, however corrupt, makes the player read
 * or write outside the pack's tables and the frame buffer; a frame found corrupt is not shown, nor
 * the rest of its sequence, which builds on it.
 */
#ifndef EMOSKETCH_PLAYER_H
#define EMOSKETCH_PLAYER_H

#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define ES_PROGMEM PROGMEM
#define ES_READ8(p) pgm_read_byte(p)
#define ES_READ16(p) pgm_read_word(p)
#define ES_READ32(p) pgm_read_dword(p)
#else
#define ES_PROGMEM
#define ES_READ8(p) (*(p))
#define ES_READ16(p) (*(p))
#define ES_READ32(p) (*(p))
#endif

/* The context codec (the panel packs' default; --codec ctx) costs about 2.5 KB of flash on an AVR
 * and about 40 ms a full-screen 128x64 frame in a page format. To leave it out for packs made with
 * the byte codecs (--codec auto), define ES_WITHOUT_CTX here. */
#if !defined(ES_WITHOUT_CTX) && !defined(ES_WITH_CTX)
#define ES_WITH_CTX 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum { ES_CODEC_RAW = 0, ES_CODEC_RLE = 1, ES_CODEC_DELTA = 2, ES_CODEC_CTX_KEY = 3, ES_CODEC_CTX = 4 };

/* What es_pack_check and es_player_init return. */
enum {
    ES_OK = 0,
    ES_ERR_GEOMETRY = 1,  /* width, height, stride, column offset or pen do not fit frame_bytes */
    ES_ERR_OFFSETS = 2,   /* frame offsets go backwards, the last frame is empty, or the offsets do not end at data_bytes */
    ES_ERR_CODEC = 3,     /* an unknown codec id, or a context-coded frame without a model (or the
                             codec left out with ES_WITHOUT_CTX) */
    ES_ERR_SEQUENCES = 4, /* the sequences do not tile the frames in order, or one is empty or lasts 0 ms */
    ES_ERR_EMOTIONS = 5   /* an idle or transition entry names no sequence, or a table's ES_END is
                             not where emotion_count puts it */
};
/* Ends the idle and transitions tables, so that a damaged emotion_count is seen before either is read
 * past its end. */
#define ES_END (-32768)
/* Neither side of a display may exceed this (the decoders count rows in 16-bit signed ints). */
#define ES_MAX_SIDE 8192u

/* A pack's tables; the generated header defines one (NAME_pack). Pointers may point to PROGMEM. */
typedef struct {
    uint16_t frame_bytes;       /* bytes of one decoded frame */
    uint16_t frame_count;
    uint16_t sequence_count;
    uint8_t emotion_count;      /* 0 when the pack has no idle_<emotion> sequences */
    const uint8_t *data;        /* all frames, back to back */
    const uint32_t *offsets;    /* frame_count + 1 byte offsets into data */
    const uint8_t *codecs;      /* frame_count codec ids */
    const uint16_t *sequences;  /* sequence_count x (first frame, frame count, ms per frame) */
    const int16_t *idle;        /* emotion_count idle sequences, then ES_END */
    const int16_t *transitions; /* emotion_count x emotion_count sequences (-1 = cut straight), then ES_END */
    const uint8_t *model;       /* the context codec's model (export/ctx.py), 0 when no frame uses it */
    uint16_t stride;            /* bytes per page (vertical) or per row: the context codec's bit grid */
    uint8_t vertical;           /* 1: pages of vertical bytes; 0: rows */
    uint8_t pen;                /* 2: frames are stored as skeletons and drawn with a 2x2 pen; 0 or 1: as stored */
    uint8_t msb_first;          /* rows: 1 when bit 7 of a byte is its leftmost pixel */
    uint16_t width, height;     /* the display's pixels */
    uint16_t column_offset;     /* pages: the RAM column of the display's first column */
    uint32_t data_bytes;        /* length of data: no offset may pass it */
} es_pack;

/* How long a request during an idle loop may wait for the loop's pose (es_player_request). */
#ifndef ES_JOIN_MS
#define ES_JOIN_MS 500u
#endif

typedef struct {
    const es_pack *pack;
    uint8_t *buf;           /* the caller's frame buffer, pack->frame_bytes long */
    uint16_t seq;           /* sequence playing */
    uint16_t pos;           /* next frame within it */
    uint16_t frame;         /* frame now in buf */
    int16_t pending;        /* emotion requested, waiting for a transition's end or a loop's pose; -1 none */
    uint8_t emotion;        /* emotion of the idle loop (the source, during a transition) */
    uint8_t target;         /* where the transition goes */
    uint8_t in_transition;
    uint8_t started;        /* a frame has been shown; due_ms is valid */
    uint8_t error;          /* es_player_init's verdict: anything but ES_OK and the player shows nothing */
    uint32_t due_ms;        /* when the next frame is due */
} es_player;

/* ES_OK when the pack's descriptor is consistent: the geometry fits frame_bytes, offsets rise and
 * end at data_bytes, every codec is known, the sequences tile the frames, and every idle and
 * transition entry names a sequence. It reads each table once, never past its end (a damaged count
 * included); a pack exported before data_bytes and ES_END existed is refused: export it again. */
int es_pack_check(const es_pack *pack);

/* Decode frame `index` into buf. A delta frame is XORed into buf, which must hold the frame
 * before it in the same sequence. Returns 1, or 0 for a bad index or corrupt data (then buf holds
 * no sound frame): a context-coded frame cut short or damaged is refused too, since its range
 * coder does not end on its last byte. In a pack with
 * pen 2 (2 px lines, stored as their 1 px skeletons) buf holds the frame drawn with the pen, as it
 * is shown: each frame costs two passes over its pixels besides its decoding. The pack must be one
 * es_pack_check accepts (es_player_init checks it). */
int es_decode_frame(const es_pack *pack, uint16_t index, uint8_t *buf);

/* Returns es_pack_check's verdict; on anything but ES_OK the player stays stopped: es_player_next
 * and es_player_update return 0 and buf is never touched. */
int es_player_init(es_player *p, const es_pack *pack, uint8_t *buf, uint8_t emotion);
void es_player_request(es_player *p, uint8_t emotion);
/* Decode the next frame into buf; returns how long to show it in ms, or 0 (do not show buf) for a
 * corrupt frame. The rest of its sequence builds on it, so the next call goes on from the first
 * frame (a key frame) of the sequence that would follow this one. */
uint16_t es_player_next(es_player *p);
/* Call often with the time in ms: returns 1 when a new frame was decoded into buf (show it). */
int es_player_update(es_player *p, uint32_t now_ms);
/* The emotion being shown or being moved to: the last one requested, once it is under way or waiting to be. */
uint8_t es_player_emotion(const es_player *p);

#ifdef __cplusplus
}
#endif

#endif /* EMOSKETCH_PLAYER_H */

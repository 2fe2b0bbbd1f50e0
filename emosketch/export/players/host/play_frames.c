/* emosketch: play a pack on your computer with the C player, as a board runs it, and write every frame it
 * shows as a PBM picture (lit pixels white, as on the panel). A check of a pack, and of your C build, before
 * anything is flashed.
 *
 *   gcc -std=c99 -O2 -I me-pack emosketch/export/players/host/play_frames.c me-pack/emosketch_player.c \
 *       -o play_frames
 *   ./play_frames frames happy sad      # the first emotion's idle loop, then to happy, then to sad
 *
 * Each argument after the folder is an emotion, by name or number (pack.h's PACK_EMOTION_* order),
 * requested when the one before has played its transition and one idle loop; with none, every emotion
 * in turn. The folder must exist; it gets frame-00000.pbm, frame-00001.pbm, ... and the list of what
 * played on standard output (one line a frame: its number, sequence and milliseconds). It includes pack.h and
 * its pack_* names, what `pack` writes unless given --name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emosketch_player.h"
#define PACK_WITH_NAMES /* pack_sequence_names: what played, by name */
#include "pack.h"

static uint8_t frame[PACK_FRAME_BYTES];

/* Whether pixel (x, y) is lit in the frame buffer, for any of the pack's pixel formats. */
static int lit(const es_pack *pack, unsigned x, unsigned y)
{
    unsigned byte, bit;
    if (pack->vertical) {
        byte = (y >> 3) * pack->stride + pack->column_offset + x;
        bit = y & 7u;
    } else {
        byte = y * pack->stride + (x >> 3);
        bit = pack->msb_first ? 7u - (x & 7u) : (x & 7u);
    }
    return (frame[byte] >> bit) & 1u;
}

static int write_pbm(const char *folder, unsigned index)
{
    char path[4096];
    FILE *f;
    unsigned x, y, row_bytes = (PACK_WIDTH + 7u) / 8u;
    if (snprintf(path, sizeof path, "%s/frame-%05u.pbm", folder, index) >= (int)sizeof path) return 0;
    f = fopen(path, "wb");
    if (!f) return 0;
    fprintf(f, "P4\n%u %u\n", (unsigned)PACK_WIDTH, (unsigned)PACK_HEIGHT);
    for (y = 0; y < PACK_HEIGHT; y++) {
        for (x = 0; x < row_bytes; x++) {
            unsigned char out = 0;
            unsigned k;
            for (k = 0; k < 8u && x * 8u + k < PACK_WIDTH; k++) {
                if (!lit(&pack_pack, x * 8u + k, y)) out |= (unsigned char)(0x80u >> k);  /* PBM: 1 is black */
            }
            fputc(out, f);
        }
    }
    return fclose(f) == 0;
}

/* An emotion by name (as in pack_emotion_names, "neutral,happy,...") or number; -1 if the pack has none. */
static int emotion_of(const char *arg)
{
    const char *names = pack_emotion_names;
    size_t n = strlen(arg);
    int index = 0;
    char *end;
    long number = strtol(arg, &end, 10);
    if (*arg && !*end) return (number >= 0 && number < (long)PACK_EMOTION_COUNT) ? (int)number : -1;
    while (*names) {
        const char *comma = strchr(names, ',');
        size_t len = comma ? (size_t)(comma - names) : strlen(names);
        if (len == n && strncmp(names, arg, n) == 0) return index;
        if (!comma) break;
        names = comma + 1;
        index++;
    }
    return -1;
}

/* Play until the player shows `emotion`'s idle loop and has played it once through. */
static int play_to(es_player *p, int emotion, const char *folder, unsigned *count)
{
    uint16_t idle = (uint16_t)pack_pack.idle[emotion];
    unsigned guard = 0;
    if (emotion != es_player_emotion(p)) es_player_request(p, (uint8_t)emotion);
    do {
        uint16_t ms = es_player_next(p);
        if (!ms) {
            fprintf(stderr, "frame %u is damaged: export the pack again\n", (unsigned)p->frame);
            return 0;
        }
        if (!write_pbm(folder, *count)) {
            fprintf(stderr, "cannot write %s/frame-%05u.pbm\n", folder, *count);
            return 0;
        }
        printf("%u %s %u\n", *count, pack_sequence_names[p->seq], (unsigned)ms);
        (*count)++;
        if (++guard > PACK_FRAME_COUNT * 2u) {
            fprintf(stderr, "the player never reached emotion %d\n", emotion);
            return 0;
        }
    } while (p->in_transition || p->seq != idle || p->pos < pack_pack.sequences[idle * 3u + 1u]);
    return 1;
}

int main(int argc, char **argv)
{
    es_player player;
    unsigned count = 0;
    int i, status;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FOLDER [EMOTION ...]   (emotions: %s)\n", argv[0], pack_emotion_names);
        return 2;
    }
    if (PACK_EMOTION_COUNT == 0) {
        fprintf(stderr, "the pack has no emotions (no idle_<emotion> sequences)\n");
        return 2;
    }
    status = es_player_init(&player, &pack_pack, frame, 0);
    if (status != ES_OK) {
        fprintf(stderr, "the pack is damaged or from an older emosketch (es_pack_check: %d): export it again\n", status);
        return 1;
    }
    for (i = 2; i < argc; i++) {  /* every name checked before any frame is written */
        if (emotion_of(argv[i]) < 0) {
            fprintf(stderr, "%s: not an emotion of this pack (%s)\n", argv[i], pack_emotion_names);
            return 2;
        }
    }
    if (!play_to(&player, 0, argv[1], &count)) return 1;
    for (i = 2; i < argc; i++) {
        if (!play_to(&player, emotion_of(argv[i]), argv[1], &count)) return 1;
    }
    for (i = 1; argc == 2 && i < (int)PACK_EMOTION_COUNT; i++) {
        if (!play_to(&player, i, argv[1], &count)) return 1;
    }
    return 0;
}

/* The C player over damaged packs: a libFuzzer target, and (with -DES_SWEEP) a program that flips
 * each bit of a pack in turn. Tests build it (tests/test_player_damage.py); `make fuzz` runs it longer.
 *
 * An input is a pack as the MicroPython player reads it: a little-endian uint32 n, then n bytes of
 * index.bin (emosketch/export/index.py has its layout), then frames.bin. Every table is copied into
 * a heap block of exactly its length, the frame buffer is exactly frame_bytes long, and the data is
 * exactly frames.bin: under AddressSanitizer a read or write one byte outside any of them stops
 * the run. A pack the player accepts is decoded frame by frame, then played with requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emosketch_player.h"

#define MODEL_BYTES 2056u
#define HEADER_BYTES 22u

typedef struct {
    const uint8_t *p;
    size_t at, end;
} reader;

/* n bytes of the input, copied to a block of their own (n may be 0); 0 when the input ends first. */
static void *take(reader *r, size_t n, int *ok)
{
    void *out;
    if (!*ok || n > r->end - r->at) {
        *ok = 0;
        return 0;
    }
    out = malloc(n ? n : 1u);
    if (n) memcpy(out, r->p + r->at, n);
    r->at += n;
    return out;
}

/* n int16 entries of index.bin, and the ES_END that a generated header puts after them. */
static int16_t *with_end(void *entries, size_t n, int *ok)
{
    int16_t *out;
    if (!*ok) return entries;
    out = malloc(2u * (n + 1u));
    memcpy(out, entries, 2u * n);
    out[n] = ES_END;
    free(entries);
    return out;
}

static uint16_t u16(const uint8_t *b) { return (uint16_t)(b[0] | b[1] << 8); }

/* es_player_init's verdict on the input (-1: not a pack at all); *frames counts decoded frames. */
static int play(const uint8_t *in, size_t size, unsigned *frames)
{
    reader r;
    es_pack k;
    es_player p;
    uint8_t *h, *names = 0, *buf = 0;
    uint16_t nf, ns, i;
    uint8_t ne, flags, fmt;
    size_t n;
    int ok = 1, err = -1, step;
    void *blocks[9] = {0};
    if (size < 4) return -1;
    n = (size_t)in[0] | (size_t)in[1] << 8 | (size_t)in[2] << 16 | (size_t)in[3] << 24;
    if (n > size - 4) return -1;
    r.p = in + 4;
    r.at = 0;
    r.end = n;
    memset(&k, 0, sizeof k);
    h = blocks[0] = take(&r, HEADER_BYTES, &ok);
    if (!ok) goto done;
    fmt = h[5];
    k.width = u16(h + 6);
    k.height = u16(h + 8);
    k.stride = fmt == 0 ? u16(h + 10) : (uint16_t)((k.width + 7u) >> 3);  /* rows: index.bin keeps the width */
    k.column_offset = u16(h + 12);
    k.frame_bytes = u16(h + 14);
    k.frame_count = nf = u16(h + 16);
    k.sequence_count = ns = u16(h + 18);
    k.emotion_count = ne = h[20];
    flags = h[21];
    k.vertical = fmt == 0;
    k.msb_first = fmt == 1;
    k.pen = (flags & 2u) ? 2u : 1u;
    k.offsets = blocks[1] = take(&r, 4u * ((size_t)nf + 1u), &ok);
    k.codecs = blocks[2] = take(&r, nf, &ok);
    k.sequences = blocks[3] = take(&r, 6u * ns, &ok);
    for (i = 0; ok && i < ns + ne; i++) {  /* names: a length byte, then the name */
        free(names);
        names = take(&r, 1, &ok);
        if (ok) {
            uint8_t len = names[0];
            free(names);
            names = take(&r, len, &ok);
        }
    }
    k.idle = blocks[4] = with_end(take(&r, 2u * ne, &ok), ne, &ok);
    k.transitions = blocks[5] = with_end(take(&r, 2u * ne * ne, &ok), (size_t)ne * ne, &ok);
    if (flags & 1u) k.model = blocks[6] = take(&r, MODEL_BYTES, &ok);
    if (!ok) goto done;
    k.data_bytes = (uint32_t)(size - 4 - n);
    k.data = blocks[7] = malloc(k.data_bytes ? k.data_bytes : 1u);
    memcpy(blocks[7], in + 4 + n, k.data_bytes);
    buf = blocks[8] = malloc(k.frame_bytes ? k.frame_bytes : 1u);
    memset(buf, 0, k.frame_bytes);
    err = es_player_init(&p, &k, buf, 0);
    if (err != ES_OK) {
        /* a refused player stays stopped */
        if (es_player_next(&p) || es_player_update(&p, 0)) abort();
        goto done;
    }
    for (i = 0; i < nf; i++) *frames += (unsigned)es_decode_frame(&k, i, buf);
    if (es_decode_frame(&k, nf, buf)) abort();  /* past the last frame */
    for (step = 0; step < 24; step++) {
        if (ne && step % 5 == 0) es_player_request(&p, (uint8_t)((step / 5) % (ne + 1)));  /* and one too many */
        *frames += es_player_next(&p) != 0;
    }
done:
    free(names);
    for (i = 0; i < 9; i++) free(blocks[i]);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned frames = 0;
    play(data, size, &frames);
    return 0;
}

#ifdef ES_SWEEP
/* es_pack_sweep PACK FIRST END: flip each bit of bytes FIRST..END-1 of the input file PACK in turn
 * (offsets counted in the input, so 4 is index.bin's first byte) and play each. Prints
 * "unflipped <verdict> frames <n>", then "refused <n> played <n> unparsed <n>", and per error code
 * "ES_ERR <code> <n>". Any out-of-bounds access stops it under AddressSanitizer. */
int main(int argc, char **argv)
{
    FILE *f;
    uint8_t *in;
    long size;
    size_t first, end, bit;
    unsigned frames = 0, counts[8] = {0}, played = 0, refused = 0, unparsed = 0;
    int err;
    if (argc != 4 || !(f = fopen(argv[1], "rb"))) return 2;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    in = malloc((size_t)size);
    if (fread(in, 1, (size_t)size, f) != (size_t)size) return 2;
    fclose(f);
    first = (size_t)atol(argv[2]);
    end = (size_t)atol(argv[3]);
    if (end > (size_t)size) end = (size_t)size;
    err = play(in, (size_t)size, &frames);
    printf("unflipped %d frames %u\n", err, frames);
    for (bit = first * 8u; bit < end * 8u; bit++) {
        in[bit >> 3] ^= (uint8_t)(1u << (bit & 7u));
        err = play(in, (size_t)size, &frames);
        in[bit >> 3] ^= (uint8_t)(1u << (bit & 7u));
        if (err < 0) unparsed++;
        else if (err == ES_OK) played++;
        else {
            refused++;
            counts[err & 7]++;
        }
    }
    printf("refused %u played %u unparsed %u\n", refused, played, unparsed);
    for (err = 1; err < 8; err++) if (counts[err]) printf("ES_ERR %d %u\n", err, counts[err]);
    free(in);
    return 0;
}
#endif

/* emosketch agent on the device; see emosketch_agent.h. Its arithmetic follows
 * emosketch.interpolate.agent.Agent operation for operation, so that built with double it agrees with it to the
 * last bit, but for the feelings under ES_AGENT_SETTLED that it counts as 0 (tests/test_agent_device.py). */
#include "emosketch_agent.h"

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define ES_AGENT_PROGMEM PROGMEM
#define ES_AGENT_READ8(p) pgm_read_byte(p)
#define ES_AGENT_READ16(p) pgm_read_word(p)
#else
#define ES_AGENT_PROGMEM
#define ES_AGENT_READ8(p) (*(p))
#define ES_AGENT_READ16(p) (*(p))
#endif

#define R(x) ((ES_AGENT_REAL)(x))

/* AgentConfig's half-lives, in ms; the emotion each channel shows by default, then the rest emotion. */
static const uint16_t HALF_LIFE_MS[ES_CHANNELS] ES_AGENT_PROGMEM = {3000u, 4000u, 3000u, 6000u, 8000u, 1000u, 5000u};
static const char SHOWS[] ES_AGENT_PROGMEM = "fear,anger,happy,happy,sad,surprise,contempt,neutral";
#define REST_NAME ES_CHANNELS  /* the rest emotion's place in SHOWS */
/* Where each channel stands among the others by name: Agent.requested sorts (level, name) from the top, so
 * of two channels felt exactly alike the later name wins. */
static const uint8_t NAME_RANK[ES_CHANNELS] ES_AGENT_PROGMEM = {0u, 3u, 1u, 2u, 5u, 6u, 4u};

/* The comma-separated list's character at i, or '\0' past its end (bytes: its size, a NUL counted or not). */
static char at_char(const char *list, uint16_t bytes, uint16_t i)
{
    return i < bytes ? (char)ES_AGENT_READ8((const uint8_t *)&list[i]) : '\0';
}

/* The index among the pack's names of SHOWS's name number `which`, or -1. */
static int find_name(const char *names, uint16_t bytes, uint8_t which)
{
    uint16_t want = 0, i = 0, j;
    int index = 0;
    while (which)  /* want: where SHOWS's name begins */
        if (at_char(SHOWS, sizeof(SHOWS), want++) == ',') which--;
    for (;;) {
        char c, w;
        j = 0;
        do {  /* the name at i against the wanted one, to the first difference or their end */
            c = at_char(names, bytes, (uint16_t)(i + j));
            w = at_char(SHOWS, sizeof(SHOWS), (uint16_t)(want + j));
            j++;
        } while (c == w && c != ',' && c != '\0');
        if ((c == ',' || c == '\0') && (w == ',' || w == '\0')) return index;
        while ((c = at_char(names, bytes, i)) != ',' && c != '\0') i++;  /* on to the next name */
        if (c == '\0') return -1;
        i++;
        index++;
    }
}

#ifdef ES_AGENT_PYTHON
/* The tests' build, with double and libm: Python's arithmetic, step for step (0.5 ** ((ms / 1000) / (h / 1000))) */
#include <math.h>
#define HALVINGS(ms, half_ms) (((ES_AGENT_REAL)(ms) / R(1000.0)) / ((ES_AGENT_REAL)(half_ms) / R(1000.0)))
#define HALF(x) pow(0.5, x)
#else
/* 0.5 to the power x >= 0 (2 ** -x) without libm: e ** -y, y = (x's fraction) ln 2 < 0.7, by its series to
 * y ** 8 (the rest is under 1.1e-7), halved once for each whole of x. Multiplications only: on an AVR a float
 * division costs several times a product. */
static ES_AGENT_REAL half_pow(ES_AGENT_REAL x)
{
    ES_AGENT_REAL y, r;
    uint8_t n;
    if (!(x < R(150))) return R(0);  /* 2 ** -150 is 0 in float; NaN too */
    n = (uint8_t)x;
    y = (x - (ES_AGENT_REAL)n) * R(0.6931471805599453);
    r = R(1) - y * (R(1) - y * R(1.0 / 2) * (R(1) - y * R(1.0 / 3) * (R(1) - y * R(1.0 / 4) * (R(1) - y * R(1.0 / 5) *
        (R(1) - y * R(1.0 / 6) * (R(1) - y * R(1.0 / 7) * (R(1) - y * R(1.0 / 8))))))));
    while (n--) r *= R(0.5);
    return r;
}
#define HALVINGS(ms, half_ms) ((ES_AGENT_REAL)(ms) / (ES_AGENT_REAL)(half_ms))
#define HALF(x) half_pow(x)
#endif

void es_agent_init(es_agent *a, const char *names, uint16_t names_bytes)
{
    uint8_t c;
    int found;
    int rest = find_name(names, names_bytes, REST_NAME);
    for (c = 0; c < ES_CHANNELS; c++) {
        a->level[c] = R(0);
        a->pending[c] = R(0);
        a->half_life_ms[c] = (uint16_t)ES_AGENT_READ16(&HALF_LIFE_MS[c]);
        found = find_name(names, names_bytes, c);
        a->shows[c] = (int8_t)(found <= 127 ? found : -1);  /* past 127 names the agent does not reach */
    }
    a->rest = (rest < 0 || rest > 255) ? 0u : (uint8_t)rest;
    a->active = 0;
}

static ES_AGENT_REAL felt(const es_agent *a, uint8_t c) { return a->level[c] + a->pending[c]; }

#define FELT(a, c) (((a)->active >> (c)) & 1u)  /* not at rest: only such channels are looked at */

uint8_t es_agent_dominant(const es_agent *a)
{
    uint8_t c, best = ES_CHANNELS;
    ES_AGENT_REAL most = R(0);
    for (c = 0; c < ES_CHANNELS; c++) {
        ES_AGENT_REAL f;
        if (!FELT(a, c)) continue;
        f = felt(a, c);
        if (best == ES_CHANNELS || f > most) {  /* the first of equals, as Python's max() */
            most = f;
            best = c;
        }
    }
    /* a channel at rest is felt 0: never the dominant one, which must be felt more than 1e-3 */
    return (best != ES_CHANNELS && most > R(1e-3)) ? best : (uint8_t)ES_CHANNELS;
}

void es_agent_stimulate(es_agent *a, uint8_t channel, ES_AGENT_REAL amount)
{
    uint8_t old;
    if (channel >= ES_CHANNELS || amount != amount) return;  /* amount != amount: NaN */
    if (amount > R(ES_AGENT_MAX_AMOUNT)) amount = R(ES_AGENT_MAX_AMOUNT);
    if (amount < R(-ES_AGENT_MAX_AMOUNT)) amount = R(-ES_AGENT_MAX_AMOUNT);
    old = es_agent_dominant(a);
    if (amount >= R(ES_AGENT_OVERTHROW) && old != ES_CHANNELS && old != channel)
        a->pending[old] -= (R(1.0) - R(ES_AGENT_KEEP)) * (a->level[old] + a->pending[old]);
    a->pending[channel] += amount;
    a->active |= (uint8_t)(1u << channel);
}

int es_agent_feel(es_agent *a, uint8_t emotion, ES_AGENT_REAL amount)
{
    uint8_t c;
    for (c = 0; c < ES_CHANNELS; c++) {
        if (a->shows[c] >= 0 && (uint8_t)a->shows[c] == emotion) {  /* 255 is no emotion, not a -1 */
            es_agent_stimulate(a, c, amount);
            return 1;
        }
    }
    if (emotion != a->rest || !(amount >= R(0))) return 0;
    for (c = 0; c < ES_CHANNELS; c++) {  /* the rest: each channel calmed by amount, to nothing at most */
        ES_AGENT_REAL f;
        if (!FELT(a, c)) continue;
        f = felt(a, c);
        if (f > R(1e-3)) es_agent_stimulate(a, c, -(amount < f ? amount : f));
    }
    return 1;
}

void es_agent_step(es_agent *a, uint32_t ms)
{
    uint8_t c, flows = 0;
    ES_AGENT_REAL fraction = R(0);
    for (c = 0; c < ES_CHANNELS; c++) {
        if (!FELT(a, c)) continue;  /* at rest: Python's sums leave it as it is, so it costs nothing here */
        if (a->pending[c] != R(0)) {
            ES_AGENT_REAL moved, level;
            if (!flows) {
                fraction = R(1.0) - HALF(HALVINGS(ms, ES_AGENT_RISE_MS));
                flows = 1;
            }
            moved = a->pending[c] * fraction;
            level = a->level[c] + moved;
            if (level < R(0)) level = R(0);
            if (level > R(ES_AGENT_CEILING)) level = R(ES_AGENT_CEILING);
            a->level[c] = level;
            a->pending[c] -= moved;
            if (a->pending[c] < R(ES_AGENT_SETTLED) && a->pending[c] > R(-ES_AGENT_SETTLED)) a->pending[c] = R(0);
        }
        if (a->level[c] != R(0)) {
            a->level[c] *= HALF(HALVINGS(ms, a->half_life_ms[c] ? a->half_life_ms[c] : 1u));
            if (a->level[c] < R(ES_AGENT_SETTLED)) a->level[c] = R(0);
        }
        if (a->level[c] == R(0) && a->pending[c] == R(0)) a->active &= (uint8_t)~(1u << c);
    }
}

uint8_t es_agent_requested(const es_agent *a)
{
    uint8_t c, best = ES_CHANNELS;
    ES_AGENT_REAL most = R(0);
    for (c = 0; c < ES_CHANNELS; c++) {  /* a channel at rest (0) never reaches the threshold */
        ES_AGENT_REAL f;
        if (!FELT(a, c) || a->shows[c] < 0) continue;
        f = felt(a, c);
        if (best == ES_CHANNELS || f > most ||
            (f == most && ES_AGENT_READ8(&NAME_RANK[c]) > ES_AGENT_READ8(&NAME_RANK[best]))) {
            most = f;
            best = c;
        }
    }
    if (best == ES_CHANNELS || !(most >= R(ES_AGENT_THRESHOLD))) return a->rest;
    return (uint8_t)a->shows[best];
}

/* emosketch agent on the device: plain C99, no allocation, no libm, 79 bytes of RAM on AVR.
 *
 * The agent emotion model of `emosketch agent` and the mirror (emosketch.interpolate.agent), for a board
 * that feels on its own, with no computer: stimuli (a button, a sensor, a message) raise channels
 * (fear, mad, joy, love, sad, surprise, power), each channel fades with its own half-life, and a strong
 * stimulus to another channel overthrows the dominant one. es_agent_requested() says which of the pack's
 * emotions to show now, as emosketch.interpolate.agent.Agent.requested does with the default settings
 * (the players show one emotion at a time, not a blend): hand it to es_player_request.
 *
 *   #include "emosketch_player.h"
 *   #include "emosketch_agent.h"
 *   #include "pack.h"
 *   es_agent agent;
 *   es_agent_init(&agent, pack_emotion_names, sizeof(pack_emotion_names));
 *   es_agent_stimulate(&agent, ES_JOY, 0.8f);        // a button pressed: joy rises, then fades
 *   for (;;) {
 *       uint32_t now = millis();
 *       if (now - last >= 20) {                        // 50 steps a second (see below)
 *           es_agent_step(&agent, now - last);
 *           last = now;
 *           es_player_request(&player, es_agent_requested(&agent));   // the same emotion again changes nothing
 *       }
 *       if (es_player_update(&player, now)) show(frame);
 *   }
 *
 * The names are the pack header's NAME_emotion_names ("neutral,happy,sad"), which live in flash on AVR: there
 * es_agent_init reads them with pgm_read_byte, so names of your own must be PROGMEM too. A channel shows the
 * pack's emotion of its default name (joy and love: happy, mad: anger, power: contempt; the first 128 names);
 * one the pack lacks shows nothing and gives way to the next. Change agent.shows[] or agent.half_life_ms[]
 * after es_agent_init to map or pace the channels otherwise.
 *
 * Step it every 20 ms or so, not at every pass of a loop: in float each step's decay is rounded, and a
 * millisecond at a time the roundings add up (1.7e-4 of a level over 20 s; at 20 ms steps 1e-5). A
 * channel whose feeling has faded below ES_AGENT_SETTLED is exactly 0 and costs nothing: about 20 half-lives
 * after its last stimulus (20 s for surprise, under 3 minutes for sadness).
 */
#ifndef EMOSKETCH_AGENT_H
#define EMOSKETCH_AGENT_H

#include <stdint.h>

/* The arithmetic type: float on a microcontroller (double is float on AVR, and a soft double library on a
 * Cortex-M0+ costs kilobytes), with a 0.5 ** x of its own (within 1e-6 of it; no libm). The tests build it with
 * -DES_AGENT_REAL=double -DES_AGENT_PYTHON (libm's pow, Python's order of operations) to compare it with the
 * Python model step for step (it differs only by the feelings under ES_AGENT_SETTLED it counts as 0). */
#ifndef ES_AGENT_REAL
#define ES_AGENT_REAL float
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The channels, in emosketch.interpolate.agent.CHANNELS's order. */
enum { ES_FEAR = 0, ES_MAD, ES_JOY, ES_LOVE, ES_SAD, ES_SURPRISE, ES_POWER, ES_CHANNELS };

/* The settings of emosketch.interpolate.agent.AgentConfig's defaults. */
#define ES_AGENT_RISE_MS 150u       /* a stimulus flows in with this half-time, so the face moves, not jumps */
#define ES_AGENT_CEILING 1.5       /* a channel's level is capped here */
#define ES_AGENT_OVERTHROW 0.5     /* a stimulus this strong to another channel overthrows the dominant one */
#define ES_AGENT_KEEP 0.25         /* the share of its level the overthrown channel keeps */
#define ES_AGENT_THRESHOLD 0.3     /* a channel felt less than this shows the rest emotion */
#define ES_AGENT_MAX_AMOUNT 1.5    /* a stimulus's amount either way (the mirror's limit); NaN is ignored */
#define ES_AGENT_SETTLED 1e-6      /* a level or a stimulus to come under this is 0: a faded channel costs nothing */

typedef struct {
    ES_AGENT_REAL level[ES_CHANNELS];   /* how strongly each channel is felt */
    ES_AGENT_REAL pending[ES_CHANNELS]; /* stimuli still flowing in */
    uint16_t half_life_ms[ES_CHANNELS]; /* ms for a channel to halve with no new stimulus (never 0) */
    int8_t shows[ES_CHANNELS];          /* the pack's emotion each channel shows; -1: none */
    uint8_t rest;                       /* the emotion shown when no channel is felt: neutral, or the first */
    uint8_t active;                     /* bit c: channel c is not at rest (its level or pending is not 0) */
} es_agent;

/* Every channel at rest, the half-lives of AgentConfig, and each channel mapped to the pack's emotion of its
 * name. names: "neutral,happy,sad" (names_bytes: its size, the NUL counted or not; in PROGMEM on AVR). */
void es_agent_init(es_agent *a, const char *names, uint16_t names_bytes);
/* Add `amount` (negative soothes; held within +-ES_AGENT_MAX_AMOUNT) to a channel; it arrives over the next
 * few hundred ms. An unknown channel changes nothing. */
void es_agent_stimulate(es_agent *a, uint8_t channel, ES_AGENT_REAL amount);
/* Stimulate the first channel that shows the pack's emotion `emotion`; the rest emotion (neutral) calms
 * every channel by `amount`. Returns 0 (and changes nothing) when no channel shows it. */
int es_agent_feel(es_agent *a, uint8_t emotion, ES_AGENT_REAL amount);
/* Let `ms` pass: stimuli flow in, then every channel fades. */
void es_agent_step(es_agent *a, uint32_t ms);
/* The pack's emotion to show now: that of the most felt channel the pack can show, while it is felt at least
 * ES_AGENT_THRESHOLD (a stimulus still rising in counts), else the rest emotion. */
uint8_t es_agent_requested(const es_agent *a);
/* The channel felt most (pending stimuli counted), or ES_CHANNELS when every one is at rest. */
uint8_t es_agent_dominant(const es_agent *a);

#ifdef __cplusplus
}
#endif

#endif /* EMOSKETCH_AGENT_H */

"""The agent emotion model on the device (emosketch_agent.h/.c, and the MicroPython player's Agent): a board
that feels on its own must show what `emosketch agent` and the mirror would ask a player for, stimulus for
stimulus. Each is run over random scripts beside emosketch.interpolate.agent.Agent."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import types

import pytest
from conftest import fake_framebuf, load_module, micropython_missing, run_micropython

from emosketch.export.players import C_AGENT, MICROPYTHON_PLAYER
from emosketch.interpolate.agent import CHANNELS, Agent, AgentConfig

NAME_SETS = ["neutral,happy,sad,surprise,fear,anger", "neutral,happy,sad,surprise,fear,disgust,anger,contempt",
             "neutral,happy,sad", "happy,sad", "anger,neutral,fear", "surprise"]

HOST = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emosketch_agent.h"

/* host NAMES < ops: "s CHANNEL AMOUNT" stimulates, "f EMOTION AMOUNT" feels, "t MS" lets time pass; after each,
 * the emotion requested and every channel's level and pending amount. */
int main(int argc, char **argv)
{
    es_agent a;
    char op;
    (void)argc;
    es_agent_init(&a, argv[1], (uint16_t)strlen(argv[1]));
    while (scanf(" %c", &op) == 1) {
        unsigned k;
        double amount;
        if (op == 't') {
            unsigned long ms;
            if (scanf("%lu", &ms) != 1) return 2;
            es_agent_step(&a, (uint32_t)ms);
        } else {
            if (scanf("%u %lf", &k, &amount) != 2) return 2;
            if (op == 's') es_agent_stimulate(&a, (uint8_t)k, (ES_AGENT_REAL)amount);
            else printf("felt %d ", es_agent_feel(&a, (uint8_t)k, (ES_AGENT_REAL)amount));
        }
        printf("%u", (unsigned)es_agent_requested(&a));
        for (k = 0; k < ES_CHANNELS; k++) printf(" %.17g %.17g", (double)a.level[k], (double)a.pending[k]);
        printf("\n");
    }
    return 0;
}
"""


def random_script(seed: int, length: int = 160, ties: bool = True) -> list[tuple]:
    """Stimuli, feelings and time passing; with `ties`, also two channels stimulated alike at once."""
    rng = random.Random(seed)
    ops = []
    if ties:  # from rest, the pairs whose order by name differs from their order as channels
        for a, b in ((1, 2), (1, 3), (4, 6), (5, 6)):
            ops += [("s", a, 0.4), ("s", b, 0.4), ("t", 50), ("t", 4_000_000_000)]
    for _ in range(length):
        r = rng.random()
        if r < 0.3:
            ops.append(("s", rng.randrange(len(CHANNELS)), rng.choice([0.8, 0.5, 0.3, -0.4, 1.5, -1.5,
                                                                         round(rng.uniform(-1.5, 1.5), 6)])))
        elif r < 0.4 and ties:  # two channels alike at once: a tie that the channels' names break
            a, b = rng.sample(range(len(CHANNELS)), 2)
            amount = rng.choice([0.4, 0.45])
            ops += [("s", a, amount), ("s", b, amount)]
        elif r < 0.5:
            ops.append(("f", rng.randrange(9), rng.choice([0.8, 0.2, 1.5, -0.3])))
        else:
            ops.append(("t", rng.choice([0, 1, 16, 83, 250, 700, 2000, 20000, rng.randrange(5000)])))
    return ops


def python_run(names: str, ops: list[tuple]) -> list[tuple]:
    """What emosketch.interpolate.agent.Agent asks for after each op; a feel as the mirror's
    /api/agent/stimulate {"emotion": ...} does (Engine.feel, without its rounding for JSON)."""
    emotions = names.split(",")
    agent = Agent(AgentConfig(), classes=emotions)
    out = []
    for op, k, *amount in ops:
        felt = None
        if op == "t":
            agent.step(k / 1000)
        elif op == "s":
            agent.stimulate(CHANNELS[k], amount[0])
        else:
            name = emotions[k] if k < len(emotions) else None
            channel = agent.channel_for(name) if name else None
            felt = 0
            if channel is not None:
                agent.stimulate(channel, amount[0])
                felt = 1
            elif name == emotions[emotions.index("neutral") if "neutral" in emotions else 0] and amount[0] >= 0:
                for c in CHANNELS:
                    level = agent.level[c] + agent.pending[c]
                    if level > 1e-3:
                        agent.stimulate(c, -min(amount[0], level))
                felt = 1
        requested = emotions.index(agent.requested(emotions))
        out.append((felt, requested, [v for c in CHANNELS for v in (agent.level[c], agent.pending[c])]))
    return out


SETTLED = 1e-6  # emosketch_agent.h's ES_AGENT_SETTLED, the MicroPython player's AGENT_SETTLED


def alike(got: tuple, expected: tuple) -> bool:
    """The same answer to a feel, the same levels but for what a device agent counts as 0 once it falls under
    SETTLED (the Python model lets a feeling fade for ever; otherwise the double build is the model operation for
    operation, equal to the last bit), and the same emotion asked for, unless the model's own choice was within
    1e-5 of the threshold or of a tie, where a residue under SETTLED may tip it."""
    if got[0] != expected[0] or any(g != e and abs(g - e) > 2 * SETTLED for g, e in zip(got[2], expected[2])):
        return False
    levels = expected[2]
    felt = sorted((levels[2 * c] + levels[2 * c + 1] for c in range(len(CHANNELS))), reverse=True)
    near = abs(felt[0] - 0.3) < 1e-5 or (felt[0] > 0.3 and 0 < felt[0] - felt[1] < 1e-5)
    return got[1] == expected[1] or near


def build_host(tmp_path, *flags: str):
    exe = tmp_path / ("host" + "".join(f.split("=")[0] for f in flags).replace("-", "_"))
    shutil.copyfile(C_AGENT[0], tmp_path / C_AGENT[0].name)
    (tmp_path / "host.c").write_text(HOST)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", *flags, f"-I{tmp_path}", str(tmp_path / "host.c"), str(C_AGENT[1]),
                    "-o", str(exe), "-lm"], check=True, capture_output=True, text=True)
    return exe


def c_run(exe, names: str, ops: list[tuple]) -> list[tuple]:
    text = "\n".join(" ".join(repr(v) for v in op).replace("'", "") for op in ops) + "\n"
    out = subprocess.run([str(exe), names], input=text, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        felt = None
        if line.startswith("felt "):
            _, f, line = line.split(" ", 2)
            felt = int(f)
        fields = line.split()
        rows.append((felt, int(fields[0]), [float(v) for v in fields[1:]]))
    return rows


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed")


@needs_gcc
@pytest.mark.parametrize("names", NAME_SETS)
def test_the_c_agent_built_with_double_asks_what_the_python_model_asks(tmp_path, names):
    exe = build_host(tmp_path, "-DES_AGENT_REAL=double", "-DES_AGENT_PYTHON")
    for seed in range(6):
        ops = random_script(seed)
        expected = python_run(names, ops)
        got = c_run(exe, names, ops)
        assert len(got) == len(expected)
        for step, (e, g) in enumerate(zip(expected, got)):
            assert alike(g, e), (names, seed, step, ops[step])


@needs_gcc
@pytest.mark.parametrize("names", NAME_SETS[:3])
def test_the_c_agent_in_float_asks_for_what_the_python_model_asks_for(tmp_path, names):
    """The default build (float, its own 0.5 ** x, ms / half-life in one division): the same emotion wherever the model's choice is not within
    1e-4 of a tie or of the threshold, and levels within 1e-4. (Channels felt exactly alike are left to the
    double build: rounded in float, the tie may fall the other way, and an overthrow knock down the other one.)"""
    exe = build_host(tmp_path)
    compared = total = 0
    for seed in range(10):
        ops = random_script(100 + seed, ties=False)
        for (e_felt, e_req, e_levels), (g_felt, g_req, g_levels) in zip(python_run(names, ops), c_run(exe, names, ops)):
            assert g_felt == e_felt
            assert max(abs(a - b) for a, b in zip(e_levels, g_levels)) < 1e-4
            total += 1
            felt = sorted((e_levels[2 * c] + e_levels[2 * c + 1] for c in range(len(CHANNELS))), reverse=True)
            close = abs(felt[0] - 0.3) < 1e-4 or (felt[0] > 0.3 and 0 < felt[0] - felt[1] < 1e-4)
            if not close:
                compared += 1
                assert g_req == e_req
    assert compared > 0.95 * total


@needs_gcc
def test_the_c_agent_reads_names_from_the_pack_header_and_keeps_its_state_sane(tmp_path):
    """Names as a pack header gives them (NUL counted); no name, an unknown channel, NaN and huge amounts change
    nothing they should not."""
    (tmp_path / "t.c").write_text(r"""
#include <math.h>
#include <stdio.h>
#include "emosketch_agent.h"
static const char names[] = "neutral,happy,sad,surprise,fear,anger";
static const char many[] = "sad,MANY";
int main(void)
{
    es_agent a, none;
    unsigned c;
    es_agent_init(&a, names, sizeof(names));
    printf("%d %d %d %d %d %d %d rest %u\n", a.shows[0], a.shows[1], a.shows[2], a.shows[3], a.shows[4], a.shows[5],
           a.shows[6], a.rest);
    es_agent_init(&none, "", 0);
    printf("%d %u %u\n", none.shows[ES_JOY], es_agent_requested(&none), es_agent_feel(&none, 0, 1.0f));
    es_agent_stimulate(&a, ES_CHANNELS, 1.0f);
    es_agent_stimulate(&a, 200, 1.0f);
    es_agent_stimulate(&a, ES_JOY, NAN);
    printf("%u %u\n", es_agent_requested(&a), es_agent_dominant(&a));
    es_agent_stimulate(&a, ES_MAD, 1e30f);
    es_agent_step(&a, 4000000000u);
    for (c = 0; c < ES_CHANNELS; c++) if (!(a.level[c] >= 0 && a.level[c] <= 1.5f)) return 1;
    es_agent_stimulate(&a, ES_MAD, 1e30f);
    es_agent_step(&a, 150);
    printf("%u %.3f\n", es_agent_requested(&a), a.level[ES_MAD]);
    es_agent_feel(&a, 0, 1.5f);
    es_agent_step(&a, 1000);
    printf("%u\n", es_agent_requested(&a));
    /* 255 (a name looked up and not found, -1 as a uint8_t) is no emotion: it had stimulated fear */
    printf("%d %d\n", es_agent_feel(&a, 255, 0.8f), es_agent_dominant(&a) == ES_CHANNELS);
    for (c = 0; c < 250 * 60; c++) es_agent_step(&a, 20);  /* 5 minutes: every feeling has faded to exactly 0 */
    for (c = 0; c < ES_CHANNELS; c++) if (a.level[c] != 0 || a.pending[c] != 0) return 2;
    es_agent_init(&a, many, sizeof(many));  /* past 127 names: not reached, never a negative wrap */
    printf("%d %d %u\n", a.shows[ES_JOY], a.shows[ES_SAD], a.rest);
    return 0;
}
""".replace("MANY", ",".join(f"x{i}" for i in range(130)) + ",happy,neutral"))
    shutil.copyfile(C_AGENT[0], tmp_path / C_AGENT[0].name)
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", f"-I{tmp_path}", str(tmp_path / "t.c"), str(C_AGENT[1]), "-o",
                    str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    assert out == ["4 5 1 1 2 3 -1 rest 0",  # fear, anger, happy, happy, sad, surprise; no contempt
                   "-1 0 1",  # no names: nothing shows, the rest is the first
                   "0 7",  # at rest: the unknown channels and NaN changed nothing
                   "5 0.731",  # a huge stimulus is 1.5 at most: anger, half flowed in after 150 ms, fading
                   "0",  # neutral calmed it
                   "0 1",
                   "-1 0 132"]  # sad the first name; happy the 132nd, past int8's reach; neutral the rest still


@pytest.fixture
def mp(monkeypatch):
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    monkeypatch.setitem(sys.modules, "machine", types.ModuleType("machine"))
    return load_module(MICROPYTHON_PLAYER)


RUN_OPS = """
def run_ops(agent, ops):
    out = []
    for op, k, *amount in ops:
        felt = None
        if op == "t":
            agent.step(k)
        elif op == "s":
            agent.stimulate(k, amount[0])
        else:
            try:
                agent.feel(k, amount[0])
                felt = 1
            except ValueError:
                felt = 0
        out.append((felt, agent.requested(), [v for c in range(7) for v in (agent.level[c], agent.pending[c])]))
    return out
"""  # run under CPython here, and under MicroPython by MP_AGENT


def mp_run(mp, names: str, ops: list[tuple]) -> list[tuple]:
    scope: dict = {}
    exec(RUN_OPS, scope)  # noqa: S102 -- the test's own code
    return scope["run_ops"](mp.Agent(names.split(",")), ops)


@pytest.mark.parametrize("names", NAME_SETS)
def test_the_micropython_agent_asks_what_the_python_model_asks(mp, names):
    for seed in range(6):
        ops = random_script(seed)
        for step, (g, e) in enumerate(zip(mp_run(mp, names, ops), python_run(names, ops), strict=True)):
            assert alike(g, e), (names, seed, step, ops[step])


def test_the_micropython_agent_takes_names_in_any_case_and_says_what_it_cannot_show(mp):
    agent = mp.Agent(["neutral", "happy", "sad"])
    agent.stimulate("JOY", 0.8)
    agent.step(300)
    assert agent.requested() == 1
    agent.feel("Sad", 1.0)  # overthrows joy
    agent.step(300)
    assert agent.requested() == 2
    with pytest.raises(ValueError, match=r"no channel shows 'anger' \(emotions: happy, sad, neutral\)"):
        agent.feel("anger")
    with pytest.raises(ValueError, match=r"'glee' is not a channel \(fear, mad, joy"):
        agent.stimulate("glee")
    agent.feel("neutral", 1.5)
    agent.step(1000)
    assert agent.requested() == 0


def test_the_micropython_player_follows_its_agent(mp, tmp_path):
    """Player.run(agent=...): the face shows what the agent feels, and a name from poll() is felt, not shown at
    once: joy felt, then gone after it fades."""
    from test_players import state_machine_pack

    from emosketch.export import write_pack

    write_pack(state_machine_pack(), tmp_path / "p")
    pack = mp.Pack(str(tmp_path / "p"))
    player = mp.Player(pack, None, "neutral")
    agent = mp.Agent(pack)
    clock = [0]
    mp.ticks_ms = lambda: clock[0]
    mp.sleep_ms = lambda ms: clock.__setitem__(0, clock[0] + ms)
    seen = []

    class Done(Exception):
        pass

    def poll():
        seen.append((clock[0], player.current_emotion()))
        if clock[0] >= 12000:
            raise Done
        return "happy" if len(seen) == 1 else None

    with pytest.raises(Done):
        player.run(poll, agent=agent)
    pack.frames.close()
    shown = [e for t, e in seen]
    assert shown[0] == "neutral" and "happy" in shown and shown[-1] == "neutral"
    rise = next(t for t, e in seen if e == "happy")
    fall = next(t for t, e in seen if t > rise and e == "neutral")
    assert rise < 200 and 3000 < fall < 8000  # joy 0.8 with a 3 s half-life is under 0.3 after about 4.2 s


MP_AGENT = RUN_OPS + """
from emosketch_player import Agent
with open("/w/out.bin", "wb") as out:
    out.write(bytes([requested for _, requested, _ in run_ops(Agent({names!r}), {ops!r})]))
"""


@pytest.mark.skipif(micropython_missing() is not None, reason=str(micropython_missing()))
def test_the_agent_on_real_micropython_asks_for_what_cpython_asks_for(tmp_path, mp):
    shutil.copyfile(MICROPYTHON_PLAYER, tmp_path / MICROPYTHON_PLAYER.name)
    names = NAME_SETS[0]
    ops = random_script(7)
    code = MP_AGENT.format(names=names.split(","), ops=ops)
    played, _ = run_micropython(tmp_path, code)
    assert list(played) == [r for _, r, _ in mp_run(mp, names, ops)]


BUTTONS_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "Arduino.h"
#include "Adafruit_SSD1306.h"
#include "emosketch_player.h"
#include "emosketch_agent.h"

/* The board, on a computer: a clock the harness moves, buttons pressed at scripted times, serial to stdout. */
static unsigned long now_ms = 0;
static int level[8] = {1, 1, 1, 1, 1, 1, 1, 1};  /* pins 0-7, pulled up: HIGH until pressed */
unsigned long millis() { return now_ms; }
void pinMode(uint8_t, uint8_t) {}
int digitalRead(uint8_t pin) { return pin < 8 ? level[pin] : HIGH; }
SerialStub Serial;
void SerialStub::begin(long) {}
int SerialStub::available() { return 0; }
int SerialStub::read() { return -1; }
void SerialStub::print(const char *s) { fputs(s, stdout); }
void SerialStub::print(char c) { putchar(c); }
void SerialStub::print(int v) { printf("%d", v); }
void SerialStub::println() { printf(" @%lu\n", now_ms); }
void SerialStub::println(const char *s) { puts(s); }
void SerialStub::println(int v) { printf("%d\n", v); }
TwoWire Wire;
static uint8_t panel[1024];
static unsigned shown = 0;
Adafruit_SSD1306::Adafruit_SSD1306(int, int, TwoWire *, int) {}
bool Adafruit_SSD1306::begin(int, int) { return true; }
uint8_t *Adafruit_SSD1306::getBuffer() { return panel; }
void Adafruit_SSD1306::display() { shown++; }
void setup();
void loop();
extern es_agent agent;

int main(int argc, char **argv)
{
    /* argv: triples (ms, pin, level): the pin reads level from that time on; the run lasts 16 s of 1 ms ticks */
    int i = 1;
    setup();
    for (now_ms = 0; now_ms < 16000; now_ms++) {
        for (; i + 2 < argc && strtoul(argv[i], 0, 10) <= now_ms; i += 3) level[atoi(argv[i + 1])] = atoi(argv[i + 2]);
        loop();
        if (now_ms == 400) printf("joy %.2f\n", (double)(agent.level[ES_JOY] + agent.pending[ES_JOY]));
    }
    printf("frames %u\n", shown);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("g++") is None or shutil.which("gcc") is None, reason="gcc and g++ are needed")
def test_the_buttons_example_feels_a_press_shows_it_and_lets_it_fade(tmp_path):
    """agent_buttons on a computer, with a pack of neutral, happy and sad (an Uno's): a bouncing press of the joy
    button is one stimulus, shown at once and gone about 4 s later; a press of the sad button overthrows joy;
    the buttons of surprise and anger are named at setup as showing nothing."""
    from test_players import ARDUINO_STUBS, state_machine_pack

    from emosketch.export import write_pack
    from emosketch.export.players import ARDUINO_EXAMPLES

    pack = tmp_path / "pack"
    write_pack(state_machine_pack(), pack)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in ARDUINO_STUBS.items():
        (stubs / name).write_text(text)
    (tmp_path / "harness.cpp").write_text(BUTTONS_HARNESS)
    exe = tmp_path / "buttons"
    objects = []
    for c in ("emosketch_player.c", "emosketch_agent.c"):
        objects.append(tmp_path / (c + ".o"))
        subprocess.run(["gcc", "-std=c99", "-c", f"-I{pack}", str(pack / c), "-o", str(objects[-1])], check=True,
                       capture_output=True, text=True)
    build = subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{stubs}", f"-I{pack}", "-include",
                            "Arduino.h", "-x", "c++", str(ARDUINO_EXAMPLES / "agent_buttons" / "agent_buttons.ino"),
                            str(tmp_path / "harness.cpp"), "-x", "none", *map(str, objects), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    presses = ["100", "2", "0", "104", "2", "1", "108", "2", "0", "112", "2", "1", "116", "2", "0",  # it bounces
               "300", "2", "1",
               "9000", "4", "0", "9200", "4", "1",  # surprise: not in this pack
               "10000", "2", "0", "10200", "2", "1", "11000", "3", "0", "11200", "3", "1"]  # joy, then sad
    out = subprocess.run([str(exe), *presses], check=True, capture_output=True, text=True).stdout.splitlines()
    assert out[:2] == ["the button on pin 4: this pack has no emotion for its feeling",
                       "the button on pin 5: this pack has no emotion for its feeling"]
    assert out[2:5] == ["-> happy @100", "joy 0.77",  # one press, fading (three would be 1.5: the ceiling)
                        "-> neutral @" + out[4].split("@")[1]]
    fade = int(out[4].split("@")[1])
    assert 4100 < fade < 4700  # 0.8 halving every 3 s is under 0.3 4.2 s after it has flowed in
    assert out[5:7] == ["-> happy @10000", "-> sad @11000"]
    frames = int(out[-1].split()[1])
    assert 16000 // 100 < frames < 16000 // 60  # the pack's 10-12.5 fps went on throughout


@pytest.mark.parametrize("compiler, flags, most", [("avr-gcc", ["-mmcu=atmega328p"], 3000),
                                                   ("arm-none-eabi-gcc", ["-mcpu=cortex-m0plus", "-mthumb"], 1650)])
def test_the_agent_is_small_and_needs_no_libm_on_a_microcontroller(tmp_path, compiler, flags, most):
    """2,926 B on an ATmega328P and 1,563 B on a Cortex-M0+ when measured (benchmarks/players.py --parts agent), no
    RAM of its own (its tables in flash on AVR), and no <math.h>: the Cortex-M0+ toolchain here has none."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed (make cross installs it)")
    obj = tmp_path / "agent.o"
    subprocess.run([compiler, *flags, "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-c", str(C_AGENT[1]), "-o",
                    str(obj)], check=True, capture_output=True, text=True)
    size = subprocess.run([compiler.replace("gcc", "size"), str(obj)], check=True, capture_output=True, text=True)
    text, data, bss = (int(v) for v in size.stdout.splitlines()[1].split()[:3])
    assert data == 0 and bss == 0
    assert text < most


@needs_gcc
def test_a_tft_pack_carries_the_agent_and_its_emotion_names(face_transition, tmp_path):
    """A colour TFT pack's folder has the agent too, and its header the emotion names es_agent_init reads."""
    from test_tft import face_sequences

    from emosketch.export.tft import TftOptions, build_tft_pack, write_tft_pack
    from emosketch.frames import Frames

    seqs = face_sequences(face_transition) + [("idle_happy", "test", Frames(face_transition[-2:], 10.0))]
    folder = write_tft_pack(build_tft_pack(seqs, TftOptions(panel="st7789-135x240", name="pack")), tmp_path / "p")
    assert {p.name for p in C_AGENT} <= {p.name for p in folder.iterdir()}
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "emosketch_agent.h"
#include "pack_tft.h"
int main(void)
{
    es_agent agent;
    es_agent_init(&agent, pack_tft_emotion_names, sizeof(pack_tft_emotion_names));
    es_agent_stimulate(&agent, ES_JOY, 0.8f);
    printf("%d %d\n", es_agent_requested(&agent) == PACK_EMOTION_HAPPY, agent.rest == PACK_EMOTION_NEUTRAL);
    return 0;
}
""")
    exe = tmp_path / "main"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{folder}", str(tmp_path / "main.c"),
                    str(folder / "emosketch_agent.c"), str(folder / "emosketch_tft.c"), "-o", str(exe)], check=True,
                   capture_output=True, text=True)
    assert subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout == "1 1\n"


def test_a_faded_feeling_is_exactly_zero_and_a_bad_step_changes_nothing(mp):
    """A level decays toward 0 and never reaches it: on a board a faded channel kept costing arithmetic (2.4 ms a
    step on an Uno, 50 minutes after the face was neutral). Under SETTLED a device agent counts it as 0 (the C one
    in tests above); and the MicroPython agent takes a negative or NaN step as none."""
    board = mp.Agent(["neutral", "happy", "sad"])
    assert mp.AGENT_SETTLED == SETTLED
    for c in CHANNELS:
        board.stimulate(c, 0.8)
    for _ in range(500):
        board.step(500)
    assert board.level == board.pending == [0.0] * 7
    board.stimulate("sad", 0.8)
    before = (list(board.level), list(board.pending))
    board.step(float("nan"))
    board.step(-2000)
    assert (board.level, board.pending) == before

"""Device player benchmark: code size on microcontrollers, decode cost per frame, and frame rates.

    python benchmarks/players.py --out bench-out          # prints tables, writes bench-out/players.json

1. Code size of the C player core (emosketch_player.c) at -Os for the ATmega328P (avr-gcc) and a
   Cortex-M0+ (arm-none-eabi-gcc): .text / .data / .bss. Compilers that are missing are skipped.
2. Decode cost per frame in instructions, counted by valgrind's callgrind (repeatable, unlike
   times), for the demo-style pack encoded raw, RLE, XOR-delta+RLE, the context codec and auto: the
   raw row is the copy-only baseline. Beside them the same frames as 2 px lines (thinned, Dither line 2),
   stored as shown and as 1 px skeletons that the player redraws with its 2x2 pen (pen coding). Runs on the host (x86-64), so read the ratios, not the absolute counts.
   And the decode time per frame on an ATmega328P at 16 MHz, run in simavr (timer 1 counts cycles).
4. The default full-screen pack of the demo photo (emosketch pack's defaults), with its default codec
   (ctx, the context codec) and with --codec auto (the byte codecs): its ratio, host instructions per frame, microseconds per frame under real
   MicroPython (its WebAssembly port, `make micropython`) and under CPython, and cycles per frame on an
   ATmega328P for its first 3 sequences.
3. Frame rates the bus allows for a 128x64 frame (1024 bytes): I2C at 100/400/1000 kHz and SPI at
   8 MHz, from the bits on the wire.
5. The agent on the device (emosketch_agent.c): its code size per target, what it adds to an ATmega328P's
   flash once linked (its code and the float routines it brings, against the same program without it), and
   its cycles per 20 ms step at 16 MHz (simavr), with every channel felt and at rest.

    python benchmarks/players.py --out bench-out --parts agent   # only some parts: sizes,decode,avr,panel,agent,bus
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import guarded, table  # noqa: E402

from emosketch.datasets.synthetic_motion import state_machine_sequences as demo_sequences  # noqa: E402
from emosketch.export import Dither, ExportOptions, Layout, build_pack, write_pack  # noqa: E402
from emosketch.export.players import C_AGENT, C_PLAYER  # noqa: E402
from emosketch.frames import split_sequences  # noqa: E402

CROSS = {"ATmega328P (avr-gcc)": ("avr-gcc", ["-mmcu=atmega328p"]),
         "ATmega328P, -DES_WITHOUT_CTX (byte codecs only)": ("avr-gcc", ["-mmcu=atmega328p", "-DES_WITHOUT_CTX"]),
         "Cortex-M0+ (arm-none-eabi-gcc)": ("arm-none-eabi-gcc", ["-mcpu=cortex-m0plus", "-mthumb"])}

DECODE_HOST = r"""
#include <stdlib.h>
#include "emosketch_player.h"
#include "pack.h"
int main(int argc, char **argv)
{
    static uint8_t buf[PACK_FRAME_BYTES];
    int rounds = atoi(argv[1]), r;
    unsigned i;
    for (r = 0; r < rounds; r++)
        for (i = 0; i < PACK_FRAME_COUNT; i++)
            if (!es_decode_frame(&pack_pack, (uint16_t)i, buf)) return 1;
    return buf[0] == 7;  /* keep the work observable */
}
"""


def sizes(tmp: Path, source: Path = C_PLAYER[1], targets: dict = CROSS) -> list[dict]:
    rows = []
    for target, (cc, flags) in targets.items():
        if shutil.which(cc) is None:
            print(f"  ({cc} not installed: skipped)")
            continue
        obj = tmp / f"{cc}-{len(flags)}-{source.stem}.o"
        subprocess.run([cc, *flags, "-std=c99", "-Os", "-c", str(source), "-o", str(obj)], check=True)
        out = subprocess.run([cc.replace("gcc", "size"), str(obj)], check=True, capture_output=True, text=True)
        text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
        rows.append({"target": target, "text_bytes": text, "data_bytes": data, "bss_bytes": bss})
    return rows


def instructions(exe: Path, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe), str(rounds)],
                       check=False, capture_output=True)
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
        return int(summary.group(1))


def host_instructions(pack, folder: Path) -> float:
    """Host instructions per frame to decode every frame of `pack` with the C player (callgrind)."""
    write_pack(pack, folder)
    (folder / "host.c").write_text(DECODE_HOST)
    exe = folder / "host"
    subprocess.run(["gcc", "-std=c99", "-O2", f"-I{folder}", str(folder / "host.c"),
                    str(folder / "emosketch_player.c"), "-o", str(exe)], check=True)
    base, work = instructions(exe, 0), instructions(exe, 3)
    return (work - base) / (3 * len(pack.payloads))


def decode_cost(tmp: Path) -> list[dict]:
    if shutil.which("valgrind") is None:
        print("  (valgrind not installed: skipped)")
        return []
    frames = demo_sequences()
    seqs = [(name, "demo", part) for name, part in split_sequences(frames, "demo")]
    rows = []
    line2 = Dither("lineart", thin=True, line=2)  # 2 px lines: stored as drawn, or as skeletons the pen redraws
    for codec, label, dither, pen_coding in [(c, c, Dither(), True) for c in ("raw", "rle", "delta", "ctx", "auto")] + [
            ("auto", "auto, 2 px lines stored as shown", line2, False), ("auto", "auto, 2 px lines, pen", line2, True),
            ("ctx", "ctx, 2 px lines stored as shown", line2, False), ("ctx", "ctx, 2 px lines, pen", line2, True)]:
        pack = build_pack(seqs, ExportOptions(layout=Layout(128, 64, focus=(0.5, 0.56)), codec=codec, name="pack",
                                              dither=dither, pen_coding=pen_coding))
        per = host_instructions(pack, tmp / f"pack-{len(rows)}")
        m = pack.manifest()
        rows.append({"codec": label, "frames": len(pack.payloads), "pack_bytes": m["total_bytes"],
                     "ratio": m["raw_bytes"] / m["total_bytes"], "instructions_per_frame": per})
    return rows


# An ATmega328P program's clock and output in simavr: cycles() counts every cycle (timer 1 and its overflows),
# printf writes to the UART, which simavr prints.
AVR_CLOCK = r"""
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdio.h>
static int put(char c, FILE *s) { (void)s; while (!(UCSR0A & (1 << UDRE0))) {} UDR0 = c; return 0; }
static FILE out = FDEV_SETUP_STREAM(put, NULL, _FDEV_SETUP_WRITE);
static volatile uint32_t overflows;
ISR(TIMER1_OVF_vect) { overflows++; }
static uint32_t cycles(void)
{
    uint32_t o; uint16_t t;
    cli(); t = TCNT1; o = overflows; if ((TIFR1 & 1) && t < 32768u) o++; sei();
    return (o << 16) | t;
}
"""

AVR_HOST = AVR_CLOCK + r"""
#include "emosketch_player.h"
#include "pack.h"
static uint8_t buf[PACK_FRAME_BYTES];
int main(void)
{
    uint16_t i, bad = 0; uint32_t t0, t1;
    UCSR0B = (1 << TXEN0); stdout = &out;
    TCCR1A = 0; TCCR1B = 1; TIMSK1 = 1; sei();  /* timer 1 counts every cycle */
    t0 = cycles();
    for (i = 0; i < PACK_FRAME_COUNT; i++) if (!es_decode_frame(&pack_pack, i, buf)) bad++;
    t1 = cycles();
    printf("cycles %lu bad %u\n", (unsigned long)(t1 - t0), bad);
    cli(); sleep_cpu();  /* simavr stops here */
    return 0;
}
"""


def avr_available() -> bool:
    if shutil.which("avr-gcc") is None or shutil.which("simavr") is None:
        print("  (avr-gcc or simavr not installed: skipped; Debian: gcc-avr avr-libc simavr)")
        return False
    return True


def avr_cycles(pack, folder: Path) -> float:
    """Cycles per frame to decode every frame of `pack` on an ATmega328P at 16 MHz (simavr)."""
    write_pack(pack, folder)
    (folder / "host.c").write_text(AVR_HOST)
    elf = folder / "host.elf"
    subprocess.run(["avr-gcc", "-mmcu=atmega328p", "-Os", "-std=c99", "-DF_CPU=16000000UL", f"-I{folder}",
                    str(folder / "host.c"), str(folder / "emosketch_player.c"), "-o", str(elf)], check=True)
    run = subprocess.run(["simavr", "-m", "atmega328p", "-f", "16000000", str(elf)], capture_output=True,
                         text=True, timeout=600)
    found = re.search(r"cycles (\d+) bad (\d+)", run.stdout + run.stderr)
    if not found or found.group(2) != "0":
        raise SystemExit(f"simavr run for {pack.codec} failed:\n{run.stdout}{run.stderr}")
    return int(found.group(1)) / len(pack.payloads)


def avr_row(label: str, pack, per: float) -> dict:
    return {"codec": label, "frames": len(pack.payloads), "pack_bytes": pack.manifest()["total_bytes"],
            "cycles_per_frame": per, "ms_at_16mhz": per / 16000, "max_fps": 16e6 / per}


def avr_decode(tmp: Path) -> list[dict]:
    """Cycles per frame on an ATmega328P at 16 MHz, run in simavr: the first sequences of the demo pack
    (what fits the Uno's flash), per codec."""
    if not avr_available():
        return []
    seqs = [(name, "demo", part) for name, part in split_sequences(demo_sequences(), "demo")][:3]
    rows = []
    line2 = Dither("lineart", thin=True, line=2)
    for codec, label, dither, pen_coding in [(c, c, Dither(), True) for c in ("rle", "delta", "ctx")] + [
            ("delta", "delta, 2 px lines stored as shown", line2, False), ("delta", "delta, 2 px lines, pen", line2, True)]:
        pack = build_pack(seqs, ExportOptions(layout=Layout(128, 64, focus=(0.5, 0.56)), codec=codec, name="pack",
                                              dither=dither, pen_coding=pen_coding))
        rows.append(avr_row(label, pack, avr_cycles(pack, tmp / f"avr-{len(rows)}")))
    return rows


MICROPYTHON_TIMING = """
import time
from emosketch_player import Pack, Player
pack = Pack("/w")
n = 0
for first, count, ms in pack.sequences:
    n += count
buf = bytearray(pack.frame_bytes)
t = time.ticks_us()
for i in range(n):
    pack.decode(i, buf)
decode = time.ticks_diff(time.ticks_us(), t) / n
player = Player(pack, None, 0)
t = time.ticks_us()
for i in range(n):
    player._decode(i)
shown = time.ticks_diff(time.ticks_us(), t) / n
print("us", decode, shown)
"""


def micropython_us(folder: Path) -> tuple[float, float] | None:
    """(decode, decode + pen) microseconds per frame of the pack in `folder` under real MicroPython
    (its WebAssembly port, `make micropython`), or None when it is not installed."""
    runner = ROOT / "tools" / "micropython" / "run.mjs"
    if shutil.which("node") is None or not (runner.parent / "node_modules").is_dir():
        return None
    (folder / "timing.py").write_text(MICROPYTHON_TIMING)
    run = subprocess.run(["node", str(runner), str(folder), str(folder / "timing.py")], capture_output=True,
                         text=True, timeout=600)
    found = re.search(r"us ([\d.]+) ([\d.]+)", run.stdout)
    if run.returncode or not found:
        raise SystemExit(f"MicroPython timing failed:\n{run.stdout}{run.stderr}")
    return float(found.group(1)), float(found.group(2))


def cpython_us(folder: Path) -> float:
    """Microseconds per frame for the MicroPython player's Pack.decode under this CPython."""
    sys.modules.setdefault("framebuf", types.ModuleType("framebuf"))
    spec = importlib.util.spec_from_file_location("emosketch_player_bench", folder / "emosketch_player.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pack = module.Pack(str(folder))
    n = sum(count for _, count, _ in pack.sequences)
    buf = bytearray(pack.frame_bytes)
    t = time.perf_counter()
    for i in range(n):
        pack.decode(i, buf)
    pack.frames.close()
    return (time.perf_counter() - t) / n * 1e6


def panel_pack_costs(tmp: Path) -> tuple[list[dict], list[dict]]:
    """The default pack of the demo photo (what `emosketch pack --input <photo>` makes: the panel drawing
    export.panel.PANEL) and the face band's (FACE_BAND, the smallest packs), each with the default codec
    (ctx) and with --codec auto: the decode cost per frame on the host (callgrind), under MicroPython and
    CPython, and on an ATmega328P for the first 3 sequences (what an Uno holds)."""
    from emosketch.export.pack import panel_codec
    from emosketch.export.panel import FACE_BAND, PANEL, framed
    from emosketch.interpolate.animate import open_renderer
    from emosketch.interpolate.pack import sequences
    from emosketch.models import default_generator, demo_photo

    r = open_renderer(str(default_generator()), "cpu")
    face = r.source(demo_photo())
    parts = [(n, "generator", part) for n, part in split_sequences(sequences(r, face, list(r.classes)), "frames")]
    rows, avr, on_avr = [], [], avr_available()
    for drawing, panel in (("the default", PANEL), ("the face band", FACE_BAND)):
        panel = framed(panel, face.sketch[None])  # as face_pack frames it
        for codec in ("ctx", "auto"):
            opts = ExportOptions(layout=panel.layout, dither=panel.dither, codec=codec, name="pack")
            pack = build_pack(parts, opts)
            folder = tmp / f"panel-{drawing.split()[-1]}-{codec}"
            m = pack.manifest()
            label = f"{drawing}, {codec}" + (" (the default codec)" if codec == panel_codec("ssd1306", 128, 64) else "")
            row = {"codec": label, "frames": len(pack.payloads), "pack_bytes": m["total_bytes"],
                   "ratio": m["raw_bytes"] / m["total_bytes"], "instructions_per_frame": None}
            if shutil.which("valgrind"):
                row["instructions_per_frame"] = host_instructions(pack, folder)  # writes the pack there
            else:
                write_pack(pack, folder)
            mp = micropython_us(folder)
            row.update({"micropython_wasm_decode_us": mp and mp[0], "micropython_wasm_shown_us": mp and mp[1],
                        "cpython_decode_us": cpython_us(folder)})
            rows.append(row)
            if on_avr:
                first3 = build_pack(parts[:3], opts)
                avr.append(avr_row(row["codec"], first3, avr_cycles(first3, tmp / f"panel-avr-{drawing.split()[-1]}-{codec}")))
    return rows, avr


AVR_AGENT = AVR_CLOCK + r"""
#include "emosketch_agent.h"
static const char names[] PROGMEM = "neutral,happy,sad,surprise,fear,anger";
static volatile uint8_t sink;
#ifdef WITH_AGENT
static es_agent agent;
#endif
/* Cycles for 5 s of steps of 20 ms, each followed by the emotion to ask for (without the agent: the loop alone). */
static uint32_t steps(void)
{
    uint16_t i; uint32_t t0 = cycles();
    for (i = 0; i < 250; i++) {
#ifdef WITH_AGENT
        es_agent_step(&agent, 20);
        sink = es_agent_requested(&agent);
#else
        sink = (uint8_t)i;
#endif
    }
    return cycles() - t0;
}
int main(void)
{
    uint32_t felt, rest;
#ifdef WITH_AGENT
    uint16_t i;
    uint8_t c;
#endif
    UCSR0B = (1 << TXEN0); stdout = &out;
    TCCR1A = 0; TCCR1B = 1; TIMSK1 = 1; sei();  /* timer 1 counts every cycle */
#ifdef WITH_AGENT
    es_agent_init(&agent, names, sizeof(names));
    for (c = 0; c < ES_CHANNELS; c++) es_agent_stimulate(&agent, c, 0.8f);  /* every channel felt: the most work */
#endif
    felt = steps();
#ifdef WITH_AGENT
    for (i = 0; i < 30000; i++) es_agent_step(&agent, 20);  /* 10 minutes on: every feeling has faded */
#endif
    rest = steps();
    printf("cycles %lu rest %lu\n", (unsigned long)felt, (unsigned long)rest);
    cli(); sleep_cpu();  /* simavr stops here */
    return 0;
}
"""


def agent_costs(tmp: Path) -> tuple[list[dict], dict | None]:
    """The agent's code size per target, and on an ATmega328P (when avr-gcc and simavr are here) what it adds
    to a program's flash once linked and its cycles per 20 ms step plus the emotion to ask for."""
    rows = sizes(tmp, C_AGENT[1], {k: v for k, v in CROSS.items() if "WITHOUT" not in k})
    if not avr_available():
        return rows, None
    folder = tmp / "agent"
    folder.mkdir()
    shutil.copyfile(C_AGENT[0], folder / C_AGENT[0].name)
    (folder / "host.c").write_text(AVR_AGENT)
    flash, cycles = {}, {}
    for label, extra in (("without", []), ("with", ["-DWITH_AGENT", str(C_AGENT[1])])):
        elf = folder / f"{label}.elf"
        subprocess.run(["avr-gcc", "-mmcu=atmega328p", "-Os", "-std=c99", "-DF_CPU=16000000UL", f"-I{folder}",
                        str(folder / "host.c"), *extra, "-o", str(elf)], check=True)
        size = subprocess.run(["avr-size", str(elf)], check=True, capture_output=True, text=True)
        text, data, _ = (int(v) for v in size.stdout.splitlines()[1].split()[:3])
        flash[label] = text + data  # what goes into flash: code, and the initial values of RAM
        run = subprocess.run(["simavr", "-m", "atmega328p", "-f", "16000000", str(elf)], capture_output=True,
                             text=True, timeout=600)
        found = re.search(r"cycles (\d+) rest (\d+)", run.stdout + run.stderr)
        if not found:
            raise SystemExit(f"simavr run of the agent failed:\n{run.stdout}{run.stderr}")
        cycles[label] = (int(found.group(1)), int(found.group(2)))
    avr = {"linked_flash_bytes": flash["with"] - flash["without"]}
    for k, when in enumerate(("felt", "at_rest")):
        per = (cycles["with"][k] - cycles["without"][k]) / 250
        avr |= {f"cycles_per_step_{when}": per, f"us_per_step_{when}": per / 16,
                f"cpu_share_{when}": per * 50 / 16e6}
    return rows, avr


def bus_rates() -> list[dict]:
    frame = 1024
    rows = []
    # I2C: each byte is 9 clocks (8 bits + ACK); a frame goes as 1024 data bytes in a few
    # transactions with address and control bytes (counted as 16 extra bytes for 128-byte chunks x 8).
    for khz in (100, 400, 1000):
        seconds = (frame + 16) * 9 / (khz * 1000)
        rows.append({"bus": f"I2C {khz} kHz", "ms_per_frame": seconds * 1000, "max_fps": 1 / seconds})
    seconds = frame * 8 / 8e6
    rows.append({"bus": "SPI 8 MHz", "ms_per_frame": seconds * 1000, "max_fps": 1 / seconds})
    return rows


PARTS = ("sizes", "decode", "avr", "panel", "agent", "bus")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {','.join(PARTS)} (default: all)")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        ap.error(f"--parts: {', '.join(unknown) or 'none given'}; the parts are {', '.join(PARTS)}")
    Path(args.out).mkdir(parents=True, exist_ok=True)  # a place that cannot be written is said before the work
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "sizes" in parts:
            result["sizes"] = sizes(Path(tmp))
            print("\n1. C player core at -Os")
            print(table(result["sizes"], ["target", "text_bytes", "data_bytes", "bss_bytes"]))
        if "decode" in parts:
            cost = result["decode"] = decode_cost(Path(tmp))
            frames = cost[0]["frames"] if cost else 0
            print(f"\n2. Decode cost per 128x64 frame (host instructions, callgrind), the demo pack ({frames} frames)")
            print(table(cost, ["codec", "frames", "pack_bytes", "ratio", "instructions_per_frame"]))
        if "avr" in parts:
            result["avr_decode"] = avr_decode(Path(tmp))
            print("\n2b. Decode time per 128x64 frame on an ATmega328P at 16 MHz (simavr), the demo pack's first "
                  "sequences")
            print(table(result["avr_decode"], ["codec", "frames", "pack_bytes", "cycles_per_frame", "ms_at_16mhz",
                                               "max_fps"]))
        if "panel" in parts:
            panel, panel_avr = result["panel_pack"], result["panel_pack_avr"] = panel_pack_costs(Path(tmp))
            print("\n4. The demo photo's six-emotion pack, with the default panel drawing (emosketch pack's defaults) and with the face band (2 px lines, pen-coded):"
                  " decode cost per frame on the host (callgrind), under MicroPython (its WebAssembly port, in node)"
                  " and CPython (microseconds; shown = decode + the pen's blits)")
            print(table(panel, ["codec", "frames", "pack_bytes", "ratio", "instructions_per_frame",
                                "micropython_wasm_decode_us", "micropython_wasm_shown_us", "cpython_decode_us"]))
            print("\n4b. Its first 3 sequences on an ATmega328P at 16 MHz (simavr)")
            print(table(panel_avr, ["codec", "frames", "pack_bytes", "cycles_per_frame", "ms_at_16mhz", "max_fps"]))
        if "agent" in parts:
            agent_rows, agent_avr = agent_costs(Path(tmp))
            result["agent"] = {"sizes": agent_rows, "atmega328p": agent_avr}
            print("\n5. The agent on the device (emosketch_agent.c) at -Os")
            print(table(agent_rows, ["target", "text_bytes", "data_bytes", "bss_bytes"]))
            if agent_avr:
                print("\n5b. The agent on an ATmega328P at 16 MHz (simavr): flash it adds once linked (its code and "
                      "the float routines it brings), and a 20 ms step plus the emotion to ask for, with all seven "
                      "channels felt and at rest 10 minutes later (cpu share: at 50 steps a second)")
                print(table([agent_avr], ["linked_flash_bytes", "cycles_per_step_felt", "us_per_step_felt",
                                          "cpu_share_felt", "cycles_per_step_at_rest", "us_per_step_at_rest",
                                          "cpu_share_at_rest"]))
    if "bus" in parts:
        result["bus"] = bus_rates()
        print("\n3. Bus time for one 128x64 frame (1024 bytes)")
        print(table(result["bus"], ["bus", "ms_per_frame", "max_fps"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "players.json" if len(parts) == len(PARTS) else f"players-{'-'.join(parts)}.json"
    (out / name).write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out / name}")

if __name__ == "__main__":
    guarded(main)

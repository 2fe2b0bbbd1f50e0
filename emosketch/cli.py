"""The `emosketch` command: parses options, calls one library function per command, prints."""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .errors import EmosketchError
from .terminal import safe


class _FiniteFloat(click.types.FloatParamType):
    """Any finite number: click's float takes nan and inf (and its FloatRange lets nan through: it compares False)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        v = super().convert(value, param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v


class Finite(_FiniteFloat, click.FloatRange):
    """A finite number in a range, the range shown in --help (FINITE when there is none to show)."""


FINITE = _FiniteFloat()
SEED = click.IntRange(0, 2**32 - 1)  # a latent seed: numpy's and torch's generators take 32 bits
MAX_FRAMES = 20_000  # frames of one animation (interpolate.timeline.MAX_FRAMES): 330 MB at 128 px
FPS = Finite(0.02, 240)  # interpolate.timeline.MIN_FPS, MAX_FPS: the slowest a pack plays, the fastest drawn
PSI = Finite(-2.0, 2.0)  # truncation: 1 none, 0 the mean; beyond +-2 only noise
BATCH = click.IntRange(1, 4096)


def _not_inputs(outputs, inputs) -> None:
    """Refuse an output file that is one of the command's inputs (the photo, a script, the checkpoint): writing it
    would replace the input."""
    read = {Path(p).resolve(): p for p in inputs if p is not None and Path(p).exists()}
    for out in outputs:
        if out is not None and Path(out).exists() and Path(out).resolve() in read:
            raise click.UsageError(f"{out} is this command's input {read[Path(out).resolve()]}; write the output "
                                   "elsewhere")


def _pt_path(ctx, param, value):
    """A checkpoint output: a .pt file, so that no photo or folder is overwritten by a typo."""
    if value is not None and value.suffix.lower() != ".pt":
        raise click.BadParameter(f"{value}: name a .pt file (a checkpoint), e.g. model.pt", ctx, param)
    return value


def _frames_paths(ctx, param, value):
    """Animation outputs: each a kind write_frames writes, each named once, checked before anything is drawn."""
    from .frames import check_output

    seen = set()
    for path in value or ():
        try:
            check_output(path)
        except EmosketchError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        if Path(path).resolve() in seen:
            raise click.BadParameter(f"{path} is named twice; each output is written once", ctx, param)
        seen.add(Path(path).resolve())
    return value


def _host_names(ctx, param, value):
    """Host names for serve --allow-host: letters, digits, dots and hyphens, lower-cased (what a Host header
    compares with)."""
    import re

    for name in value:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", name):
            raise click.BadParameter(f"{name!r}: a host name is letters, digits, dots and hyphens, e.g. "
                                     "raspberrypi.local (IP addresses are always answered)", ctx, param)
    return tuple(name.lower() for name in value)


def _png_out(ctx, param, value: Path) -> Path:
    """A PNG output (a plot): named .png, in a place that can be written."""
    from .atomic import check_place

    if value.suffix.lower() != ".png":
        raise click.BadParameter(f"{value}: a plot is a PNG; name it .png, e.g. plot.png", ctx, param)
    try:
        check_place(value)
    except EmosketchError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


OUT_OF_MEMORY = "out of memory: a smaller job (fewer frames, a smaller size or --batch) fits"
STOPPED = ("every output is written whole or not at all, so nothing half-written was left; run the command again "
           "(prepare resumes where it stopped; classifier train goes on with --resume)")  # Ctrl-C or SIGTERM
SERVE_STOPPED = "the mirror stopped; it writes no files, and its sessions lived in memory only"
_stop = {"message": STOPPED}  # what Ctrl-C and SIGTERM say: serve sets its own


class Group(click.Group):
    """Shows library errors and OS errors (missing files, a full disk) as one line, exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EmosketchError as exc:
            raise click.ClickException(safe(exc)) from None  # one line, even where a path holds a line break
        except BrokenPipeError:  # `emosketch dataset info DS | head -1`: click's own main exits quietly
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(safe(f"{where}{exc.strerror or exc}")) from None
        except click.exceptions.ClickException as exc:  # click's own (a bad --out named in a usage error)
            exc.message = safe(exc.message)
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:  # Ctrl-C (click alone says "Aborted!" and exits 1): what happened, and exit 130
            click.echo(f"interrupted: {_stop['message']}", err=True)
            raise click.exceptions.Exit(130) from None
        except MemoryError:
            raise click.ClickException(OUT_OF_MEMORY) from None
        except Exception as exc:  # noqa: BLE001 -- any error no check caught yet (a csv.Error, a ValueError...):
            # still one line, and EMOSKETCH_DEBUG=1 shows where it came from
            if os.environ.get("EMOSKETCH_DEBUG"):
                raise
            if isinstance(exc, RuntimeError) and any(w in str(exc) for w in ("can't allocate memory", "out of memory",
                                                                           "DefaultCPUAllocator")):
                raise click.ClickException(OUT_OF_MEMORY) from None  # torch's allocators raise RuntimeError
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            if isinstance(exc, ImportError):  # torch under a memory limit: "failed to map segment from shared object"
                hint = ("not enough address space to map it: raise the memory limit (ulimit -v)"
                        if "map" in str(exc) else "reinstall emosketch (make install in a checkout, or pip install)")
                raise click.ClickException(f"cannot load {exc.name or 'a library'} ({first}); {hint}") from None
            raise click.ClickException(f"unexpected {type(exc).__name__}: {first} (a value out of range? "
                                       "EMOSKETCH_DEBUG=1 shows where)") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emosketch")
def cli() -> None:
    """emosketch: faces to emotion-driven line-drawing animations for tiny monochrome screens.

    \b
    Examples:
      emosketch demo --out demo-out
      emosketch pack --input me.jpg --out me-pack           # a photo -> an OLED pack, by the shipped model
      emosketch prepare --source ferplus:../shared/data/ferplus --size 128 --out data/ferplus-128 -j 2
      emosketch train --config configs/train-tiny-cpu.yaml --data data/synthetic-64 --out runs/tiny
      emosketch interpolate --checkpoint runs/tiny/checkpoint.pt --input face.png --from neutral --to happy --out t.gif
      emosketch agent --checkpoint runs/tiny/checkpoint.pt --input face.png --script configs/agent-demo.yaml --out a.mp4
      emosketch dataset info data/ferplus-128 --grid grid.png
      emosketch export happy.gif sad.gif --out pack --verify
      emosketch export frames.npz --out uno-pack --max-bytes 12300   # an Uno's flash, beside its player
      emosketch stylegan2 generate --model network-snapshot-000400.pkl --seeds 0-7 --out gen
    """


# The exporter's choices (export.dither.MODES, "auto" + export.framing.FRAMINGS), spelled once here
# so the CLI starts without importing OpenCV; tests/test_framing.py checks they agree.
DITHERS = ("lineart", "threshold", "otsu", "floyd-steinberg", "atkinson", "bayer2", "bayer4", "bayer8", "bluenoise")
FRAMINGS = ("auto", "brows-chin", "forehead-chin", "head", "brows-mouth", "eyes")
FILLS = ("bluenoise", "bayer2", "bayer4", "bayer8", "none")  # export.dither.FILLS
PANEL_STROKE_LEVEL = 200  # export.panel.PANEL.dither.stroke_level (pack's and export's default, the panel's)
TFT_PANELS = ("st7789-240x240", "st7789-135x240", "ili9341-320x240")  # export.tft.PANELS, checked by a test


def _panel_drawing_options(fn):
    """--line / --fill / --stroke-level / --pen-coding / --polarity / --min-stroke / --stable, whose defaults
    are the panel drawing's (export.panel.PANEL): pack and export draw alike unless told otherwise."""
    for opt in reversed([
        click.option("--line", type=click.IntRange(1, 2), default=2, show_default=True,
                     help="With --thin: redraw the one-pixel skeleton this many pixels wide (2: an even "
                          "2 px line, which reads best on the panel; 1 packs smaller)."),
        click.option("--fill", type=click.Choice(FILLS), default="none", show_default=True,
                     help="lineart: the mask that dithers tonal areas between stroke and paper (none: "
                          "strokes only, the cleanest face and the smallest pack)."),
        click.option("--stroke-level", type=click.IntRange(0, 255), default=PANEL_STROKE_LEVEL, show_default=True,
                     help="lineart: every pixel darker than this gray level (0 ink .. 255 paper) is a stroke; "
                          "higher draws bolder, more continuous strokes."),
        click.option("--pen-coding/--no-pen-coding", default=True, show_default=True,
                     help="With --line 2: store the 1 px skeletons, which the players draw with a 2x2 pen "
                          "(about 15% smaller); --no-pen-coding stores the lines as shown."),
        click.option("--polarity", type=click.Choice(["ink", "paper"]), default="paper", show_default=True,
                     help="paper: the panel is lit and the strokes dark, as the sketch is drawn (raters read it "
                          "best); ink: the strokes light the pixels (a dark panel, less current)."),
        click.option("--min-stroke", default=4, show_default=True, type=click.IntRange(0, 64),
                     help="Drop ink specks of fewer pixels than this (0 keeps every speck)."),
        click.option("--stable/--no-stable", default=None,
                     help="Temporal hysteresis against flicker [default: on for lineart and the mask dithers, "
                          "which it needs]."),
    ]):
        fn = opt(fn)
    return fn


def _given(ctx: click.Context, *names: str) -> list[str]:
    """The options among `names` (parameter names) that the user gave, as they are spelled on the command line."""
    from click.core import ParameterSource

    spelled = {p.name: p.opts[0] for p in ctx.command.params}
    return [spelled[n] for n in names if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE,
                                                                          ParameterSource.ENVIRONMENT)]


def _check_companions(ctx: click.Context, thin: bool) -> None:
    """Options that only act with another: --line is the pen --thin redraws its skeletons with, --pen-coding
    stores the strokes of --line 2, --level is --dither threshold's, --fill and --stroke-level are --dither
    lineart's, and --framing and --max-stretch choose the band of --mode face; given without it, each would
    do nothing."""
    if not thin and _given(ctx, "line"):
        raise click.UsageError("--line is the pen --thin redraws its one-pixel strokes with; add --thin")
    if (ctx.params.get("line") != 2 or not thin) and _given(ctx, "pen_coding"):
        raise click.UsageError("--pen-coding/--no-pen-coding: how the strokes of --thin --line 2 are stored; add "
                               "--thin --line 2, or leave it out")
    dither = ctx.params.get("dither_mode")
    if dither != "threshold" and _given(ctx, "level"):
        raise click.UsageError(f"--level is the gray level of --dither threshold; add --dither threshold (--dither "
                               f"{dither} sets its own), or leave it out")
    lineart = _given(ctx, "fill", "stroke_level")
    if dither != "lineart" and lineart:
        raise click.UsageError(f"{', '.join(lineart)}: for --dither lineart (the default); --dither {dither} "
                               "would ignore it")
    band = _given(ctx, "framing", "max_stretch")
    if band and ctx.params.get("mode") != "face":
        raise click.UsageError(f"{', '.join(band)}: the band of the face that --mode face stretches across the panel; "
                               f"add --mode face (--mode {ctx.params.get('mode')} draws the whole picture)")


def _names(ctx, param, value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of names, or None when the option is left out; given, it must name one."""
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise click.BadParameter(f"{value!r} names none; give e.g. happy,sad, or leave the option out for all",
                                 ctx, param)
    return names


def _pack_name(ctx, param, value: str) -> str:
    """--name: the identifier the C header and the MicroPython module are named by; one that must be rewritten to
    be one is said so, since the Arduino example has to include it by that name."""
    from .export.pack import identifier

    if not value.strip() or len(value) > 64:
        raise click.BadParameter(f"{value!r:.80}: give a name of 1 to 64 characters, e.g. face", ctx, param)
    if identifier(value) != value:
        click.echo(f"note: --name {value!r} is written as {identifier(value)!r} (lower-case letters, digits and _, "
                   "from a letter, and no C or Python keyword)")
    return value


SH1106_NOTE = ("an sh1106 pack is the controller's own 132-column RAM, for code that writes it directly; u8g2's and "
               "Adafruit_SH1106G's SH1106 drivers (and MicroPython's sh1106) keep a 128-column buffer and add the offset "
               "themselves, so with them (and the examples) make the default ssd1306 pack and use their SH1106 "
               "constructor")


def _format_name(fmt: str) -> str:
    """--format as the format it names (an alias or another case resolved)."""
    from .export.pixels import pixel_format

    return pixel_format(fmt).name


def _panel_codec(codec: str | None, fmt: str, width: int, height: int) -> str:
    """--codec, or where it is not given the panel's (ctx where its 8x8 blocks tile the frame, said so when it
    is not); and a note when a page-layout pack is larger than the controller its format is named after shows
    (the layout serves other page controllers too, so the pack is written, but an SSD1306 itself would wrap it).
    A size no pack holds gets no note: it is refused later, in one line."""
    from .export.pack import MAX_FRAME_BYTES, panel_codec
    from .export.pixels import pixel_format

    f = pixel_format(fmt)
    chosen = codec or panel_codec(fmt, width, height)
    if f.frame_bytes(width, height) <= MAX_FRAME_BYTES:
        shows = {"ssd1306": "an SSD1306 shows at most 128x64", "sh1106": "an SH1106 shows at most 128x64 (132x64 of RAM)"}
        if f.name in shows and (width > 128 or height > 64):
            click.echo(f"note: {shows[f.name]}; these {width}x{height} frames in its page layout are for a larger "
                       "page-layout panel")
        if codec is None and chosen != "ctx":
            from .export.ctx import BLOCK, MAX_BLOCK_COLUMNS

            why = (f"frames at most {BLOCK * MAX_BLOCK_COLUMNS} px wide" if width > BLOCK * MAX_BLOCK_COLUMNS
                   else f"whole {BLOCK}x{BLOCK} blocks")  # 320x240 tiles into blocks: it is too wide
            click.echo(f"note: the context codec needs {why}, and a {width}x{height} {fmt} frame is not; "
                       f"using --codec {chosen}")
    return chosen


def _focus(_ctx, _param, value: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected X,Y fractions, e.g. 0.5,0.4") from None
    return x, y


@cli.command("export")
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Pack folder to write.")
@click.option("--size", default="128x64", show_default=True, help="Display WIDTHxHEIGHT (128x32, 64x48, 72x40, 96x16, ...).")
@click.option("--mode", type=click.Choice(["face", "fill", "fit", "stretch"]), default="fit", show_default=True,
              help="fit: the whole picture in the screen, never stretched (the panel drawing of emosketch pack, "
                   "which blind raters read best); face: the face fills the screen (found in the frames); fill: "
                   "crop so the picture covers the screen; stretch: ignore aspect.")
@click.option("--framing", type=click.Choice(FRAMINGS),
              default="auto", show_default=True,
              help="--mode face: the band of the face that fills the screen (auto: brows-chin on 128x64 and "
                   "squarer, brows-mouth on 128x32, eyes on 96x16).")
@click.option("--max-stretch", default=3.0, show_default=True, type=FINITE,
              help="--mode face: how much wider than tall (or taller than wide) the face may be stretched.")
@click.option("--focus", default="0.5,0.5", show_default=True, callback=_focus,
              help="Point of the picture kept in view, as X,Y fractions of its width and height.")
@click.option("--zoom", default=1.0, show_default=True, type=FINITE, help="Zoom factor over the mode's natural scale.")
@click.option("--zoom-to", type=FINITE, default=None, help="Ramp the zoom from --zoom to this over each sequence.")
@click.option("--dither", "dither_mode", default="lineart", show_default=True,
              type=click.Choice(DITHERS),
              help="1-bit conversion. lineart thresholds strokes and dithers only tonal fills.")
@click.option("--level", default=128, show_default=True, help="Gray level for --dither threshold.")
@click.option("--thin", is_flag=True, help="Thin every stroke to one pixel (enlarged faces keep one clean line).")
@_panel_drawing_options
@click.option("--format", "pixel_format", default="ssd1306", show_default=True,
              help="Pixel format: ssd1306 (pages, MONO_VLSB), sh1106, sh1107 (128x128 pages), gfx (Adafruit drawBitmap, MONO_HLSB), "
                   "xbm (u8g2 drawXBMP, MONO_HMSB).")
@click.option("--codec", type=click.Choice(["auto", "raw", "rle", "delta", "ctx"]), default=None,
              help="Frame compression [default: ctx where its 8x8 blocks tile the frame, else auto]. ctx, the "
                   "context codec, is about half the size or less on line art, its 2 KB model included, and an AVR "
                   "(Uno) decodes a full-screen page-format frame in about 40 ms. auto keeps the smallest byte codec "
                   "per frame (the least decode work).")
@click.option("--fps", type=float, default=None, help="Frame rate for inputs that carry none (default 12), or an override.")
@click.option("--max-bytes", type=click.IntRange(1, None), default=None,
              help="Flash budget (e.g. 12300 for an Arduino Uno: what its player and display library leave; see docs/on-the-device.md): the smallest codec (byte codecs, or ctx where "
                   "it is the codec: whichever keeps more frames), then drop frames evenly.")
@click.option("--name", default="pack", show_default=True, callback=_pack_name,
              help="Identifier for the C header and MicroPython module (NAME.h, NAME_pack), as the Arduino examples include it.")
@click.option("--panel", default="white", show_default=True, help="Preview colour: white, blue, yellow, green, yellow-blue or #RRGGBB.")
@click.option("--grid", is_flag=True, help="Draw a pixel grid in the GIF preview.")
@click.option("--verify", is_flag=True, help="Decode the written pack and check it bit for bit.")
@click.option("--force", is_flag=True, help="Replace PACK if it exists.")
def export_cmd(frames, out, size, mode, framing, max_stretch, focus, zoom, zoom_to, dither_mode, level, stable,
               thin, line, fill, stroke_level, pen_coding, polarity, min_stroke, pixel_format, codec, fps, max_bytes, name,
               panel, grid, verify, force) -> None:
    """Turn frames into a 1-bit bitmap pack for a monochrome panel (SSD1306, SH1106, SH1107, or a GFX/XBM bitmap).

    \b
    Examples:
      emosketch export face.png --out pack
      emosketch export happy.gif sad.gif --out pack --verify
      emosketch export frames/ --out pack --size 128x32 --mode fit --dither bayer4 --stable
      emosketch export transition.mp4 --out uno --max-bytes 12300 --format gfx
      emosketch export happy.gif --out zoom --zoom 1 --zoom-to 2 --focus 0.5,0.4
      emosketch export t.npz --out full --mode face --framing brows-chin --thin
      emosketch export t.npz --out panel --mode face --thin --line 2 --fill none --stable --codec ctx

    FRAMES are images, folders of images (one sequence each, in natural order), animated GIFs,
    videos or .npz frame files; each becomes a named sequence. PACK gets manifest.json,
    frames.bin, NAME.h (C/Arduino), NAME.py (MicroPython), preview.gif, contact_sheet.png and
    index.html (plays in a browser). The defaults draw as emosketch pack does (the whole picture
    in the panel's height, bold dark strokes on a lit panel, stable), so the gray frames of
    `pack --frames-out` or the demo export to the panel the pack shows.
    """
    from .export import Dither, ExportOptions, Layout, export, parse_geometry
    from .export.dither import MASK_MODES

    _check_companions(click.get_current_context(), thin)
    width, height = parse_geometry(size)
    named_codec = codec is not None
    codec = _panel_codec(codec, pixel_format, width, height)
    stable = dither_mode in MASK_MODES if stable is None else stable
    opts = ExportOptions(
        layout=Layout(width, height, mode, focus, zoom, zoom_to, framing=framing, max_stretch=max_stretch),
        dither=Dither(mode=dither_mode, level=level, stable=stable, polarity=polarity, thin=thin, line=line, fill=fill,
                      stroke_level=stroke_level, min_stroke=min_stroke),
        pixel_format=pixel_format, codec=codec, max_bytes=max_bytes, name=name, pen_coding=pen_coding,
        keep_codec=named_codec,
    )
    pack = export(list(frames), out, opts, fps=fps, force=force, verify=verify, panel=panel, grid=grid)
    _summary(pack, out, verify)


def _summary(pack, out: Path, verified: bool) -> None:
    m = pack.manifest()
    counts: dict[str, int] = {}
    for f in m["frames"]:
        counts[f["codec"]] = counts.get(f["codec"], 0) + 1
    n = len(pack.sequences)
    click.echo(f"wrote {safe(out)}: {len(pack.payloads)} frame{'s' if len(pack.payloads) != 1 else ''} in {n} sequence{'s' if n != 1 else ''}, "
               f"{pack.width}x{pack.height} {pack.fmt.name}")
    click.echo(f"  {m['total_bytes']} bytes of frames ({m['raw_bytes'] / max(1, m['total_bytes']):.1f}:1 "
               f"vs raw; codecs {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
               f"{m['flash_bytes']} bytes of flash with tables")
    for note in pack.notes:
        click.echo(f"  note: {note}")
    if pack.fmt.name == "sh1106":
        click.echo(f"  note: {SH1106_NOTE}")
    if verified:
        click.echo("  verified: every frame decodes bit for bit")


def _pairs(_ctx, _param, value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        if not part.strip():
            continue
        src, sep, dst = part.partition("=")
        if not sep or not src.strip() or not dst.strip() or "=" in dst:
            raise click.BadParameter(f"{part!r}: expected FROM=TO, one = a pair, e.g. angry=anger,contempt=disgust")
        if src.strip() in out:  # the first would be dropped silently (YAML refuses a key given twice too)
            raise click.BadParameter(f"{src.strip()!r} is mapped twice ({src.strip()}={out[src.strip()]} and "
                                     f"{part.strip()}); give each FROM once")
        out[src.strip()] = dst.strip()
    return out


def _shipped(ctx, param, value):
    """A config path as given, or the package's copy of a config it ships (configs/agent-demo.yaml from any folder)."""
    from .config import shipped_config

    return None if value is None else shipped_config(value)


@cli.command("prepare")
@click.option("--source", "-s", required=True,
              help="KIND:PATH with KIND affectnet, affectnet96, fer2013, ferplus, folder; or 'synthetic'.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Dataset folder to write.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, callback=_shipped,
              help="YAML with any PrepareConfig keys (size, classes, mapping, sketch, face, ...); options override it.")
@click.option("--size", type=int, default=None, help="Side of the square face and sketch in pixels [default: 128].")
@click.option("--classes", default=None, help="Classes to keep, in order, e.g. happy,sad,anger,fear,disgust.")
@click.option("--map", "mapping", default=None, callback=_pairs, help="Rename or merge classes: FROM=TO,...")
@click.option("--sketch", "sketch_method", type=click.Choice(["xdog", "pencil", "canny"]), default=None,
              help="Sketch method [default: xdog].")
@click.option("--face-miss", type=click.Choice(["keep", "skip"]), default=None,
              help="When no face is found: keep the whole image, or skip it [default: keep].")
@click.option("--count", type=int, default=None, help="Faces to render for --source synthetic [default: 8000].")
@click.option("--seed", type=SEED, default=None, help="Seed for synthetic faces and for splits [default: 0].")
@click.option("--soft-labels", is_flag=True, default=None, help="Also write soft_labels.npy from FER+ votes.")
@click.option("--workers", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Parallel worker processes (1 to 64).")
@click.option("--force", is_flag=True, help="Replace DIR if it exists.")
def prepare_cmd(source, out, config_path, size, classes, mapping, sketch_method, face_miss, count, seed,
                soft_labels, workers, force) -> None:
    """Convert a labelled face dataset into a cached sketch dataset for training.

    \b
    Examples:
      emosketch prepare --source synthetic --count 4000 --size 64 --out data/synthetic-64
      emosketch prepare --source ferplus:../shared/data/ferplus --size 128 --out data/ferplus-128 -j 2
      emosketch prepare --source affectnet:/data/AffectNet --classes happy,sad,anger,fear,disgust --out data/an5
      emosketch prepare --source fer2013:fer2013.csv --map disgust=anger --out data/fer2013   # FER2013 has few disgust faces
      emosketch prepare --source folder:photos/ --face-miss skip --sketch pencil --out data/mine

    A killed run resumes when the same command is run again; the dataset appears only when complete.
    """
    from .config import load_config
    from .datasets.prepare import PrepareConfig, prepare

    cfg = load_config(PrepareConfig, config_path, {
        "size": size, "classes": classes, "count": count, "seed": seed, "soft_labels": soft_labels,
        "mapping": mapping, "sketch": {"method": sketch_method} if sketch_method else None,
        "face": {"miss": face_miss} if face_miss else None})
    meta = prepare(source, out, cfg, workers=workers, force=force, log=click.echo)
    n = len(meta["classes"])
    click.echo(f"wrote {safe(out)}: {meta['count']} sketches of {cfg.size}x{cfg.size} in {n} class{'es' if n != 1 else ''} "
               f"({', '.join(meta['classes'])}) in {meta['seconds']:.1f} s")
    if n < 2:
        click.echo("note: training needs two classes or more; this one-class dataset can be sampled from, not trained on")
    if meta["skipped_by_reason"]:
        click.echo("  skipped: " + ", ".join(f"{n} {r}" for r, n in meta["skipped_by_reason"].items()))


@cli.group("dataset")
def dataset_group() -> None:
    """Inspect sketch datasets.

    \b
    Example:
      emosketch dataset info data/ferplus-128 --grid grid.png
    """


@dataset_group.command("info")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--grid", type=click.Path(path_type=Path), default=None, help="Write a sample grid PNG (faces beside sketches).")
@click.option("--per-class", default=6, show_default=True, type=click.IntRange(1, 100), help="Samples per class in the grid.")
@click.option("--sketches-only", is_flag=True, help="Leave the face photos out of the grid.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dataset_info_cmd(path, grid, per_class, sketches_only, as_json) -> None:
    """Counts per class and split, skipped inputs by reason, and a sample grid.

    \b
    Examples:
      emosketch dataset info data/ferplus-128
      emosketch dataset info data/ferplus-128 --grid docs/ferplus-grid.png --per-class 4
    """
    import json

    from .datasets.dataset import info, load, sample_grid

    if grid and grid.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"):
        raise EmosketchError(f"--grid {grid}: name a picture, e.g. grid.png (.png, .jpg, .bmp, .webp or .tif)")
    ds = load(path)
    summary = info(ds)
    if grid:
        from .atomic import atomic_file
        from .frames import write_image

        with atomic_file(grid) as tmp:
            write_image(tmp, sample_grid(ds, per_class, show_faces=not sketches_only))
        summary["grid"] = str(grid)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(f"{path}: {summary['totals']['total']} sketches, {summary['size']} px, "
               f"from {summary['source']['kind']} ({summary['source']['path']})")
    width = max(len(c) for c in summary["classes"] + ["class"])
    click.echo(f"  {'class'.ljust(width)}  {'train':>7} {'val':>7} {'test':>7} {'total':>7}")
    for name, row in list(summary["counts"].items()) + [("all", summary["totals"])]:
        click.echo(f"  {name.ljust(width)}  {row['train']:>7} {row['val']:>7} {row['test']:>7} {row['total']:>7}")
    for reason, n in summary["skipped_by_reason"].items():
        click.echo(f"  skipped {n}: {reason}")
    if grid:
        click.echo(f"  grid: {grid}")


@cli.group("classifier")
def classifier_group() -> None:
    """Train the emotion classifier that judges sketches.

    \b
    Example:
      emosketch classifier train --data data/ferplus-128 --out clf.pt
    """


@classifier_group.command("train")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Sketch dataset (from prepare).")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), callback=_pt_path,
              help="Checkpoint to write (.pt).")
@click.option("--input", "input_kind", type=click.Choice(["sketch", "face"]), default=None,
              help="Train on the sketches or on the face crops [default: sketch].")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, callback=_shipped,
              help="YAML with ClassifierConfig keys (image_size, width, epochs, lr, balance, ...).")
@click.option("--epochs", type=int, default=None, help="At most this many epochs [default: 30].")
@click.option("--image-size", type=int, default=None, help="Network input size [default: 64].")
@click.option("--max-minutes", type=Finite(0, None, min_open=True), default=None, help="Stop after this much training time (checked after each epoch).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--resume", is_flag=True, help="Continue the run saved in --out.")
@click.option("--force", is_flag=True, help="Replace --out if it exists (without --resume).")
def classifier_train_cmd(data, out, input_kind, config_path, epochs, image_size, max_minutes, device, resume, force):
    """Train a compact CNN emotion classifier from scratch, with balanced sampling and early stopping.

    \b
    Examples:
      emosketch classifier train --data data/ferplus-128 --out clf-sketch.pt
      emosketch classifier train --data data/ferplus-128 --input face --out clf-face.pt
      emosketch classifier train --data data/synthetic-64 --out clf-synthetic.pt --epochs 10
      emosketch classifier train --data data/ferplus-128 --out clf-sketch.pt --resume

    The checkpoint is rewritten after every epoch (best epoch + the state to resume from).
    """
    from .config import load_config
    from .evaluate.classifier import ClassifierConfig, train_classifier

    if out.exists() and not (resume or force):
        raise EmosketchError(f"{out}: already exists (pass --resume to continue it or --force to replace it)")
    options = {"input": input_kind, "epochs": epochs, "image_size": image_size, "max_minutes": max_minutes}
    if resume and out.exists() and config_path is None:  # a resumed run keeps its own config
        from .config import from_dict
        from .evaluate.classifier import load_checkpoint

        saved = load_checkpoint(out).get("config") or {}
        cfg = from_dict(ClassifierConfig, {**saved, **{k: v for k, v in options.items() if v is not None}}, str(out))
    else:
        cfg = load_config(ClassifierConfig, config_path, options)
    summary = train_classifier(data, out, cfg, device=device, resume=resume, log=click.echo)
    click.echo(f"wrote {safe(out)}: best validation macro-F1 {summary['best_val_macro_f1']:.3f} after "
               f"{summary['epochs']} epochs, {summary['seconds']:.0f} s")


@cli.command("classify")
@click.argument("checkpoint", type=click.Path(path_type=Path), metavar="MODEL")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--as", "kind", type=click.Choice(["auto", "photo", "sketch"]), default="auto", show_default=True,
              help="Treat inputs as photos (face crop + sketch first) or sketches; auto decides per image.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
def classify_cmd(checkpoint, images, kind, as_json, device):
    """Tell the emotion of each image: label and confidence. MODEL is a classifier checkpoint, or
    `shipped`: the shipped face classifier reads photos and the shipped sketch classifier drawings.

    \b
    Examples:
      emosketch classify shipped face.jpg drawing.png     # no training: the shipped classifiers
      emosketch classify clf.pt face.jpg                  # clf.pt trained on FER+ (a synthetic one reads drawings only)
      emosketch classify clf.pt photos/*.jpg --json
      emosketch classify clf.pt drawing.png --as sketch
    """
    import json

    from .datasets.photo import drawn_whole
    from .evaluate.classify import classify_files
    from .models import default_classifier, default_sketch_classifier

    model = checkpoint
    if str(checkpoint) == "shipped" and not checkpoint.exists():
        model = [default_classifier(), default_sketch_classifier()]
    results = classify_files(model, list(images), kind, device=device)
    if as_json:
        click.echo(json.dumps(results, indent=1))
    else:
        width = max(len(r["file"]) for r in results)
        for r in results:
            if "error" in r:
                click.echo(f"{r['file'].ljust(width)}  skipped: {r['error']}")
            else:
                others = ", ".join(f"{t['label']} {t['p']:.2f}" for t in r["top"][1:])
                whole = "   note: no face found, the whole picture read" if drawn_whole(r["input"]) else ""
                click.echo(f"{r['file'].ljust(width)}  {r['label']:<10} {r['confidence']:.2f}   ({others}){whole}")
    failed = sum("error" in r for r in results)
    if failed == len(results):
        raise EmosketchError("no image could be classified")
    if failed:  # the others' readings are printed; the exit status says not every input was read
        raise EmosketchError(f"{failed} of {len(results)} images could not be classified (skipped above)")


@cli.command("evaluate")
@click.option("--classifier", "classifier_path", required=True, type=click.Path(path_type=Path),
              help="Classifier checkpoint (from `classifier train`).")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Sketch dataset to judge on.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Report folder to write.")
@click.option("--checkpoint", "generator_path", type=click.Path(path_type=Path), default=None,
              help="Judge this generator checkpoint (from `train`).")
@click.option("--baseline", type=click.Choice(["input", "oracle", "warp"]), default=None,
              help="Judge a baseline generator: the untouched input, the synthetic ground truth, or the "
                   "input warped along each emotion's mean motion (fitted on the data's train split).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--faces", default=64, show_default=True, type=click.IntRange(1, 100_000),
              help="Test faces for a generator (each to every other emotion).")
@click.option("--lpips-trunk", type=click.Path(path_type=Path), default=None,
              help="AlexNet weights for LPIPS (alexnet-owt-7be5be79.pth); without them distances are L1.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--force", is_flag=True, help="Replace the report folder if it exists.")
def evaluate_cmd(classifier_path, data, out, generator_path, baseline, split, faces, lpips_trunk, device, force):
    """Judge a classifier, or a generator, on a dataset split: report.json, report.md, confusion.png.

    \b
    Examples:
      emosketch evaluate --classifier clf.pt --data data/ferplus-128 --split val --out reports/clf
      emosketch evaluate --checkpoint runs/tiny/checkpoint.pt --classifier clf.pt --data data/synthetic-64 --out reports/g
      emosketch evaluate --classifier clf.pt --data data/synthetic-64 --baseline input --out reports/input
      emosketch evaluate --classifier clf.pt --data data/synthetic-64 --baseline oracle --out reports/oracle
      emosketch evaluate --classifier runs/fer6-guide.pt --data data/fer6-64 --split val --baseline warp --out reports/warp

    A classifier gets accuracy, macro-F1, per-class precision/recall/F1 and one-vs-rest ROC AUC,
    the confusion matrix and the expected calibration error. A generator gets target-emotion
    accuracy (judged by the classifier), identity preservation (cycle L1, LPIPS), diversity,
    perceptual path length and, on synthetic data, L1 and stroke IoU to the ground truth.
    """
    if generator_path is not None and baseline is not None:
        raise EmosketchError("give --checkpoint or --baseline, not both")
    if generator_path is None and baseline is None:
        from .evaluate.report import evaluate_classifier

        rep = evaluate_classifier(classifier_path, data, out, split, device=device, force=force)
        click.echo(f"wrote {safe(out)}: accuracy {rep['accuracy']:.3f}, macro-F1 {rep['macro_f1']:.3f}, "
                   f"ECE {rep['ece']:.3f} on {rep['n']} {split} images")
        return
    from .evaluate.report import baseline_translator, judge_translator

    if generator_path is not None:
        from .gan.sample import GanTranslator

        translator, name = GanTranslator(generator_path, device), Path(generator_path).parent.name or "generator"
    else:
        translator, name = baseline_translator(baseline, data), baseline
    rep = judge_translator(translator, name, data, classifier_path, out, split, faces, lpips_trunk, device, force,
                           log=click.echo)
    click.echo(f"wrote {safe(out)}: target-emotion accuracy {rep['target_accuracy']:.3f}, cycle L1 "
               f"{rep['cycle_l1']:.4f}, diversity {rep['diversity']:.4f}, PPL {rep['ppl']['ppl']:.1f}")


@cli.command("train")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, callback=_shipped,
              help="YAML training config (see configs/train-*.yaml).")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Sketch dataset (from prepare).")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Run folder.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--steps", type=click.IntRange(1, 100_000_000), default=None,
              help="Stop at this step (the schedule follows the config's steps).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
def train_cmd(config_path, data, out, resume, steps, device):
    """Train the emotion-conditioned sketch generator.

    \b
    Examples:
      emosketch train --config configs/train-tiny-cpu.yaml --data data/synthetic-64 --out runs/tiny
      emosketch train --config configs/train-ferplus-64.yaml --data data/ferplus-64 --out runs/fer
      emosketch train --config configs/train-tiny-cpu.yaml --data data/synthetic-64 --out runs/tiny --resume

    The run folder gets checkpoint.pt (every checkpoint_every steps, and on Ctrl-C or SIGTERM),
    log.jsonl, samples/stepNNNNNNN.png (sources x emotions) and config.json. The folder is
    locked while it trains. Exit status: 0 when the run reached its step, 130 when stopped by
    Ctrl-C (SIGINT) and 143 by SIGTERM, after the checkpoint is saved; 1 on an error.
    """
    from .config import load_config
    from .gan.train import TrainConfig, train

    cfg = load_config(TrainConfig, config_path, {})
    result = train(cfg, data, out, resume=resume, device=device, steps=steps, log=click.echo)
    click.echo(f"{out}: step {result['step']}, {result['images_per_s']:.1f} images/s, ADA p {result['ada_p']:.3f}")
    if result["stopped"]:
        click.get_current_context().exit(128 + int(signal.Signals[result["stopped"]]))


@cli.command("slim")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), callback=_pt_path,
              help="Slim checkpoint to write (.pt).")
@click.option("--note", default=None, help="A line of text kept in the file (how it was made).")
@click.option("--draw-size", type=click.IntRange(1, 4096), default=None,
              help="A warp generator: draw at this side (a power of two above its size). Its networks read "
                   "the sketch shrunk to their size; its strokes are moved and painted at this one.")
@click.option("--photo-margin", type=FINITE, default=None,
              help="Frame a photo's face box with this fraction a side when the model reads it (as its "
                   "training faces were framed; prepare measures it for data cropped by the dataset's boxes).")
@click.option("--mix", "mixes", multiple=True, metavar="EMOTION=EMOTION:W[,EMOTION:W]",
              help="A generator: draw EMOTION as this blend of its style codes wherever it is asked for "
                   "(repeatable; weights are normalised to sum to 1, none over 4 after; a negative one steps away from "
                   "that style), "
                   "e.g. fear=fear:0.7,surprise:0.3 or fear=fear:1,happy:0.4,neutral:-0.4.")
@click.option("--resumable", is_flag=True,
              help="A generator run: keep every network (bfloat16) and the run's state but not the optimisers' "
                   "moments, about a quarter of the size; put it in a run folder as checkpoint.pt to --resume.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists (never the checkpoint being read).")
def slim_cmd(checkpoint, out, note, draw_size, photo_margin, mixes, resumable, force):
    """Reduce a training checkpoint to a model to ship. A generator keeps the EMA weights of G, F
    and E, the config, classes and dataset settings (what sampling, interpolate, agent and pack
    need); a classifier keeps its best epoch's weights, config, classes and dataset settings.
    Neither can resume; with --resumable a generator run keeps what resuming needs, at about a
    quarter of its size.

    \b
    Examples:
      emosketch slim runs/fer6-coarse8k/checkpoint.pt --out emosketch/models/generator-fer6-coarse-64.pt
      emosketch slim runs/tiny/checkpoint.pt --out tiny.pt --note "train-tiny-cpu, 2,400 steps"
      emosketch slim runs/fer6-coarse8k/checkpoint.pt --draw-size 128 --out g128.pt
      emosketch slim runs/fer6-face.pt --out emosketch/models/classifier-fer6-face-64.pt
      emosketch slim runs/fer6/checkpoint.pt --photo-margin 0.1 --out g.pt
      emosketch slim emosketch/models/generator-fer6-128.pt --mix fear=fear:0.7,surprise:0.3 --out g-fear.pt
      emosketch slim runs/fer6-128-cpu/checkpoint.pt --resumable --out carry/checkpoint.pt
    """
    from .checkpoints import stored_format
    from .datasets.photo import with_photo_margin
    from .evaluate.classifier import FORMAT_NAME as CLASSIFIER_FORMAT
    from .evaluate.classifier import slim_classifier
    from .gan.checkpoint import lift, load_checkpoint, save_checkpoint, slim
    from .gan.mixes import describe, mix_matrix, parse_mix

    _not_inputs([out], [checkpoint])  # a run's checkpoint written over by its slim copy could not resume
    if (out.exists() or out.is_symlink()) and not force:
        raise EmosketchError(f"{out}: already exists (pass --force to replace it)")
    parsed = [parse_mix(m) for m in mixes]  # a bad --mix is one line before any work
    mixed = dict(parsed)
    if len(mixed) < len(parsed):
        twice = sorted({e for e, _ in parsed if [x for x, _ in parsed].count(e) > 1})
        raise click.UsageError(f"--mix gives {', '.join(twice)} more than once; give each emotion one blend")

    kind = stored_format(checkpoint)  # None: the generator loader names what is wrong with the file
    if kind == CLASSIFIER_FORMAT:
        if draw_size or mixed:
            raise click.UsageError("--draw-size and --mix are for generators; a classifier reads at its own size")
        state = slim_classifier(checkpoint, out, note, photo_margin)
        params = sum(v.numel() for v in state["model"].values())
        click.echo(f"wrote {safe(out)}: classifier, epoch {state.get('epoch')}, {params:,} values, "
                   f"{out.stat().st_size / 1e6:.1f} MB")
        return
    if resumable:
        if draw_size or note or photo_margin is not None or mixed:
            raise click.UsageError("--resumable keeps a run as it is: no --draw-size, --note, --photo-margin or --mix")
        from .gan.checkpoint import compact

        state = compact(load_checkpoint(checkpoint))
        save_checkpoint(out, state)
        click.echo(f"wrote {safe(out)}: step {state['step']}, resumable (bfloat16, no optimiser moments), "
                   f"{out.stat().st_size / 1e6:.1f} MB")
        return
    if draw_size:
        state = lift(load_checkpoint(checkpoint), draw_size, note)
        if photo_margin is not None:
            state["dataset"] = with_photo_margin(state.get("dataset") or {}, photo_margin)
    else:
        state = slim(load_checkpoint(checkpoint), note, photo_margin)
    if mixed:
        state["mixes"] = {**(state.get("mixes") or {}), **mixed}
        mix_matrix(state["mixes"], list(state.get("classes") or []), "--mix")  # the model's emotions, or one line
    from .gan.sample import networks_from_state

    networks_from_state(state, checkpoint)  # what sample, pack and serve will build from it: a damaged file stops here
    save_checkpoint(out, state)
    params = sum(v.numel() for v in state["ema"].values())
    click.echo(f"wrote {safe(out)}: step {state['step']}, draws {state['image_size']} px, {params:,} parameters, {out.stat().st_size / 1e6:.1f} MB"
               + (f"; draws {describe(state['mixes'])}" if state.get("mixes") else ""))


@cli.command("sample")
@click.option("--checkpoint", default=None, type=click.Path(path_type=Path),
              help="Generator checkpoint [default: the shipped model, emosketch.models.default_generator()].")
@click.option("--input", "inputs", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Image or folder (repeatable). Photos get the face crop and sketch of the training data.")
@click.option("--emotions", default=None, callback=_names,
              help="Comma-separated emotions [default: all of the checkpoint's].")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Folder for the PNGs.")
@click.option("--styles", default=1, show_default=True, type=click.IntRange(1, 64), help="Latent codes per emotion.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--as", "kind", type=click.Choice(["auto", "photo", "sketch"]), default="auto", show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--gray", is_flag=True,
              help="Write the network's gray output (soft stroke edges) instead of pure ink and paper.")
def sample_cmd(checkpoint, inputs, emotions, out, styles, seed, kind, device, force, gray):
    """Redraw faces with chosen emotions.

    \b
    Examples:
      emosketch sample --checkpoint runs/tiny/checkpoint.pt --input face.png --emotions happy,sad --out samples
      emosketch sample --input photos/ --out samples --styles 3    # the shipped model
      emosketch sample --input face.jpg --out samples --gray      # the network's soft-edged strokes

    For each picture NAME: NAME_EMOTION.png (NAME_EMOTION_K.png with --styles), and NAME.png, the input
    sketch and each drawing side by side, each column named above it.
    """
    from .atomic import check_outside
    from .gan.sample import sample

    check_outside(out, inputs)
    checkpoint = _generator(checkpoint)
    result = sample(checkpoint, list(inputs), list(emotions) if emotions else None, out, styles, seed, kind, device,
                    force, gray)
    click.echo(f"wrote {safe(out)}: {len(result['written'])} rows x {len(result['emotions'])} emotions")
    for w in result["written"]:
        if w.get("input"):
            click.echo(f"  {w['file']}: {w['input']}")
    for s in result["skipped"]:
        click.echo(f"  skipped {s['file']}: {s['error']}")
    if result["skipped"]:  # the others are written; the exit status says not every input was, as classify's
        raise EmosketchError(f"{len(result['skipped'])} of {len(result['skipped']) + len(result['written'])} inputs "
                             "could not be redrawn (skipped above)")


def _generator(checkpoint: Path | None) -> Path:
    """--checkpoint, or the generator that ships with emosketch when it is left out."""
    if checkpoint is not None:
        return checkpoint
    from .models import default_generator

    return default_generator()


def _face_options(fn):
    """--input / --data / --index / --as: where the face to redraw comes from."""
    for opt in reversed([
        click.option("--input", "image", type=click.Path(path_type=Path), default=None,
                     help="Face image: a photo (cropped and sketched as the training data was) or a sketch."),
        click.option("--data", type=click.Path(path_type=Path), default=None,
                     help="Or a sketch dataset: use its test face number --index."),
        click.option("--index", default=0, show_default=True, help="Which test face of --data."),
        click.option("--as", "kind", type=click.Choice(["auto", "photo", "sketch"]), default="auto", show_default=True,
                     help="How to read --input."),
    ]):
        fn = opt(fn)
    return fn


def _style_options(fn):
    for opt in reversed([
        click.option("--seed", default=0, show_default=True, type=SEED,
                     help="Latent seed: which variant of each emotion's style."),
        click.option("--psi", default=1.0, show_default=True, type=PSI,
                     help="Truncation toward each emotion's mean style (0 = the mean, 1 = none)."),
        click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto."),
        click.option("--batch", default=32, show_default=True, type=BATCH, help="Frames per forward pass."),
    ]):
        fn = opt(fn)
    return fn


def face_note(how: str) -> str | None:
    """The note for a photo of several people, one whose face was found tilted and is drawn turned upright, or
    one in which the face detector found no frontal face; else None."""
    from .datasets.face import people_in
    from .datasets.photo import drawn_whole

    if people_in(how) > 1:
        return (f"{people_in(how)} faces were found in the photo and the largest is drawn; to draw another, crop the "
                "photo to that face")
    if "(read as a drawing)" in how:
        return ("the picture looks like a line drawing, so it is redrawn as it is, with no face found in it; if it "
                "is a photo, give --as photo")
    if "turned" in how:
        turn = how.split("turned ")[1].split(" deg")[0]
        return (f"the face was found tilted and is drawn turned upright ({turn} degrees); a face cropped from "
                "the photo by hand, level, frames it exactly")
    if not drawn_whole(how):
        return None
    if how.startswith("StyleGAN2 "):
        return ("no frontal face found in the StyleGAN2 model's picture at this seed, so the whole picture is "
                "sketched; another --seed may draw a frontal face, which reads best")
    return ("no frontal face found in the photo, so the whole picture is drawn; a face turned away or partly "
            "covered seldom reads on the panel (blind raters saw a face at once in 0.22 of such FER+ faces' panels "
            "and read 0.38 of their emotions, against 0.70 and 0.73 where a face was found, over 22 rounds: README). "
            "A frontal photo, or a crop of the face, reads best.")


def _echo_face(how: str) -> None:
    note = face_note(how)
    if note:
        click.echo(f"  note: {note}")


def _echo_results(res) -> None:
    _echo_face(res.face)
    for note in res.notes:
        click.echo(f"  note: {note}")
    for path in res.written:
        click.echo(f"  wrote {safe(path)}")


@cli.command("interpolate")
@click.option("--checkpoint", default=None, type=click.Path(path_type=Path),
              help="Generator checkpoint [default: the shipped model, emosketch.models.default_generator()].")
@_face_options
@click.option("--timeline", type=click.Path(path_type=Path), default=None, callback=_shipped,
              help="YAML timeline (see configs/timeline-demo.yaml).")
@click.option("--from", "start", default=None, help="Start emotion (without --timeline).")
@click.option("--to", "end", default=None, help="End emotion (without --timeline).")
@click.option("--frames", default=31, show_default=True, type=click.IntRange(2, MAX_FRAMES),
              help="Frames of the move, both ends included.")
@click.option("--hold", default=6, show_default=True, type=click.IntRange(0, MAX_FRAMES), help="Frames to hold the end emotion.")
@click.option("--ease", "easing", type=click.Choice(["linear", "cosine", "smoothstep", "sigmoid"]),
              default="sigmoid", show_default=True)
@click.option("--intensity", default=1.0, show_default=True, type=Finite(0.1, 3.0),  # 0 would draw no emotion
              help="Strength of both emotions (>1 exaggerates).")
@click.option("--fps", type=FPS, default=None, help="Frame rate [default: the timeline's, else 12].")
@click.option("--mode", type=click.Choice(["lerp", "slerp"]), default="lerp", show_default=True,
              help="How style codes are interpolated.")
@click.option("--space", type=click.Choice(["style", "z"]), default="style", show_default=True,
              help="style: move between style codes at one latent; z: also slerp the latent to --seed-to.")
@click.option("--seed-to", type=SEED, default=None, help="End latent seed for --space z.")
@click.option("--side-by-side", "side", is_flag=True, help="GIF/MP4 show source | sketch | OLED preview.")
@click.option("--out", "-o", "outputs", multiple=True, required=True, type=click.Path(path_type=Path),
              callback=_frames_paths,
              help="Output (repeatable): .gif, .mp4, .npz (frames for `emosketch export`) or a folder of PNGs.")
@_style_options
def interpolate_cmd(checkpoint, image, data, index, kind, timeline, start, end, frames, hold, easing, intensity,
                    fps, mode, space, seed_to, side, outputs, seed, psi, device, batch):
    """Render a face moving between emotions through the generator's style space.

    \b
    Examples:
      emosketch interpolate --input me.jpg --from neutral --to happy --out t.gif     # the shipped model: no training
      emosketch interpolate --input me.jpg --timeline configs/timeline-demo.yaml --out t.mp4 --out t.npz --side-by-side
      emosketch interpolate --checkpoint runs/tiny/checkpoint.pt --data data/synthetic-64 --from neutral --to happy --out t.gif
      emosketch interpolate --checkpoint runs/tiny/checkpoint.pt --data data/synthetic-64 --from sad --to happy --ease cosine --mode slerp --intensity 1.3 --out t.gif
    """
    from .interpolate.animate import FaceSource, Styles, TransitionSpec, transition_video

    _not_inputs(outputs, [image, timeline, checkpoint])
    spec = TransitionSpec(tuple(outputs), timeline, start, end, frames, hold, easing, fps, mode, space, seed_to,
                          intensity, side)
    res = transition_video(_generator(checkpoint), spec, face=FaceSource(image, data, index, kind),
                           styles=Styles(seed, psi), device=device, batch=batch, show_progress=True)
    click.echo(f"{res.frames} frames at {res.fps:g} fps from {res.face}")
    _echo_results(res)


@cli.command("agent")
@click.option("--checkpoint", default=None, type=click.Path(path_type=Path),
              help="Generator checkpoint [default: the shipped model, emosketch.models.default_generator()].")
@_face_options
@click.option("--script", required=True, type=click.Path(path_type=Path), callback=_shipped,
              help="YAML stimulus script (see configs/agent-demo.yaml).")
@click.option("--out", "-o", "outputs", multiple=True, type=click.Path(path_type=Path), callback=_frames_paths,
              help="Output (repeatable): .gif, .mp4, .npz or a folder of PNGs.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, callback=lambda c, p, v: v and _png_out(c, p, v),
              help="PNG of the channels over time with the frames beneath.")
@click.option("--side-by-side", "side", is_flag=True, help="GIF/MP4 show source | sketch | OLED preview.")
@_style_options
def agent_cmd(checkpoint, image, data, index, kind, script, outputs, plot, side, seed, psi, device, batch):
    """Drive the face from the agent emotion model: stimuli rise into channels and fade.

    \b
    Examples:
      emosketch agent --input me.jpg --script configs/agent-demo.yaml --out agent.mp4 --plot agent.png   # the shipped model
      emosketch agent --checkpoint runs/tiny/checkpoint.pt --data data/synthetic-64 --script configs/agent-demo.yaml --out agent.mp4 --plot agent.png
      emosketch agent --checkpoint runs/tiny/checkpoint.pt --input face.png --script my-script.yaml --out agent.gif --side-by-side

    A script is YAML: fps, duration, optional agent settings (half_life per channel, emotions a
    channel shows as, rise, overthrow...) and stimuli: [{t: 1.0, channel: joy, amount: 0.8}, ...].
    Channels: fear, mad, joy, love, sad, surprise, power.
    """
    from .interpolate.animate import AgentSpec, FaceSource, Styles, agent_video

    _not_inputs([*outputs, plot], [image, script, checkpoint])
    res = agent_video(_generator(checkpoint), AgentSpec(script, tuple(outputs), plot, side),
                      face=FaceSource(image, data, index, kind), styles=Styles(seed, psi), device=device, batch=batch,
                      show_progress=True)
    click.echo(f"{res.frames} frames at {res.fps:g} fps from {res.face}: {res.stimuli} stimuli, "
               f"{res.dominant_changes} changes of the dominant channel")
    _echo_results(res)


@cli.command("search")
@click.option("--checkpoint", default=None, type=click.Path(path_type=Path),
              help="Generator checkpoint [default: the shipped model, emosketch.models.default_generator()].")
@click.option("--classifier", default=None, type=click.Path(path_type=Path),
              help="Sketch classifier that guides the search [default: the shipped one, "
                   "emosketch.models.default_sketch_classifier()].")
@_face_options
@click.option("--target", required=True, help="The emotion to reach, e.g. happy.")
@click.option("--start", default="neutral", show_default=True, help="The emotion the path starts from.")
@click.option("--out", "-o", "outputs", multiple=True, required=True, type=click.Path(path_type=Path),
              callback=_frames_paths,
              help="Output (repeatable): .gif, .mp4, .npz or a folder of PNGs.")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(0, 1000), help="Gradient steps at most.")
@click.option("--lr", default=0.1, show_default=True, type=Finite(1e-4, 1.0), help="Step size on the style code.")
@click.option("--stop-at", default=0.9, show_default=True, type=Finite(0.01, 1.0),
              help="Stop once the guide reads the target this surely.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Latent seed of the codes.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
def search_cmd(checkpoint, classifier, image, data, index, kind, target, start, outputs, steps, lr, stop_at, seed, device):
    """Make it smile: search the generator's style space for the code that makes this face read as
    TARGET, and write the path there as an animation (source | sketch | OLED).

    \b
    Examples:
      emosketch search --target happy --input face.png --out path.gif
      emosketch search --target surprise --input me.jpg --start sad --steps 40 --out path.mp4 --out path.npz

    The path goes from START's code straight to TARGET's code, then climbs the guide classifier's
    probability of TARGET by gradient ascent through the generator, until it reaches --stop-at.
    """
    from .interpolate.animate import FaceSource
    from .interpolate.search import SearchConfig, search_video
    from .models import default_sketch_classifier

    if image is None and data is None:
        raise EmosketchError("give the face: --input IMAGE (or --data DATASET --index N)")
    _not_inputs(outputs, [image, checkpoint, classifier])
    run = search_video(_generator(checkpoint), classifier or default_sketch_classifier(), target, list(outputs),
                       face=FaceSource(image, data, index, kind), start=start,
                       config=SearchConfig(steps=steps, lr=lr, stop_at=stop_at, seed=seed), device=device)
    p = run.target_p
    click.echo(f"{run.face}: {run.target} read at p {p[0]:.2f} at the start, {p[run.climb_from]:.2f} with its "
               f"own code, {p[-1]:.2f} at the end ({len(p)} frames); the guide's top emotion is {run.top}: "
               + ("reached" if run.reached else "not reached"))
    for path in run.written:
        click.echo(f"  wrote {safe(path)}")


@cli.command("pack")
@click.option("--checkpoint", default=None, type=click.Path(path_type=Path),
              help="Generator checkpoint [default: the shipped model, emosketch.models.default_generator()].")
@_face_options
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Pack folder to write.")
@click.option("--emotions", default=None, callback=_names,
              help="Comma-separated emotions [default: all of the checkpoint's].")
@click.option("--transition-frames", default=10, show_default=True, type=click.IntRange(2, 600),
              help="Frames per transition.")
@click.option("--idle-frames", default=12, show_default=True, type=click.IntRange(1, 600), help="Frames per idle loop.")
@click.option("--ease", "easing", type=click.Choice(["linear", "cosine", "smoothstep", "sigmoid"]),
              default="cosine", show_default=True)
@click.option("--fps", default=12.0, show_default=True, type=FPS)
@click.option("--mode", type=click.Choice(["face", "fill", "fit", "stretch"]), default="fit", show_default=True,
              help="fit: the whole face in the panel's height, never stretched (a 64 px drawing 1:1, the shipped "
                   "128 px one shrunk by area to 64 rows), which blind raters read best; face: a band of the face stretched across the panel (with --thin, "
                   "the smallest packs).")
@click.option("--framing", type=click.Choice(FRAMINGS),
              default="auto", show_default=True,
              help="--mode face: the band of the face that fills the panel (auto: by the panel's shape).")
@click.option("--zoom", default=1.0, show_default=True, type=FINITE, help="Zoom over the mode's natural scale (>1 pushes in).")
@click.option("--focus", default="0.5,0.5", show_default=True, callback=_focus,
              help="fill/fit/stretch: the point kept in view, as X,Y fractions.")
@click.option("--zoom-breath", default=0.04, show_default=True, type=FINITE,  # interpolate.pack.ZOOM_BREATH
              help="Idle loops breathe in zoom by +-this fraction as well as in intensity (0 = off).")
@click.option("--intensity", default=1.0, show_default=True, type=Finite(0.1, 3.0),  # interpolate.pack.INTENSITY
              help="Every emotion's strength (1 = as the model draws it; > 1 exaggerates: at 1.3 blind raters "
                   "read fear and surprise better, anger and happy worse, and the whole as well).")
@click.option("--dither", "dither_mode", default="lineart", show_default=True,
              type=click.Choice(DITHERS), help="1-bit conversion.")
@click.option("--thin/--no-thin", default=False, show_default=True,
              help="Thin every stroke to one pixel (with --line 2, redrawn by a 2x2 pen: smaller packs, but "
                   "raters read the face less well).")
@_panel_drawing_options
@click.option("--size", default="128x64", show_default=True, help="Display WIDTHxHEIGHT.")
@click.option("--format", "pixel_format", default="ssd1306", show_default=True, help="ssd1306, sh1106, sh1107 (128x128), gfx or xbm.")
@click.option("--max-bytes", type=click.IntRange(1, None), default=None, help="Flash budget: drop frames evenly to fit.")
@click.option("--codec", type=click.Choice(["auto", "raw", "rle", "delta", "ctx"]), default=None,
              help="Frame compression [default: ctx, the context codec, where its 8x8 blocks tile the frame, "
                   "else auto]. ctx: the demo photo's six-emotion pack 7.2:1, about 40 ms a frame on an Uno. auto: "
                   "the smallest byte codec per frame, 3.3:1, under 1 ms a frame on an Uno, and a C player 2.5 KB "
                   "smaller (ES_WITHOUT_CTX). See `emosketch export --help`.")
@click.option("--name", default="pack", show_default=True, callback=_pack_name,
              help="Identifier for the C header and MicroPython module (NAME.h, NAME_pack; NAME_tft.h with --tft), "
                   "as the Arduino examples include it.")
@click.option("--panel", default="white", show_default=True, help="Preview colour.")
@click.option("--frames-out", type=click.Path(path_type=Path), default=None, callback=lambda c, p, v: v and
              _frames_paths(c, p, (v,))[0], help="Also keep the gray frames (.npz/.gif).")
@click.option("--tft", default=None, type=click.Choice(TFT_PANELS),
              help="A colour TFT pack (RGB565, span-coded) for this panel instead of an OLED pack. In two colours "
                   "a 1-bit pack at the panel's size is several times smaller: --size 240x240 --format gfx, played "
                   "by the adafruit_st7789 example.")
@click.option("--ink", default="black", show_default=True,
              help="--tft: the strokes' colour (#RRGGBB or a name; dark strokes on light paper read best).")
@click.option("--paper", default="white", show_default=True, help="--tft: the background colour.")
@click.option("--shades", default=2, show_default=True, type=click.IntRange(2, 16),
              help="--tft: levels from paper to ink (2: hard lines; 4: antialiased strokes, 2.2x the bytes).")
@click.option("--force", is_flag=True, help="Replace the pack folder if it exists.")
@_style_options
def pack_cmd(checkpoint, image, data, index, kind, out, emotions, transition_frames, idle_frames, easing, fps,
             mode, framing, zoom, focus, zoom_breath, intensity, dither_mode, thin, line, fill, stroke_level, pen_coding, polarity,
             min_stroke, stable,
             size, pixel_format, max_bytes, codec, name,
             panel, frames_out, tft, ink, paper, shades, force, seed, psi, device, batch):
    """Make an OLED pack from a face (with the shipped model, or --checkpoint): an idle loop per emotion and a transition
    for every ordered pair, ready for the C, Arduino and MicroPython players.

    \b
    Examples:
      emosketch pack --input me.jpg --out me-pack     # the shipped model: no training, no data
      emosketch pack --checkpoint runs/tiny/checkpoint.pt --data data/synthetic-64 --out face-pack
      emosketch pack --input me.jpg --emotions neutral,happy,sad --out uno-pack --max-bytes 12300   # fits an Uno
      emosketch pack --input me.jpg --out dark --polarity ink     # strokes lit on a dark panel
      emosketch pack --input me.jpg --out band --mode face --thin --polarity ink --min-stroke 0 --stroke-level 96  # the face band
      emosketch pack --input me.jpg --out strip --mode face --thin --polarity ink --size 128x32 --framing eyes
      emosketch pack --input me.jpg --out bytes --codec auto       # byte codecs: the least decode work
      emosketch pack --input me.jpg --out thin --mode face --thin --line 1 --fill bluenoise --no-stable --polarity ink
      emosketch pack --input me.jpg --tft st7789-240x240 --ink yellow --paper black --out tft-pack

    With --tft the pack is for a colour TFT (ST7789 240x240 or 135x240, ILI9341 320x240): RGB565
    frames in the ink and paper colours, span-coded (delta + RLE on 16-bit pixels), with a C player
    core and TFT_eSPI and Adafruit_GFX examples.
    """
    from .export import Dither, ExportOptions, Layout, parse_geometry
    from .export.dither import MASK_MODES
    from .export.tft import TftOptions, parse_colour, rgb565
    from .interpolate.animate import FaceSource, PackSpec, Styles, face_pack
    ctx = click.get_current_context()
    if tft is not None:  # each pack has its own drawing: an option of the other kind would be ignored
        oled = _given(ctx, "dither_mode", "thin", "line", "fill", "stroke_level", "pen_coding", "polarity", "min_stroke",
                      "stable", "size", "pixel_format", "max_bytes", "codec", "panel", "zoom", "focus")
        if oled:
            raise click.UsageError(f"{', '.join(oled)}: for OLED packs, not with --tft (a TFT pack is drawn in "
                                   "--ink and --paper at the panel's size, with its own codec and no byte budget)")
    else:
        _check_companions(ctx, thin)
        tft_only = _given(ctx, "ink", "paper", "shades")
        if tft_only:
            raise click.UsageError(f"{', '.join(tft_only)}: for TFT packs; give --tft PANEL too (an OLED pack is "
                                   "1-bit: see --polarity)")
    from .atomic import check_outside

    check_outside(out, [p for p in (image, data) if p is not None])
    _not_inputs([frames_out], [image, checkpoint])
    if frames_out is not None and Path(out).resolve() in Path(frames_out).resolve().parents:
        raise click.UsageError(f"--frames-out {frames_out} is inside --out {out}, the pack's folder, which is written "
                               "whole; keep the frames beside it")
    checkpoint = _generator(checkpoint)
    tft_opts = None
    if tft is not None:
        if rgb565(parse_colour(ink)) == rgb565(parse_colour(paper)):  # as the panel shows them; a bad colour is
            # one line before any work
            raise click.UsageError(f"--ink {ink} and --paper {paper} are one colour on the panel (RGB565): the face "
                                   "would not show")
        tft_opts = TftOptions(panel=tft, ink=ink, paper=paper, shades=shades, layout_mode=mode, framing=framing,
                              name=name)

    width, height = parse_geometry(size)
    named_codec = codec is not None
    codec = "auto" if tft is not None else _panel_codec(codec, pixel_format, width, height)  # TFT: its own codec
    stable = dither_mode in MASK_MODES if stable is None else stable
    opts = ExportOptions(layout=Layout(width, height, mode, focus, zoom, framing=framing),
                         dither=Dither(dither_mode, thin=thin, stable=stable, line=line, fill=fill,
                                       polarity=polarity, min_stroke=min_stroke, stroke_level=stroke_level),
                         pixel_format=pixel_format, codec=codec, max_bytes=max_bytes,
                         name=name, pen_coding=pen_coding, keep_codec=named_codec)
    spec = PackSpec(out, emotions, transition_frames, idle_frames, easing, fps, opts, force, panel, frames_out,
                    zoom_breath, intensity, tft_opts)
    res = face_pack(checkpoint, spec, face=FaceSource(image, data, index, kind), styles=Styles(seed, psi),
                    device=device, batch=batch, show_progress=True)
    click.echo(f"wrote {safe(res.pack)}: {res.idle_loops} idle loops and {res.transitions} transitions, "
               f"{res.frames} frames, {res.bytes} bytes ({_bytes_split(res)}{res.raw_bytes / max(1, res.bytes):.1f}:1), "
               f"verified {'pixel' if tft else 'bit'} for {'pixel' if tft else 'bit'}")
    _echo_results(res)
    if tft is None:  # where a pip-installed user finds the examples: inside the package
        from .export.players import ARDUINO_EXAMPLES, HOST_PLAYER

        click.echo(f"  next: copy {name}.h, emosketch_player.c and emosketch_player.h into a sketch folder with an "
                   f"example from {ARDUINO_EXAMPLES} (emosketch_agent.c and .h too for agent_buttons, a face that feels "
                   f"on its own; or emosketch_player.py, frames.bin and index.bin to a MicroPython board); "
                   f"{HOST_PLAYER} plays the pack on this computer first; see docs/on-the-device.md")
        if _format_name(pixel_format) == "sh1106":
            click.echo(f"  note: {SH1106_NOTE}")
    if tft is not None and shades == 2:
        from .export.tft import PANELS

        w, h = PANELS[tft]
        click.echo(f"note: two shades are one bit a pixel: `--size {w}x{h} --format gfx` (without --tft) makes the "
                   "panel drawing at this size as a 1-bit pack, which the adafruit_st7789 example draws with "
                   "drawBitmap (the demo photo's six emotions at 240x240: 337 KB so, 3.0 MB as a 2-shade TFT pack)")


def _bytes_split(res) -> str:
    """'frames 51156 + context model 2056; ' where a pack carries the model (pack.h's frame bytes are the first)."""
    return f"frames {res.bytes - res.model_bytes} + context model {res.model_bytes}; " if res.model_bytes else ""


@cli.command("demo")
@click.option("--out", "-o", default="demo-out", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the demo's outputs (with --train, also its dataset and training run, reused next time).")
@click.option("--train", is_flag=True,
              help="Train a generator from scratch on synthetic faces instead of using the shipped model.")
@click.option("--steps", type=int, default=1200, show_default=True,
              help="With --train: training steps (configs/train-tiny-cpu.yaml's schedule over this many).")
@click.option("--count", default=4000, show_default=True, help="With --train: synthetic faces to train on.")
def demo_cmd(out: Path, train: bool, steps: int | None, count: int) -> None:
    """Run the built-in demo: a real photo redrawn by the shipped generator -> transitions, an agent
    video and an OLED pack.

    \b
    Examples:
      emosketch demo --out demo-out                         # the shipped model: under a minute on 2 cores
      emosketch demo --train --out train-demo               # train on synthetic faces: about 10 minutes on 2 cores
      emosketch demo --train --out quick-demo --steps 200   # a rough generator in about 3 minutes

    The face is NASA's public-domain portrait of astronaut Eileen Collins, which ships with
    emosketch. With --train the first run draws 4,000 synthetic faces and trains
    configs/train-tiny-cpu.yaml in OUT/run; a run that is stopped resumes, and a finished one is
    reused. Then open OUT/transitions.gif, OUT/agent.mp4 and OUT/agent.png, and
    OUT/pack/index.html in a browser, or flash OUT/pack/pack.h (Arduino, with
    emosketch_player.c/.h) or copy OUT/pack to a MicroPython board.
    """
    from .demo import run_demo

    if steps is not None and steps < 1:
        raise EmosketchError("--steps must be at least 1")
    paths = run_demo(out, progress=lambda msg: click.echo(msg), steps=steps, count=count, train=train)
    for label, path in paths.items():
        click.echo(f"  {label}: {path}")


FILES = {  # name -> what it is (file_paths() says where)
    "demo-photo": "the demo's face photo, public domain",
    "models": "the shipped generator and classifiers",
    "configs": "the demo's and the docs' example configs",
    "players": "the device players a pack folder carries, and their examples",
    "arduino": "the Arduino examples for OLED packs",
    "tft-arduino": "the Arduino examples for colour TFT packs",
    "host-player": "plays a pack on a computer with the C player",
    "pi-stream": "a Raspberry Pi's panel showing the mirror's stream",
}


def file_paths() -> dict[str, Path]:
    """Where this install keeps each of FILES: the modules' own names for them."""
    from . import models
    from .config import SHIPPED
    from .export import players

    return {"demo-photo": models.HERE / models.DEMO_PHOTO, "models": models.HERE, "configs": SHIPPED,
            "players": players.HERE, "arduino": players.ARDUINO_EXAMPLES, "tft-arduino": players.TFT_EXAMPLES,
            "host-player": players.HOST_PLAYER, "pi-stream": players.PI_STREAM}


@cli.command("files")
@click.argument("name", required=False, type=click.Choice(list(FILES)))
def files_cmd(name: str | None) -> None:
    """Where this install keeps the files the docs name (the demo photo, the players and their
    examples, the example configs): one per line, or NAME's path alone, for a shell.

    \b
    Examples:
      emosketch files
      emosketch pack --input "$(emosketch files demo-photo)" --out me-pack
      cp -r "$(emosketch files arduino)/u8g2_ssd1306" ~/Arduino/
    """
    paths = file_paths()
    for key in [name] if name else FILES:
        path = paths[key]
        if not path.exists():
            raise EmosketchError(f"{path}: missing from this install; reinstall emosketch")
        click.echo(safe(str(path)) if name else f"{key:<12} {safe(str(path))}  ({FILES[key]})")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 lets devices on your network play the stream).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--checkpoint", default=None, type=click.Path(path_type=Path),
              help="Generator checkpoint [default: the shipped model, emosketch.models.default_generator()].")
@click.option("--classifier", default=None, type=click.Path(path_type=Path),
              help="Face classifier [default: the shipped one, emosketch.models.default_classifier()].")
@click.option("--guide", default=None, type=click.Path(path_type=Path),
              help="Sketch classifier that \"make it smile\" (/api/search) climbs, reading the generator's classes "
                   "[default: the shipped one, for the six FER+ emotions; another generator's classes turn the "
                   "search off, with a note, unless given here].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--max-upload-mb", default=8.0, show_default=True, type=Finite(0.01, 200),
              help="Largest image upload, in MB.")
@click.option("--allow-host", "allowed", multiple=True, metavar="NAME", callback=_host_names,
              help="A host name the server answers to besides IP addresses and localhost (repeatable), e.g. "
                   "raspberrypi.local or a reverse proxy's name; other names are refused (a DNS-rebinding guard).")
def serve_cmd(host, port, checkpoint, classifier, guide, device, max_upload_mb, allowed):
    """The emotion mirror: a local web page and JSON API. A camera or a photo is read by the face
    classifier, the emotion stimulates your agent, and your sketch face reacts on a simulated OLED.

    \b
    Examples:
      emosketch serve                                   # then open http://127.0.0.1:8000
      emosketch serve --port 9000 --checkpoint runs/fer6-coarse8k/checkpoint.pt
      emosketch serve --host 0.0.0.0                    # a device on the LAN plays /api/stream
      emosketch serve --host 0.0.0.0 --allow-host raspberrypi.local     # reached by that name too
      curl -s --data-binary @face.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8000/api/classify

    Each model is loaded once and shared; each browser gets its own agent (a cookie). The API is
    in docs/mirror.md (The HTTP API). Stop it with Ctrl-C.
    """
    from .serve.app import create_app
    from .serve.engine import ServeConfig
    from .serve.server import listen, run

    sock = listen(host, port)  # a port in use is one line here, before the models load
    cfg = ServeConfig(checkpoint=str(checkpoint) if checkpoint else None,
                      classifier=str(classifier) if classifier else None, guide=str(guide) if guide else None,
                      device=device,
                      max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                      hosts=tuple(dict.fromkeys(("localhost", host, *allowed))))  # IP addresses always pass
    click.echo("loading the models ...")
    app = create_app(cfg)
    for note in app.state.engine.notes:
        click.echo(f"note: {note}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"listening on {host}: anyone on your network can use this page and the API")
    click.echo(f"open http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")
    _stop["message"] = SERVE_STOPPED
    run(app, sock, cfg.request_seconds)


@cli.group("stylegan2")
def stylegan2_group() -> None:
    """StyleGAN2-ADA network pickles, read safely (nothing in the file runs): inspect, generate,
    convert to emosketch's own weights-only file, and find emotion directions.

    \b
    Examples:
      emosketch stylegan2 info --model network-snapshot-000400.pkl
      emosketch stylegan2 generate --model network-snapshot-000400.pkl --seeds 0-7 --psi 0.7 --out gen
      emosketch stylegan2 generate --model cond.pkl --seeds 0-3 --class 1 --sketch --out gen-happy
      emosketch stylegan2 convert --model cond.pkl --classes neutral,happy,sad,surprise,fear,disgust,anger,contempt --out cond.pt
      emosketch stylegan2 directions --model ffhq.pt --classifier clf-face.pt --samples 2000 --out ffhq-emotions.pt
      emosketch interpolate --checkpoint ffhq-emotions.pt --seed 3 --from neutral --to happy --out t.gif
    """


_MODEL = click.option("--model", "--pickle", "model", required=True, type=click.Path(path_type=Path),
                      help="A network-snapshot-*.pkl, or a file from `emosketch stylegan2 convert`.")


@stylegan2_group.command("info")
@_MODEL
def stylegan2_info(model):
    """What a snapshot or converted file holds: sizes, architecture, classes, directions."""
    import json

    from .gan.stylegan2.jobs import info

    click.echo(json.dumps(info(model), indent=1, default=str))


@stylegan2_group.command("generate")
@_MODEL
@click.option("--seeds", default="0-7", show_default=True, help="Seeds, e.g. 0-7,10 (z as the official generate.py draws it).")
@click.option("--class", "cls", default=None, help="Class of a conditional model: a number, or a name it was converted with.")
@click.option("--psi", default=1.0, show_default=True, type=PSI, help="Truncation: 1 = none, 0.7 = typical, 0 = the mean face.")
@click.option("--cutoff", type=int, default=None, help="Truncate only the first this many ws.")
@click.option("--noise", type=click.Choice(["const", "random", "none"]), default="const", show_default=True)
@click.option("--sketch", is_flag=True, help="Also write sketch/seedNNNN.png: face crop and sketch as --settings were made.")
@click.option("--settings", type=click.Path(path_type=Path), default=None,
              help="Sketch dataset folder or generator checkpoint whose face crop and sketch settings to use "
                   "[default: the shipped generator's].")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Folder to write.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--batch", type=BATCH, default=None,
              help="Images per forward pass [default: 32 on a GPU; on the CPU about 64k pixels a pass].")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
def stylegan2_generate(model, seeds, cls, psi, cutoff, noise, sketch, settings, out, force, batch, device):
    """Generate images: seedNNNN.png per seed and outputs.npz (raw images, ws, z, c).

    \b
    Examples:
      emosketch stylegan2 generate --model network-snapshot-000400.pkl --seeds 0-7 --psi 0.7 --out gen
      emosketch stylegan2 generate --model cond.pt --seeds 0-3 --class happy --sketch --out gen-happy
    """
    from .gan.stylegan2.jobs import generate, parse_seeds

    if settings is not None and not sketch:
        raise click.UsageError("--settings chooses how --sketch sketches the images; add --sketch, or leave it out")
    res = generate(model, parse_seeds(seeds), out, cls, psi, cutoff, noise, sketch, settings, batch, device, force)
    click.echo(f"wrote {len(res['seeds'])} images ({res['resolution']} px, {res['channels']} channel(s)) to {safe(res['out'])}")


@stylegan2_group.command("convert")
@_MODEL
@click.option("--classes", default=None, help="Names of a conditional model's classes, comma-separated, in order.")
@click.option("--draws", type=click.Choice(["photo", "sketch"]), default=None,
              help="What its images are: photos are sketched for the panel, sketches are used as they are "
                   "[default: photo, or a converted file's own].")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), callback=_pt_path,
              help="File to write (.pt).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def stylegan2_convert(model, classes, draws, out, force):
    """Write emosketch's own file: weights and plain values, loaded with weights_only from then on.
    A converted file converts again, to name its classes or say what it draws.

    \b
    Examples:
      emosketch stylegan2 convert --model cond.pkl --classes neutral,happy,sad,surprise,fear,disgust,anger,contempt --out cond.pt
      emosketch stylegan2 convert --model cond.pt --draws sketch --out cond-sketch.pt
    """
    from .gan.stylegan2.jobs import convert

    names = [c.strip() for c in classes.split(",")] if classes is not None else None
    res = convert(model, out, names, draws, force)
    click.echo(f"wrote {safe(res['out'])} ({res['bytes']:,} bytes, {res['parameters']:,} parameters)")


@stylegan2_group.command("directions")
@_MODEL
@click.option("--classifier", type=click.Path(path_type=Path), default=None,
              help="Face classifier (`emosketch classifier train`), ideally --input face, trained on real faces "
                   "[default: the shipped one, emosketch/models/classifier-fer6-face-64.pt].")
@click.option("--samples", default=2000, show_default=True, type=click.IntRange(20, 100_000),
              help="Faces to sample and classify.")
@click.option("--psi", default=1.0, show_default=True, type=PSI, help="Truncation of the sampled faces.")
@click.option("--strength", default=2.5, show_default=True, type=Finite(-10.0, 10.0),
              help="Step along each direction, in standard deviations of w.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), callback=_pt_path,
              help="Converted model with the directions (.pt).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
def stylegan2_directions(model, classifier, samples, psi, strength, out, force, device):
    """Find emotion directions in W for an unconditional model (InterFaceGAN: a linear model of the
    classifier's scores), and write the model with them, ready for interpolate, agent and pack.

    \b
    Examples:
      emosketch stylegan2 directions --model ffhq.pt --samples 2000 --out ffhq-emotions.pt   # the shipped face classifier
      emosketch stylegan2 directions --model ffhq.pt --classifier clf-face.pt --out ffhq-emotions.pt
    """
    from .gan.stylegan2 import open_stylegan2
    from .gan.stylegan2.jobs import check_model_out
    from .interpolate.stylegan import classifier_reader, find_directions
    from .models import default_classifier
    from .tensors import pick_device

    check_model_out(model, out, force)
    classifier = classifier or default_classifier()
    dev = pick_device(device)
    G = open_stylegan2(model, dev)
    read, classes = classifier_reader(classifier, dev)
    G.directions = {**find_directions(G, read, classes, samples, psi=psi, strength=strength),
                    "classifier": classifier.name}
    G.cpu().save(out)
    for e, s in G.directions["scores"].items():
        r = "n/a" if s["r"] is None else f"{s['r']:.2f}"
        auc = "n/a" if s["auc"] is None else f"{s['auc']:.2f}"
        click.echo(f"  {e:9s} held-out r {r}, AUC {auc}; moved faces read as {e}: "
                   f"{100 * s['top_before']:.0f}% -> {100 * s['top_after']:.0f}% (p {s['p_before']:.2f} -> {s['p_after']:.2f})")
    click.echo(f"wrote {safe(out)}")


def _terminated(signum, frame) -> None:
    """SIGTERM (kill, a closing terminal, a container stopping) unwinds like Ctrl-C: every output being
    written drops its temporary files and lock on the way out, after one line that says so."""
    click.echo(f"stopped by {signal.Signals(signum).name}: {_stop['message']}", err=True)
    raise SystemExit(128 + signum)


def main() -> None:
    from .terminal import guard_streams

    guard_streams()  # nothing from a name or a request reaches the terminal as a control sequence
    # OpenCV's own warnings (a truncated PNG: "[ WARN:0@0.079] global grfmt_png.cpp ...") would be a second line
    # before emosketch's one; read at cv2's import, which every command makes later
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        cli.main(prog_name="emosketch")
    except SystemExit as exc:
        if exc.code == 130:  # stopped by Ctrl-C: a second one while the interpreter exits (its workers' threads
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # joined) would end it by the signal, not with 130
        raise


if __name__ == "__main__":
    sys.exit(main())

"""The `emosketch` command: parses options, calls one library function per command, prints."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import EmosketchError


class Group(click.Group):
    """Shows library errors and OS errors (missing files, a full disk) as one line, exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EmosketchError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emosketch")
def cli() -> None:
    """emosketch: faces to emotion-driven line-drawing animations for tiny monochrome screens.

    \b
    Examples:
      emosketch demo --out demo-out
      emosketch export happy.gif sad.gif --out pack --verify
      emosketch export frames.npz --out uno-pack --max-bytes 28000
    """


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
@click.option("--mode", type=click.Choice(["fill", "fit", "stretch"]), default="fill", show_default=True,
              help="fill: crop so the picture covers the screen; fit: letterbox; stretch: ignore aspect.")
@click.option("--focus", default="0.5,0.5", show_default=True, callback=_focus,
              help="Point of the picture kept in view, as X,Y fractions of its width and height.")
@click.option("--zoom", default=1.0, show_default=True, help="Zoom factor over the mode's natural scale.")
@click.option("--zoom-to", type=float, default=None, help="Ramp the zoom from --zoom to this over each sequence.")
@click.option("--dither", "dither_mode", default="lineart", show_default=True,
              type=click.Choice(["lineart", "threshold", "otsu", "floyd-steinberg", "atkinson",
                                 "bayer2", "bayer4", "bayer8", "bluenoise"]),
              help="1-bit conversion. lineart thresholds strokes and dithers only tonal fills.")
@click.option("--level", default=128, show_default=True, help="Gray level for --dither threshold.")
@click.option("--stable", is_flag=True, help="Temporal hysteresis, so still areas of an animation do not flicker.")
@click.option("--polarity", type=click.Choice(["ink", "paper"]), default="ink", show_default=True,
              help="ink: dark strokes light the pixels; paper: the background does.")
@click.option("--format", "pixel_format", default="ssd1306", show_default=True,
              help="Pixel format: ssd1306 (pages, MONO_VLSB), sh1106, gfx (Adafruit drawBitmap, MONO_HLSB), "
                   "xbm (u8g2 drawXBMP, MONO_HMSB).")
@click.option("--codec", type=click.Choice(["auto", "raw", "rle", "delta"]), default="auto", show_default=True,
              help="Frame compression; auto keeps the smallest per frame.")
@click.option("--fps", type=float, default=None, help="Frame rate for inputs that carry none (default 12), or an override.")
@click.option("--max-bytes", type=int, default=None,
              help="Flash budget (e.g. 28000 for an Arduino Uno): choose the codec, then drop frames evenly.")
@click.option("--name", default=None, help="Identifier for the C header and MicroPython module (default: the pack folder's name).")
@click.option("--panel", default="white", show_default=True, help="Preview colour: white, blue, yellow, green, yellow-blue or #RRGGBB.")
@click.option("--grid", is_flag=True, help="Draw a pixel grid in the GIF preview.")
@click.option("--verify", is_flag=True, help="Decode the written pack and check it bit for bit.")
@click.option("--force", is_flag=True, help="Replace PACK if it exists.")
def export_cmd(frames, out, size, mode, focus, zoom, zoom_to, dither_mode, level, stable, polarity,
               pixel_format, codec, fps, max_bytes, name, panel, grid, verify, force) -> None:
    """Turn frames into a 1-bit bitmap pack for an SSD1306/SH1106 OLED.

    \b
    Examples:
      emosketch export face.png --out pack
      emosketch export happy.gif sad.gif --out pack --verify
      emosketch export frames/ --out pack --size 128x32 --mode fit --dither bayer4 --stable
      emosketch export transition.mp4 --out uno --max-bytes 28000 --format gfx
      emosketch export face.png --out zoom --zoom 1 --zoom-to 2 --focus 0.5,0.4

    FRAMES are images, folders of images (one sequence each, in natural order), animated GIFs,
    videos or .npz frame files; each becomes a named sequence. PACK gets manifest.json,
    frames.bin, NAME.h (C/Arduino), NAME.py (MicroPython), preview.gif, contact_sheet.png and
    index.html (plays in a browser).
    """
    from .export import Dither, ExportOptions, Layout, export, parse_geometry

    width, height = parse_geometry(size)
    if max_bytes is not None and max_bytes <= 0:
        raise EmosketchError(f"--max-bytes {max_bytes}: must be a positive number of bytes")
    opts = ExportOptions(
        layout=Layout(width, height, mode, focus, zoom, zoom_to),
        dither=Dither(mode=dither_mode, level=level, stable=stable, polarity=polarity),
        pixel_format=pixel_format, codec=codec, max_bytes=max_bytes, name=name or out.name,
    )
    pack = export(list(frames), out, opts, fps=fps, force=force, verify=verify, panel=panel, grid=grid)
    _summary(pack, out, verify)


def _summary(pack, out: Path, verified: bool) -> None:
    m = pack.manifest()
    counts: dict[str, int] = {}
    for f in m["frames"]:
        counts[f["codec"]] = counts.get(f["codec"], 0) + 1
    click.echo(f"wrote {out}: {len(pack.payloads)} frames in {len(pack.sequences)} sequences, "
               f"{pack.width}x{pack.height} {pack.fmt.name}")
    click.echo(f"  {m['total_bytes']} bytes of frames ({m['raw_bytes'] / max(1, m['total_bytes']):.1f}:1 "
               f"vs raw; codecs {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
               f"{m['flash_bytes']} bytes of flash with tables")
    for note in pack.notes:
        click.echo(f"  note: {note}")
    if verified:
        click.echo("  verified: every frame decodes bit for bit")


@cli.command("demo")
@click.option("--out", "-o", default="demo-out", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the demo's outputs.")
def demo_cmd(out: Path) -> None:
    """Run the built-in demo: synthetic line-drawn faces move between emotions and become an OLED pack.

    \b
    Example:
      emosketch demo --out demo-out

    Then open demo-out/pack/index.html in a browser, or use demo-out/pack/demo.h (Arduino) or
    demo-out/pack/demo.py (MicroPython).
    """
    from .demo import run_demo

    paths = run_demo(out, progress=lambda msg: click.echo(msg))
    for label, path in paths.items():
        click.echo(f"  {label}: {path}")


def main() -> None:
    cli.main(prog_name="emosketch")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Play the face of an `emosketch serve` session on a 128x64 SSD1306 or SH1106 attached to a Raspberry Pi.

Only the standard library is needed to read the stream; the panel is driven by luma.oled
(pip install luma.oled; I2C at 0x3C) or drawn in the terminal with --ascii. The stream is 128x64.

    python3 emosketch_stream.py http://192.168.1.20:8000 --session TOKEN
    python3 emosketch_stream.py http://192.168.1.20:8000 --session TOKEN --panel sh1106   # a 1.3" SH1106
    python3 emosketch_stream.py http://127.0.0.1:8000 --session TOKEN --ascii --frames 24

TOKEN is the session shown on the page ("On a device"); without it the device asks the server for a
session of its own and prints its token, so that a program can drive it (POST
/api/agent/stimulate?session=TOKEN) and the device plays the same agent when it reconnects.
The server must listen on the network (emosketch serve --host 0.0.0.0). The stream is
server-sent events from /api/stream: one JSON event per frame whose "data" is the frame in the
"gfx" pixel format (rows, MSB = leftmost pixel), which is what PIL's mode "1" reads.
"""

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def events(url, timeout=10.0):
    """Yield each server-sent event's JSON from `url` until the stream ends."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        for raw in response:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("data:"):
                yield json.loads(line[5:].strip())


def frame_bits(event):
    """An event -> (width, height, rows of booleans), from its gfx bytes."""
    w, h = event["width"], event["height"]
    data = base64.b64decode(event["data"])
    stride = (w + 7) // 8
    return w, h, [[bool(data[y * stride + x // 8] & (0x80 >> (x % 8))) for x in range(w)] for y in range(h)]


def ascii_art(event):
    """Two panel rows per terminal line, with half-block characters."""
    w, h, rows = frame_bits(event)
    chars = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}
    lines = []
    for y in range(0, h, 2):
        low = rows[y + 1] if y + 1 < h else [False] * w
        lines.append("".join(chars[(a, b)] for a, b in zip(rows[y], low)))
    return "\n".join(lines)


def new_session(server, timeout=10.0):
    """A session of the device's own: the token the server gives with /api/info."""
    with urllib.request.urlopen(f"{server.rstrip('/')}/api/info", timeout=timeout) as response:
        info = json.load(response)
    if not isinstance(info, dict) or not isinstance(info.get("session"), str):
        sys.exit("stream: this server gives no session token (an older emosketch?): pass --session TOKEN")
    return info["session"]


def stream_url(server, session=None, fps=12.0, frames=0):
    query = {"format": "gfx", "fps": fps, "frames": frames}
    if session:
        query["session"] = session
    return f"{server.rstrip('/')}/api/stream?{urllib.parse.urlencode(query)}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server", help="the server's address, e.g. http://192.168.1.20:8000")
    ap.add_argument("--session", help="the page's session token: play that browser's face")
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--frames", type=int, default=0, help="stop after this many frames (0 = never)")
    ap.add_argument("--ascii", action="store_true", help="draw in the terminal instead of on the panel")
    ap.add_argument("--i2c-address", type=lambda v: int(v, 0), default=0x3C)
    ap.add_argument("--panel", choices=["ssd1306", "sh1106"], default="ssd1306",
                    help="the panel's controller, 128x64 either way (luma.oled adds the SH1106's column offset)")
    args = ap.parse_args(argv)
    device = None
    if not args.ascii:
        try:
            from luma.core.interface.serial import i2c
            from luma.oled import device as panels
            from PIL import Image
        except ImportError:
            sys.exit("luma.oled is not installed (pip install luma.oled), or use --ascii")
        device = getattr(panels, args.panel)(i2c(port=1, address=args.i2c_address), width=128, height=64)
    shown, delay, session = 0, 1.0, args.session
    while args.frames == 0 or shown < args.frames:
        try:
            if session is None:
                session = new_session(args.server)
                print(f"stream: playing session {session}; drive it with ?session={session} "
                      "(POST /api/agent/stimulate)", file=sys.stderr)
            for event in events(stream_url(args.server, session, args.fps, args.frames - shown if args.frames else 0)):
                if device is not None:
                    device.display(Image.frombytes("1", (event["width"], event["height"]), base64.b64decode(event["data"])))
                else:
                    print("\x1b[H" if shown else "\x1b[2J\x1b[H", end="")
                    print(ascii_art(event))
                    print(f"{event.get('dominant') or 'rest':10s} zoom {event.get('zoom', 1.0):.2f} frame {event['n']}")
                shown += 1
                delay = 1.0
        except (OSError, ValueError) as exc:  # the server went away or sent garbage: retry, slower each time
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 404 and session:
                if args.session:
                    # the server does not know the session (it restarted, or forgot it): retrying cannot bring it back
                    sys.exit(f"stream: the server has no session {args.session} (it restarted, or forgot it); "
                             "copy the token the page shows now, or leave --session out")
                session, delay = None, 1.0  # the device's own session is gone: it asks for a new one, soon
            print(f"stream: {exc}; retrying in {delay:.0f} s", file=sys.stderr)
            time.sleep(delay)
            delay = min(30.0, delay * 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

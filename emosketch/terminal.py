"""Text a terminal shows as it is written. A file name, a dataset's class name, a pack's sequence name or a
URL path sent to the mirror can hold control characters: ESC starts sequences that recolour or clear the
screen, set the window's title, or (on some terminals) write the clipboard; a carriage return rewrites the
line already shown; the bidirectional overrides reorder what is shown. Everything the command line writes
to its standard output and error goes through safe() (guard_streams() wraps both streams in main()), so no
such character reaches the terminal: each is shown as a backslash escape instead."""

from __future__ import annotations

import sys
import unicodedata

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
KEPT = "\n\t"  # what a stream written through the guard may still hold: line breaks and tabs


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as Python's surrogateescape holds it
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _unsafe(ch: str) -> bool:
    return ch in BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


def safe(text: str, keep: str = "") -> str:
    """`text` with every control character (C0, DEL, C1), lone surrogate, line or paragraph separator and
    bidirectional control shown as a backslash escape (ESC as \\x1b, a non-UTF-8 byte from a file name as
    \\xff, U+202E as \\u202e), but those in `keep`. Printable text, non-ASCII letters included, is unchanged."""
    text = str(text)
    if text.isprintable() and not any(ch in BIDI for ch in text):  # the common case, at C speed
        return text
    return "".join(ch if ch in keep or not _unsafe(ch) else _escape(ch) for ch in text)


class Guarded:
    """A text stream whose write() passes its text through safe(text, KEPT); the rest (isatty, fileno,
    encoding, flush) is the wrapped stream's, but its binary buffer, which would let a write pass by. `raw` is
    the stream itself, for a progress bar whose carriage returns are its own."""

    def __init__(self, stream):
        self.raw = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as a text stream does: click tells text streams from binary by this
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.raw.write(safe(text, KEPT))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        if name == "buffer":  # click writes to a stream's buffer when its encoding is ASCII: that would pass by
            raise AttributeError(name)
        return getattr(self.raw, name)


def guard_streams() -> None:
    """Wrap sys.stdout and sys.stderr in Guarded (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, Guarded):
            try:  # an ASCII terminal gets \u escapes for other letters, not a UnicodeEncodeError
                stream.reconfigure(errors="backslashreplace")
            except (AttributeError, ValueError, OSError):
                pass
            setattr(sys, name, Guarded(stream))


def raw(stream):
    """The stream under a Guarded one (or `stream` itself)."""
    return stream.raw if isinstance(stream, Guarded) else stream

"""The only ways input-derived text (sequence, emotion and pack names) enters a generated file: one
escaping function per language. Writers never format a name into code any other way.

Names may hold anything a file name, an .npz mark or a checkpoint's classes can: quotes, comment
and docstring terminators, control characters, NUL and lone surrogates (from non-UTF-8 file names).
Each function returns a literal that reads back as exactly the input text.
"""

from __future__ import annotations

import html
import json


def text_bytes(text: str) -> bytes:
    """UTF-8, with lone surrogates kept as their 3-byte forms so that nothing is lost."""
    return text.encode("utf-8", "surrogatepass")


def c_string(text: str) -> str:
    """A C string literal whose bytes are text's UTF-8 (see text_bytes). Everything outside printable
    ASCII, and the quote, backslash and '?' (trigraphs), is a 3-digit octal escape, so that no
    escape can run into the next character."""
    out = []
    for b in text_bytes(text):
        ch = chr(b)
        out.append(ch if 0x20 <= b < 0x7F and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def py_literal(text: str) -> str:
    """A Python string literal equal to text. Only ASCII comes out (every other character as an
    escape), so the module's encoding cannot change it. Never put it inside another literal or a
    docstring: it is an expression of its own."""
    return ascii(text)


def script_json(value) -> str:
    """JSON for a JavaScript expression inside an HTML <script> element. '<', '>' and '&' become
    \\u escapes, so the page's tokenizer never sees '</script', '<!--' or '<script' in data and the
    script runs to its real end; U+2028/2029 and lone surrogates are escaped (ensure_ascii)."""
    return (json.dumps(value, ensure_ascii=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def html_text(text: str) -> str:
    """Text for an HTML element's content or a quoted attribute."""
    return html.escape(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"), quote=True)

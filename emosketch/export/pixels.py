"""Pixel formats: how a 1-bit frame is laid out in bytes for a display or a drawing library.

- ssd1306: 8-pixel vertical strips in pages of `width` columns, bit 0 = top (MicroPython MONO_VLSB,
  Adafruit_SSD1306 and u8g2 page buffers). The panel's own RAM layout.
- sh1106: as ssd1306 but each page is 132 columns of RAM and the picture starts at column 2.
- sh1107: as ssd1306 on the SH1107's 128-column RAM of up to 16 pages (128x128 mono panels).
- gfx: rows, MSB = leftmost pixel, each row padded to whole bytes (Adafruit GFX drawBitmap,
  MicroPython MONO_HLSB).
- xbm: rows, bit 0 = leftmost pixel, rows padded to whole bytes (u8g2 drawXBMP, XBM files,
  MicroPython MONO_HMSB).
A set bit is a lit pixel in every format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EmosketchError


@dataclass(frozen=True)
class PixelFormat:
    name: str
    description: str  # the bit order in words, as written to manifest.json
    micropython: str  # the framebuf constant that reads this layout
    vertical: bool  # True: vertical 8-pixel strips in pages; False: horizontal rows
    lsb_first: bool  # bit 0 is the top (vertical) or leftmost (horizontal) pixel
    ram_columns: int | None = None  # page formats: columns of display RAM per page (None = width)
    column_offset: int = 0  # first RAM column of the picture

    def stride(self, width: int) -> int:
        """Bytes per page (vertical) or per row (horizontal)."""
        if self.vertical:
            return self.ram_columns or width
        return -(-width // 8)

    def frame_bytes(self, width: int, height: int) -> int:
        lines = -(-height // 8) if self.vertical else height
        return lines * self.stride(width)

    def check(self, width: int, height: int) -> None:
        if self.ram_columns is not None and width + self.column_offset > self.ram_columns:
            raise EmosketchError(f"{self.name}: a {width}-pixel-wide picture does not fit its "
                                 f"{self.ram_columns}-column RAM from column {self.column_offset}")

    def pack(self, bits: np.ndarray) -> np.ndarray:
        """bool [T, H, W] -> uint8 [T, frame_bytes]."""
        t, h, w = bits.shape
        self.check(w, h)
        order = "little" if self.lsb_first else "big"
        if not self.vertical:
            return np.packbits(bits, axis=2, bitorder=order).reshape(t, -1)
        pages = -(-h // 8)
        cols = self.stride(w)
        grid = np.zeros((t, pages * 8, cols), bool)
        grid[:, :h, self.column_offset:self.column_offset + w] = bits
        strips = grid.reshape(t, pages, 8, cols).transpose(0, 1, 3, 2)
        return np.packbits(strips, axis=3, bitorder=order).reshape(t, pages * cols)

    def unpack(self, data: np.ndarray, width: int, height: int) -> np.ndarray:
        """uint8 [T, frame_bytes] (or one frame's bytes) -> bool [T, H, W]."""
        data = np.asarray(data, np.uint8).reshape(-1, self.frame_bytes(width, height))
        t = data.shape[0]
        order = "little" if self.lsb_first else "big"
        if not self.vertical:
            rows = data.reshape(t, height, self.stride(width))
            return np.unpackbits(rows, axis=2, bitorder=order)[:, :, :width].astype(bool)
        pages = -(-height // 8)
        cols = self.stride(width)
        strips = np.unpackbits(data.reshape(t, pages, cols, 1), axis=3, bitorder=order)
        grid = strips.transpose(0, 1, 3, 2).reshape(t, pages * 8, cols)
        return grid[:, :height, self.column_offset:self.column_offset + width].astype(bool)

    def bit_of(self, x: int, y: int, width: int) -> tuple[int, int]:
        """(byte index, bit index) of pixel (x, y) in a frame: the documented layout, in one place."""
        if self.vertical:
            byte = (y // 8) * self.stride(width) + self.column_offset + x
            bit = y % 8
        else:
            byte = y * self.stride(width) + x // 8
            bit = x % 8
        return byte, (bit if self.lsb_first else 7 - bit)


FORMATS: dict[str, PixelFormat] = {
    f.name: f for f in (
        PixelFormat("ssd1306", "pages of vertical bytes, bit 0 = top pixel (MONO_VLSB)", "MONO_VLSB",
                    vertical=True, lsb_first=True),
        PixelFormat("sh1106", "pages of vertical bytes, bit 0 = top pixel, 132-column RAM from column 2 "
                    "(MONO_VLSB)", "MONO_VLSB", vertical=True, lsb_first=True, ram_columns=132,
                    column_offset=2),
        PixelFormat("sh1107", "pages of vertical bytes, bit 0 = top pixel, 128-column RAM, up to 16 pages "
                    "(128x128; MONO_VLSB)", "MONO_VLSB", vertical=True, lsb_first=True, ram_columns=128),
        PixelFormat("gfx", "rows, MSB = leftmost pixel, rows padded to whole bytes (MONO_HLSB)",
                    "MONO_HLSB", vertical=False, lsb_first=False),
        PixelFormat("xbm", "rows, bit 0 = leftmost pixel, rows padded to whole bytes (MONO_HMSB)",
                    "MONO_HMSB", vertical=False, lsb_first=True),
    )
}
ALIASES = {"vlsb": "ssd1306", "mono_vlsb": "ssd1306", "pages": "ssd1306", "hlsb": "gfx",
           "mono_hlsb": "gfx", "adafruit": "gfx", "hmsb": "xbm", "mono_hmsb": "xbm", "u8g2": "xbm"}


def pixel_format(name: str) -> PixelFormat:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise EmosketchError(f"pixel format {name!r}: expected one of {', '.join(FORMATS)} "
                             f"(or {', '.join(ALIASES)})")
    return FORMATS[key]

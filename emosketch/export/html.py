"""The pack as one self-contained HTML page that decodes frames.bin in the browser and plays every
sequence on a canvas that looks like the panel."""

from __future__ import annotations

import base64
from pathlib import Path

from .escape import html_text, script_json
from .pack import Pack
from .preview import panel_colours

# The decoder is plain JavaScript with no DOM use, so tests can run it under node.
DECODER_JS = """
function b64bytes(s) {
  const bin = atob(s), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function unpack(m, buf) {
  const W = m.display.width, H = m.display.height, px = new Uint8Array(W * H);
  const vertical = m.ram_columns !== null, lsb = m.micropython_format !== "MONO_HLSB";  // HLSB: MSB = leftmost
  const stride = vertical ? m.ram_columns : Math.ceil(W / 8), off = m.column_offset;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let byte, bit;
    if (vertical) { byte = (y >> 3) * stride + off + x; bit = y & 7; }
    else { byte = y * stride + (x >> 3); bit = x & 7; }
    if (!lsb) bit = 7 - bit;
    px[y * W + x] = (buf[byte] >> bit) & 1;
  }
  return px;
}
function hexBytes(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}
// The context codec (emosketch/export/ctx.py): decodes one frame into buf in place.
function decodeCtx(m, model, data, buf, key) {
  const vertical = m.ram_columns !== null, stride = vertical ? m.ram_columns : Math.ceil(m.display.width / 8);
  const rows = vertical ? (m.frame_bytes / stride) * 8 : m.frame_bytes / stride, cols = vertical ? stride : stride * 8;
  const w = cols + 4, cells = new Uint8Array((rows + 4) * w);
  if (key) buf.fill(0);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const byte = vertical ? buf[(r >> 3) * stride + c] : buf[r * stride + (c >> 3)];
    cells[(r + 2) * w + c + 2] = (byte >> ((vertical ? r : c) & 7)) & 1;
  }
  let at = 0, code = 0, rng = 4294967295;
  const next = () => (at < data.length ? data[at++] : (at++, 0));
  for (let j = 0; j < 4; j++) code = code * 256 + next();
  const bit = (p0) => {
    const bound = Math.floor(rng / 256) * p0;
    let b = 0;
    if (code < bound) rng = bound; else { code -= bound; rng -= bound; b = 1; }
    while (rng < 16777216) { rng *= 256; code = (code * 256 + next()) % 4294967296; }
    return b;
  };
  const up = new Uint8Array((cols >> 3) + 1), kbit = key ? 1024 : 0;
  for (let br = 0; br < rows; br += 8) {
    let left = 0;
    for (let bc = 0; bc < cols; bc += 8) {
      const flag = bit(model[2048 + (left | (up[bc >> 3] << 1) | (key ? 4 : 0))]);
      up[bc >> 3] = left = flag;
      if (!flag) continue;
      for (let r = br; r < br + 8; r++) for (let c = bc; c < Math.min(bc + 8, cols); c++) {
        const i = (r + 2) * w + c + 2;
        const ctx = cells[i - w - 1] | cells[i - w] << 1 | cells[i - w + 1] << 2 | cells[i - 1] << 3 | cells[i] << 4
          | cells[i + 1] << 5 | cells[i + w - 1] << 6 | cells[i + w] << 7 | cells[i + w + 1] << 8 | cells[i - 2] << 9 | kbit;
        if (bit(model[ctx])) {
          cells[i] ^= 1;
          if (vertical) buf[(r >> 3) * stride + c] ^= 1 << (r & 7); else buf[r * stride + (c >> 3)] ^= 1 << (c & 7);
        }
      }
    }
  }
}
function decodeFrames(m, bytes) {
  const buf = new Uint8Array(m.frame_bytes), out = [];
  const model = m.ctx_model ? hexBytes(m.ctx_model) : null;
  for (const f of m.frames) {
    let p = f.offset, o = 0;
    const end = f.offset + f.size, xor = f.codec === "delta";
    if (f.codec === "raw") { buf.set(bytes.subarray(p, end)); o = m.frame_bytes; }
    else if (f.codec === "ctx" || f.codec === "ctx-key") {
      if (!model) throw new Error("a context-coded frame, but the pack has no model");
      decodeCtx(m, model, bytes.subarray(p, end), buf, f.codec === "ctx-key"); o = m.frame_bytes;
    }
    else while (p < end) {
      const c = bytes[p++];
      if (c < 128) { for (let k = 0; k <= c; k++, o++) { const v = bytes[p++]; buf[o] = xor ? buf[o] ^ v : v; } }
      else { const v = bytes[p++]; for (let k = 0; k < c - 125; k++, o++) buf[o] = xor ? buf[o] ^ v : v; }
    }
    if (o !== m.frame_bytes) throw new Error("corrupt frame");
    out.push(m.pen === 2 ? pen(m, unpack(m, buf)) : unpack(m, buf));
  }
  return out;
}
function pen(m, px) {  // the stored skeleton drawn with the 2x2 pen: lit where it or its left, upper or upper-left pixel is
  const W = m.display.width, H = m.display.height, out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    out[y * W + x] = px[y * W + x] | (x ? px[y * W + x - 1] : 0) | (y ? px[(y - 1) * W + x] : 0)
      | (x && y ? px[(y - 1) * W + x - 1] : 0);
  }
  return out;
}
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: an emosketch pack</title>
<style>
body {{ background:#111; color:#ddd; font:14px system-ui, sans-serif; margin:24px; }}
canvas {{ background:#000; image-rendering:pixelated; border:10px solid #222; border-radius:6px; }}
button {{ margin:2px; padding:4px 10px; background:#333; color:#eee; border:1px solid #555; border-radius:4px; }}
button.on {{ background:#2a6; }}
#info {{ margin:8px 0; color:#aaa; }}
</style></head><body>
<h2>emosketch pack {title}</h2>
<div id="info"></div>
<canvas id="panel"></canvas>
<div id="seqs"></div>
<div><label><input type="checkbox" id="loop" checked> loop</label>
<label><input type="checkbox" id="grid"> pixel grid</label></div>
<script>
const MANIFEST = {manifest};
const DATA_B64 = "{data}";
const PANEL_ROWS = {panel_rows};
{decoder}
if (typeof document !== "undefined") {{
  const m = MANIFEST, frames = decodeFrames(m, b64bytes(DATA_B64));
  const W = m.display.width, H = m.display.height, S = Math.max(2, Math.floor(768 / W));
  const cv = document.getElementById("panel"), cx = cv.getContext("2d");
  cv.width = W * S; cv.height = H * S;
  let seq = 0, at = 0, timer = null;
  function draw(i) {{
    const px = frames[i];
    cx.fillStyle = "#000"; cx.fillRect(0, 0, cv.width, cv.height);
    const grid = document.getElementById("grid").checked ? 1 : 0;
    for (let y = 0; y < H; y++) {{
      cx.fillStyle = PANEL_ROWS[y];
      for (let x = 0; x < W; x++) if (px[y * W + x]) cx.fillRect(x * S, y * S, S - grid, S - grid);
    }}
  }}
  function play(k) {{
    seq = k; at = 0; if (timer) clearInterval(timer);
    const s = m.sequences[k];
    document.querySelectorAll("#seqs button").forEach((b, j) => b.className = j === k ? "on" : "");
    document.getElementById("info").textContent =
      s.name + ": " + s.frame_count + " frames at " + s.fps.toFixed(1) + " fps; pack " +
      m.total_bytes + " bytes (" + (m.raw_bytes / m.total_bytes).toFixed(1) + ":1), " + m.pixel_format;
    draw(s.first_frame);
    timer = setInterval(() => {{
      at += 1;
      if (at >= s.frame_count) {{ if (!document.getElementById("loop").checked) {{ clearInterval(timer); return; }} at = 0; }}
      draw(s.first_frame + at);
    }}, 1000 / s.fps);
  }}
  m.sequences.forEach((s, k) => {{
    const b = document.createElement("button"); b.textContent = s.name; b.onclick = () => play(k);
    document.getElementById("seqs").appendChild(b);
  }});
  play(0);
}}
</script></body></html>
"""


def render(pack: Pack, panel: str = "white") -> str:
    rows = ["#" + "".join(f"{int(c):02x}" for c in rgb) for rgb in panel_colours(panel, pack.height)]
    return PAGE.format(title=html_text(pack.name), manifest=script_json(pack.manifest()),
                       data=base64.b64encode(pack.data).decode(), panel_rows=script_json(rows), decoder=DECODER_JS)


def write(pack: Pack, folder: Path, panel: str = "white") -> Path:
    path = folder / "index.html"
    path.write_text(render(pack, panel), encoding="utf-8")
    return path

"""The HTML page embeds the pack, and its JavaScript decoder (run under node) gives the same frames."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import make_pack

from emosketch.export import manifest, write_pack


def test_page_is_self_contained(tmp_path, face_transition):
    write_pack(make_pack(face_transition), tmp_path / "p")
    page = (tmp_path / "p" / "index.html").read_text()
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "const MANIFEST =" in page and "const DATA_B64 =" in page


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("codec", ["auto", "delta", "ctx", "auto pen", "ctx pen"])
def test_javascript_decoder_matches_python(tmp_path, face_transition, any_format, codec):
    pack = make_pack(face_transition, any_format, codec)
    write_pack(pack, tmp_path / "p")
    page = (tmp_path / "p" / "index.html").read_text()
    script = page.split("<script>")[1].split("</script>")[0]
    script += "\nconsole.log(JSON.stringify(decodeFrames(MANIFEST, b64bytes(DATA_B64)).map(f => Array.from(f).join(''))));\n"
    (tmp_path / "run.js").write_text(script)
    out = subprocess.run(["node", str(tmp_path / "run.js")], check=True, capture_output=True, text=True).stdout
    frames = np.array([[c == "1" for c in f] for f in json.loads(out)]).reshape(-1, pack.height, pack.width)
    bits, _ = manifest.read(tmp_path / "p")
    assert np.array_equal(frames, bits)

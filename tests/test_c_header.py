"""The C header compiles warning-free and its decoder gives the Python decoder's frames."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from conftest import make_pack

from emosketch.export import manifest, write_pack

HOST = r"""
#include <stdio.h>
#include "emosketch_player.h"
#include "face_pack.h"

int main(void)
{
    static uint8_t buf[FACE_PACK_FRAME_BYTES];
    unsigned s, i, b;
    for (s = 0; s < FACE_PACK_SEQUENCE_COUNT; s++) {
        unsigned first = face_pack_sequences[s][0];
        unsigned count = face_pack_sequences[s][1];
        for (i = first; i < first + count; i++) {
            if (!es_decode_frame(&face_pack_pack, (uint16_t)i, buf)) { fprintf(stderr, "frame %u corrupt\n", i); return 1; }
            for (b = 0; b < FACE_PACK_FRAME_BYTES; b++) printf("%02x", buf[b]);
            printf("\n");
        }
    }
    if (es_decode_frame(&face_pack_pack, FACE_PACK_FRAME_COUNT, buf)) return 2;  /* out of range must fail */
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("codec", ["raw", "auto", "ctx"])
def test_header_compiles_and_decodes_every_frame(tmp_path, face_transition, any_format, codec):
    pack = make_pack(face_transition, any_format, codec)
    write_pack(pack, tmp_path / "p")
    (tmp_path / "p" / "main.c").write_text(HOST)
    exe = tmp_path / "host"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1",
                    str(tmp_path / "p" / "main.c"), str(tmp_path / "p" / "emosketch_player.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    from_c = np.array([np.frombuffer(bytes.fromhex(line), np.uint8) for line in out])
    bits, m = manifest.read(tmp_path / "p")
    assert np.array_equal(pack.fmt.unpack(from_c, pack.width, pack.height), bits)
    header = (tmp_path / "p" / "face_pack.h").read_text()
    assert "ES_PROGMEM" in header and '#include "emosketch_player.h"' in header
    assert f"FACE_PACK_SEQ_{m['sequences'][1]['ident'].upper()} = 1" in header

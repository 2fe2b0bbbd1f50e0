"""The mirror page in a real headless browser: Debian's chromium (installed by `make browser`, which
.ci/run calls), driven by Playwright, which never downloads a browser build here. A face is
uploaded, and a fake camera plays a .y4m file made from synthetic faces."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from emosketch.datasets.synthetic import random_identity, render
from emosketch.models import default_generator

CHROMIUM = os.environ.get("EMOSKETCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

pytestmark = pytest.mark.skipif(
    sync_playwright is None or not Path(CHROMIUM).exists(),
    reason="needs Playwright (the dev extra) and Debian's chromium (make browser)")


def synthetic_photo(emotion: str, size: int = 256) -> np.ndarray:
    """A synthetic line-art face as an RGB picture with a grey surround (uint8 [size, size, 3])."""
    face = render(random_identity(seed=11), emotion, 1.0, size)
    return np.repeat(face[..., None], 3, axis=2)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Gray frames -> a YUV4MPEG2 (4:2:0) file, what Chromium's fake camera plays."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        chroma = np.full((h // 2) * (w // 2), 128, np.uint8).tobytes()
        for frame in frames:
            f.write(b"FRAME\n" + np.ascontiguousarray(frame[..., 0] if frame.ndim == 3 else frame).tobytes()
                    + chroma + chroma)
    return path


def canvas(page, element_id: str) -> str:
    return page.evaluate(f"document.getElementById('{element_id}').toDataURL()")


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory) -> Path:
    big = [np.pad(render(random_identity(seed=3), e, k, 240), ((0, 0), (40, 40)), constant_values=200)
           for e in ("happy", "surprise") for k in np.linspace(0.2, 1.0, 10)]
    return write_y4m(tmp_path_factory.mktemp("cam") / "faces.y4m", big)


@pytest.fixture(scope="module")
def browser(camera_file):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_file}"])
        yield b
        b.close()


def open_page(browser, live_server):
    # the test reads the page with evaluated expressions, which the page's own policy forbids
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.wait_for_function("Number(document.body.dataset.frames || 0) >= 3", timeout=15000)
    return context, page, errors


def test_uploading_a_face_changes_the_label_the_agent_plot_and_the_panel(browser, live_server, tmp_path):
    from PIL import Image

    context, page, errors = open_page(browser, live_server)
    before = {"oled": canvas(page, "oled"), "plot": canvas(page, "plot")}
    assert page.inner_text("#label") == "–"
    photo = tmp_path / "face.png"
    Image.fromarray(synthetic_photo("happy")).save(photo)
    page.set_input_files("#upload", str(photo))
    page.wait_for_selector("body[data-classified='1']", timeout=20000)
    label = page.inner_text("#label")
    assert label in ("neutral", "happy", "sad", "surprise", "fear", "anger")
    assert page.locator("#probs li").count() == 6
    # the face drawn is now the uploaded one, and the emotions read stimulated the agent
    page.wait_for_timeout(1500)
    assert canvas(page, "oled") != before["oled"]
    assert int(page.evaluate("document.body.dataset.sketches || 0")) >= 2  # the sketch beside the panel refreshes
    shipped = torch.load(default_generator(), weights_only=True)["image_size"]
    assert page.evaluate("document.getElementById('sketch').naturalWidth") == 3 * shipped
    status = page.inner_text("#status")
    if "stimulated" in status:
        assert canvas(page, "plot") != before["plot"]
    # a channel button stimulates by hand: the plot moves and the panel follows
    plot = canvas(page, "plot")
    page.click("button[data-channel='surprise']")
    page.wait_for_function("document.getElementById('dominant').textContent === 'surprise'", timeout=10000)
    page.wait_for_timeout(800)
    assert canvas(page, "plot") != plot
    # the plot has words too: each channel's level now, the strongest (the one stimulated) first
    page.wait_for_function("document.getElementById('plot').getAttribute('aria-label')"
                           ".startsWith(\"the agent's channels over the last 20 seconds; now surprise \")",
                           timeout=5000)  # words follow the plot within a second
    said = page.get_attribute("#plot", "aria-label")
    channels = page.evaluate("Array.from(document.querySelectorAll('button[data-channel]'), b => b.dataset.channel)")
    assert sorted(part.split()[0] for part in said.split("now ")[1].split(", ")) == sorted(channels)
    # a bad file is one line on the page, and the page goes on
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#status.error", timeout=10000)
    frames = int(page.evaluate("document.body.dataset.frames"))
    page.wait_for_function(f"Number(document.body.dataset.frames) > {frames + 2}", timeout=10000)
    shot = os.environ.get("EMOSKETCH_SCREENSHOT")
    page.click("button[data-channel='joy']")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(tmp_path / "page.png"))
    if shot:
        shutil.copyfile(tmp_path / "page.png", shot)
    assert errors == []
    context.close()


def test_the_fake_camera_is_read_and_drives_the_face(browser, live_server):
    context, page, errors = open_page(browser, live_server)
    before = canvas(page, "oled")
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/api/classify" in r.url else None)
    page.click("#camera")
    page.wait_for_function("Number(document.body.dataset.classified || 0) >= 2", timeout=30000)
    # a frame with no face found shows no reading (its bold label had looked like one)
    assert page.inner_text("#label") in ("neutral", "happy", "sad", "surprise", "fear", "anger", "no face in view")
    assert page.inner_text("#camera") == "Stop camera"
    # the live picture shows while the camera is on (a hidden one is paused: its frames came out black)
    assert page.evaluate("!document.getElementById('video').hidden")
    grab = page.evaluate("""() => { const v = document.getElementById('video'); const c = document.createElement('canvas');
        c.width = v.videoWidth; c.height = v.videoHeight; c.getContext('2d').drawImage(v, 0, 0);
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).filter((_, i) => i % 4 == 0); }""")
    assert np.mean(grab) > 100  # the synthetic faces are drawn on light paper, not a black frame
    # the first frame in which a face is found became the face, and its reading moved the agent
    page.wait_for_function("before => document.getElementById('oled').toDataURL() !== before", arg=before,
                           timeout=30000)
    page.wait_for_function("Number(document.body.dataset.classified || 0) >= 3", timeout=30000)
    # every camera frame asks for a face (found=1): one without stimulates nothing; later frames are not drawn
    assert len(sent) >= 3 and all("found=1" in u for u in sent) and "face=1" in sent[0] and "face=1" not in sent[-1]
    page.click("#camera")
    assert page.evaluate("document.getElementById('video').hidden")
    assert errors == []
    context.close()


def test_make_it_smile_and_the_pack_download_from_the_page(browser, live_server):
    context, page, errors = open_page(browser, live_server)
    page.select_option("#smile-target", "happy")
    curve = canvas(page, "smile-plot")
    page.click("#smile")
    page.wait_for_selector("body[data-searched]", timeout=60000)
    assert page.inner_text("#smile-result").split(":")[0] in ("reached", "not reached")
    assert canvas(page, "smile-plot") != curve
    # the curve has words for a screen reader: its start, its own code's reading and its end, as the CLI prints
    said = page.get_attribute("#smile-plot", "aria-label")
    assert said.startswith("the target's probability along the search: ") and "at the end" in said, said
    assert re.search(r"with its own code, [01]\.\d\d at the end \(\d+ frames\)$", said), said
    with page.expect_download(timeout=60000) as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "emosketch-pack.zip"
    import zipfile

    with zipfile.ZipFile(download.path()) as z:
        assert "emosketch_pack/manifest.json" in z.namelist()
    assert errors == []
    context.close()


def test_the_page_keeps_the_face_and_its_controls_in_step_with_the_user(browser, live_server, tmp_path):
    """From an audit of the page as a user meets it: a photo with no face had replaced the face drawn; a double
    click on Start camera opened two cameras, one of which Stop left running; an empty pack choice built all six
    emotions; the upload could not be reached by keyboard; a failed upload left the last reading on show."""
    from PIL import Image

    context, page, errors = open_page(browser, live_server)
    # a photo in which no face is found keeps the face drawn until the user asks for the whole picture
    plain = tmp_path / "noface.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))).save(plain)
    before = page.evaluate("document.body.dataset.classified || '0'")
    page.set_input_files("#upload", str(plain))
    page.wait_for_function(f"(document.body.dataset.classified || '0') !== '{before}'", timeout=20000)
    assert "no face found in noface.png" in page.inner_text("#status")
    assert page.inner_text("#label") == "no face in view"
    assert page.is_visible("#use-anyway")
    page.click("#use-anyway")
    page.wait_for_function("document.getElementById('status').textContent.includes('the whole picture is drawn')",
                           timeout=20000)
    assert page.evaluate("document.getElementById('use-anyway').hidden")
    # a failed upload clears the reading before it
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#status.error", timeout=10000)
    assert page.inner_text("#label") == "–" and page.locator("#probs li").count() == 0
    # an empty file says so
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    page.set_input_files("#upload", str(empty))
    page.wait_for_function("document.getElementById('status').textContent.includes('empty.png is empty')")
    # one camera, however fast the button is pressed, and Stop stops it
    page.evaluate("""() => { window.cameras = 0; const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = async (c) => { window.cameras += 1;
          await new Promise((r) => setTimeout(r, 600)); const s = await real(c); window.lastStream = s; return s; }; }""")
    page.evaluate("() => { document.getElementById('camera').click(); document.getElementById('camera').click(); }")
    page.wait_for_function("document.getElementById('camera').textContent === 'Stop camera'", timeout=10000)
    assert page.evaluate("window.cameras") == 1
    page.click("#camera")
    assert page.evaluate("window.lastStream.getTracks().every((t) => t.readyState === 'ended')")
    # a pack needs two emotions, said on the page with nothing sent
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/api/pack" in r.url else None)
    for box in page.query_selector_all("#pack-emotions input"):
        box.uncheck()
    page.click("#download")
    assert "tick at least two emotions" in page.inner_text("#status") and asked == []
    # the upload is reachable by keyboard and named for a screen reader
    page.focus("#camera")
    page.keyboard.press("Tab")  # the next stop after Start camera (display: none had taken it out of the order)
    assert page.evaluate("document.activeElement.id") == "upload"
    assert page.get_by_role("button", name="stimulate joy").count() == 1
    assert page.get_by_role("img", name="the 128x64 OLED").count() == 1
    assert errors == []
    context.close()


def test_a_page_refused_a_stream_retries_and_plays_once_a_place_frees(browser, live_server, serve_engine, monkeypatch):
    """A fifth tab of one session (four streams a session) had shown a black panel for ever: the stream's 429 ends
    EventSource's retries. The page now says so and tries again every 3 s. (One stream a session here: four tabs
    and a fifth would pass Chromium's six connections to one host, and the fifth page would not even load.)"""
    from dataclasses import replace

    monkeypatch.setattr(serve_engine, "config", replace(serve_engine.config, session_streams=1))
    context = browser.new_context(bypass_csp=True)
    first = context.new_page()
    first.goto(live_server + "/")
    first.wait_for_function("Number(document.body.dataset.frames || 0) >= 2", timeout=15000)
    second = context.new_page()
    second.goto(live_server + "/")
    second.wait_for_selector("body[data-ready='1']", timeout=15000)
    second.wait_for_function("document.getElementById('status').textContent.startsWith('lost the frame stream')",
                             timeout=15000)
    assert second.evaluate("Number(document.body.dataset.frames || 0)") == 0
    first.close()
    second.wait_for_function("Number(document.body.dataset.frames || 0) >= 3", timeout=20000)
    assert second.inner_text("#status") == "connected again"
    context.close()

"""Remake docs/serve-page.png, the mirror page as a browser shows it (run from the repository root):

    python docs/serve_page.py            # needs Debian's chromium (make browser) and Playwright (the dev extra)

`emosketch serve` runs on a free loopback port; headless Chromium opens the page, uploads the demo
photo (NASA's public-domain portrait), waits for the face to be read and drawn, and takes the picture.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emosketch.models import demo_photo  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "emosketch.cli", "serve", "--port", str(port), "--device", "cpu"],
                              cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", timeout=30000)
            page.set_input_files("#upload", str(demo_photo()))
            page.wait_for_selector("body[data-classified='1']", timeout=30000)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(ROOT / "docs" / "serve-page.png"), full_page=True)
            browser.close()
        print("wrote docs/serve-page.png")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()

"""Render a page in headless Chromium, as a browser would: the check report.html and
ablation.html share. Skips the calling test in one line when Chromium is not installed."""

import os
import struct
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"


def screenshot(page, directory, size=(1100, 3000)) -> bytes:
    """PNG bytes of `page` (a local HTML file) rendered at `size`; checks it is a PNG of
    that size."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium) to render the page")
    png = directory / "page.png"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={directory / 'profile'}",
        f"--screenshot={png}",
        f"--window-size={size[0]},{size[1]}",
        f"file://{page}",
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert png.exists(), "chromium wrote no screenshot"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == size
    return data

"""What a rendered page shows, for the tests of the report: a PNG's size and colours (no imaging library), and a
PDF's pages, their pictures and their text (poppler-utils: pdfinfo, pdftoppm, pdftotext; bash .ci/run installs it)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours of an RGB(A) PNG, every third row (no imaging library)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    channels = {2: 3, 6: 4}[colour_type]
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # filter bytes differ per row; distinct byte values across the rows say "not blank" well enough
    sample = {raw[k:k + channels] for r in range(0, height, 3) for k in range(r * stride + 1, (r + 1) * stride,
                                                                              channels * 7)}
    assert depth == 8
    return width, height, len(sample)


def _poppler(tool: str, *args: str) -> str:
    program = shutil.which(tool)
    if program is None:
        pytest.fail(f"{tool} is not installed: apt-get install poppler-utils (bash .ci/run does it)")
    done = subprocess.run([program, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{tool} {' '.join(args)}: exit code {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def pdf_pages(pdf: Path) -> int:
    """The number of pages of a PDF (pdfinfo)."""
    pages = re.search(r"^Pages:\s+(\d+)$", _poppler("pdfinfo", str(pdf)), re.MULTILINE)
    assert pages is not None, f"pdfinfo {pdf}: no page count"
    return int(pages.group(1))


def pdf_text(pdf: Path, page: int | None = None) -> str:
    """The text of a PDF (pdftotext), or of one of its pages, counted from 1."""
    pages = [] if page is None else ["-f", str(page), "-l", str(page)]
    return _poppler("pdftotext", *pages, str(pdf), "-")


def pdf_page_png(pdf: Path, page: int, folder: Path) -> Path:
    """One page of a PDF as an RGB PNG at 50 dpi (pdftoppm), pages counted from 1."""
    stem = folder / f"{pdf.stem}-page{page}"
    _poppler("pdftoppm", "-r", "50", "-png", "-singlefile", "-f", str(page), "-l", str(page), str(pdf), str(stem))
    return stem.with_suffix(".png")

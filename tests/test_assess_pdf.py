"""The report as PDF (``sfsim assess --pdf``): printed by the real headless Chromium, read back with poppler-utils."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from assess import PdfError, write_pdf
from sfsim import main

from .pages import pdf_page_png, pdf_pages, pdf_text, png_size_and_colours
from .pipeline import PLANT, Run
from .servers import InfluxDB

NO_CHROMIUM = "no Chromium found: install Debian's chromium (apt-get install chromium) or print the HTML from a browser"

#: three sections, one to a page, with the page numbers in the bottom margin as the report's print stylesheet has them
THREE_PAGES = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>PDF 试验 test page</title>
<style>
body{font-family:sans-serif}
section{break-before:page}
section:first-child{break-before:auto}
.band{background:#2a6;color:#fff;padding:4mm}
@media print{@page{size:A4;margin:15mm;@bottom-center{content:counter(page) " / " counter(pages);font-size:8pt}}}
</style></head>
<body>
<section><h1>一、自评估 Self-assessment</h1><p class="band">关键工序数控化率 80.0 %</p></section>
<section><h1>二、自诊断 Self-diagnosis</h1><p class="band">OEE 61.2 %</p></section>
<section><h1>三、方法说明 Method</h1><p class="band">设备联网率 11 / 14</p></section>
</body></html>
"""


@pytest.mark.slow
def test_a_page_prints_to_a_pdf_of_its_pages_with_their_numbers(tmp_path: Path) -> None:
    pdf = tmp_path / "three.pdf"
    write_pdf(THREE_PAGES, pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf_pages(pdf) == 3  # one page a section: the forced breaks hold, nothing overflows
    for page, heading in enumerate(["自评估", "自诊断", "方法说明"], start=1):
        text = pdf_text(pdf, page)
        assert heading in text, text
        # the @page margin box: "1 / 3" at the foot of the first page (pdftotext may close up the spaces)
        assert re.search(rf"(?<!\d){page}\s*/\s*3(?!\d)", text), text
        # Chromium's own header and footer (date, title, file URL) are left off
        assert "file:" not in text and "PDF 试验" not in text, text
        width, height, colours = png_size_and_colours(pdf_page_png(pdf, page, tmp_path))
        assert (width, height) == (414, 585)  # A4 (Chromium: 594.96 x 841.92 pt) at 50 dpi
        assert colours > 5, f"page {page} is blank"


def test_no_chromium_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFSIM_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no chromium and no chromium-browser
    pdf = tmp_path / "report.pdf"
    with pytest.raises(PdfError) as raised:
        write_pdf(THREE_PAGES, pdf)
    assert str(raised.value) == NO_CHROMIUM
    assert not pdf.exists()


def test_a_chromium_named_that_is_not_there_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFSIM_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(PdfError) as raised:
        write_pdf(THREE_PAGES, tmp_path / "report.pdf")
    message = str(raised.value)
    assert message.startswith(f"no Chromium found: SFSIM_CHROMIUM={tmp_path / 'no-such-chromium'} is no program")
    assert "apt-get install chromium" in message and "print the HTML from a browser" in message


def stand_in(tmp_path: Path, script: str) -> Path:
    """A program in Chromium's place (not Chromium: what write_pdf makes of a browser that fails or hangs)."""
    program = tmp_path / "stand-in-chromium"
    program.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    program.chmod(0o755)
    return program


def test_a_failing_chromium_says_its_exit_code_and_its_last_words(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    program = stand_in(tmp_path, "echo '[1:1:ERROR:dbus/bus.cc:405] Failed to connect to the bus' >&2\n"
                                 "echo 'cannot open display' >&2\nexit 3\n")
    monkeypatch.setenv("SFSIM_CHROMIUM", str(program))
    with pytest.raises(PdfError) as raised:
        write_pdf(THREE_PAGES, tmp_path / "report.pdf")
    # the D-Bus complaints every headless run makes are left out of what it said
    assert str(raised.value) == f"Chromium ({program}) failed with exit code 3: cannot open display"


def test_a_chromium_that_exits_without_a_pdf_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Chromium exits with 0 when it cannot write the file or load the page
    program = stand_in(tmp_path, "echo 'Failed to write file: No space left on device (28)' >&2\nexit 0\n")
    monkeypatch.setenv("SFSIM_CHROMIUM", str(program))
    with pytest.raises(PdfError) as raised:
        write_pdf(THREE_PAGES, tmp_path / "report.pdf")
    assert str(raised.value) == f"Chromium ({program}) wrote no PDF: Failed to write file: No space left on device (28)"
    assert not (tmp_path / "report.pdf").exists()


def test_a_hanging_chromium_is_stopped_at_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = stand_in(tmp_path, "sleep 60 &\nwait\n")  # a child of its own, as Chromium has: both are stopped
    monkeypatch.setenv("SFSIM_CHROMIUM", str(program))
    began = time.monotonic()
    with pytest.raises(PdfError) as raised:
        write_pdf(THREE_PAGES, tmp_path / "report.pdf", timeout_s=1)
    assert time.monotonic() - began < 10
    assert str(raised.value) == (f"Chromium ({program}) printed no PDF in 1 s and was stopped; print the HTML from "
                                 "a browser")


@pytest.mark.integration
def test_the_report_of_the_end_to_end_run_prints_to_pdf(filled_influxdb: tuple[InfluxDB, Run], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    influx, _ = filled_influxdb
    out, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    assert main(["assess", str(PLANT), "--influx", influx.url, "--out", str(out), "--pdf", str(pdf)]) == 0
    assert out.is_file()  # the HTML is written as ever
    said = capsys.readouterr().out
    assert said.startswith(f"{out}: ") and f"\n{pdf}: the same report as PDF\n" in said, said
    pages = pdf_pages(pdf)
    assert pages >= 4  # the cover, then provenance, indicators, evidence, diagnosis … on pages of their own
    for page in range(1, pages + 1):
        width, height, colours = png_size_and_colours(pdf_page_png(pdf, page, tmp_path))
        assert (width, height) == (414, 585)  # A4 at 50 dpi, as the print stylesheet says
        assert colours > 20, f"page {page} of {pages} is blank"  # text, tables and coloured cells
    # the cover holds the report's particulars and nothing else, and has no page number
    cover = pdf_text(pdf, 1)
    assert "两化融合 自评估·自诊断·自对标报告" in cover and "hangzhou-electronics-hz-binjiang-20260105" in cover
    assert "一、数据来源与完整性" not in cover and f"1 / {pages}" not in cover.replace("/", " / ").replace("  ", " ")
    # every other page is numbered "N / pages"; the sign-off block ends the report
    for page in range(2, pages + 1):
        assert re.search(rf"\b{page}\s*/\s*{pages}\b", pdf_text(pdf, page)), page
    assert "九、签字 Sign-off" in pdf_text(pdf, pages) or "九、签字 Sign-off" in pdf_text(pdf, pages - 1)
    # the Chinese is text in the PDF (a CJK font is embedded), not boxes
    assert "关键工序数控化率" in pdf_text(pdf)


@pytest.mark.integration
def test_without_chromium_the_html_is_written_and_the_pdf_refused(filled_influxdb: tuple[InfluxDB, Run],
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    influx, _ = filled_influxdb
    monkeypatch.delenv("SFSIM_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    out, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    assert main(["assess", str(PLANT), "--influx", influx.url, "--out", str(out), "--pdf", str(pdf)]) == 1
    assert out.is_file() and not pdf.exists()
    assert capsys.readouterr().err == f"sfsim assess: --pdf {pdf}: {NO_CHROMIUM}\n"

"""The report as PDF, printed by headless Chromium: the engine that renders the HTML prints it (CSS paged media,
page numbers in the page margins), with no PDF library in Python.

Chromium is found as ``$SFSIM_CHROMIUM`` (a program name or path), else ``chromium`` or ``chromium-browser`` on the
PATH, else a Chromium-based browser where a school laptop has one (Google Chrome, Microsoft Edge on Windows and
macOS: ``CHROMIUMS``). It runs with a profile of its own in a temporary folder, and with every background service
and every host name switched off: the report is self-contained and the printing makes no network request.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: what to do when there is no Chromium
_INSTALL = "install Debian's chromium (apt-get install chromium) or print the HTML from a browser"

#: nothing leaves the machine: no background service (updates, sync, safe browsing, metrics, crash reports), no
#: first-run work, and every host name and address resolves to nothing (a page's remote file would fail at once)
_OFFLINE = [
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-breakpad", "--metrics-recording-only", "--no-first-run", "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


class PdfError(Exception):
    """The PDF could not be printed; the message says why and what to do."""


#: Chromium-based browsers after ``chromium`` and ``chromium-browser``: by name on the PATH, then where their
#: installers put them (Windows: under the Program Files folders; macOS: the application bundles)
CHROMIUMS = ("google-chrome", "chrome", "msedge",
             *(str(Path(os.environ.get(root, "")) / vendor / "Application" / program)
               for root in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA") if os.environ.get(root)
               for vendor, program in (("Google/Chrome", "chrome.exe"), ("Microsoft/Edge", "msedge.exe"))),
             "/Applications/Chromium.app/Contents/MacOS/Chromium",
             "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
             "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge")


def _chromium() -> str:
    """The Chromium program to print with: ``$SFSIM_CHROMIUM``, else ``chromium`` or ``chromium-browser``, else one
    of ``CHROMIUMS``."""
    named = os.environ.get("SFSIM_CHROMIUM")
    if named:
        found = shutil.which(named)
        if found is None:
            raise PdfError(f"no Chromium found: SFSIM_CHROMIUM={named} is no program; set it to Chromium's, or "
                           f"unset it and {_INSTALL}")
        return found
    for name in ("chromium", "chromium-browser", *CHROMIUMS):
        found = shutil.which(name)
        if found is not None:
            return found
    raise PdfError(f"no Chromium found: {_INSTALL}")


def _tail(stderr: str, lines: int = 5) -> str:
    """The last lines of Chromium's stderr that say something: not the D-Bus complaints of a machine without a
    desktop session, nor the Debian launcher's shell noise."""
    said = [line for line in stderr.splitlines()
            if line.strip() and "dbus" not in line.lower() and "unexpected operator" not in line]
    return "; ".join(said[-lines:]) or "nothing on stderr"


def write_pdf(html: str, out: Path, *, timeout_s: float = 120) -> None:
    """Print ``html`` (a self-contained page, as ``render`` writes it) to the PDF file ``out`` with headless Chromium.

    The page's own print stylesheet decides the paper, the margins and what the margins hold; Chromium's header and
    footer (the date, the title, the file's URL) are left off. Raises ``PdfError`` when there is no Chromium, when
    it fails, takes longer than ``timeout_s`` or writes no PDF; ``OSError`` when ``out`` cannot be written.
    """
    program = _chromium()
    try:
        folder = tempfile.TemporaryDirectory(prefix="sfsim-pdf-", ignore_cleanup_errors=True)
    except OSError as e:
        raise PdfError(f"no temporary folder for Chromium: {e.strerror or e}") from None
    with folder as tmp:
        page, printed = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        try:
            page.write_text(html, encoding="utf-8")
        except OSError as e:
            raise PdfError(f"no room for the page in the temporary folder {tmp}: {e.strerror or e}") from None
        command = [program, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                   f"--user-data-dir={Path(tmp) / 'profile'}", *_OFFLINE, f"--print-to-pdf={printed}", page.as_uri()]
        # a session of its own: on a timeout the browser and every process it started are stopped together
        try:
            chrome = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        except OSError as e:  # not executable, not a program
            raise PdfError(f"Chromium ({program}) did not start: {e.strerror or e}; {_INSTALL}") from None
        with chrome:
            try:
                _, stderr = chrome.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    if sys.platform == "win32":  # no process groups: the browser, which ends its own helpers
                        chrome.kill()
                    else:
                        os.killpg(chrome.pid, signal.SIGKILL)
                chrome.communicate()
                raise PdfError(f"Chromium ({program}) printed no PDF in {timeout_s:g} s and was stopped; print the "
                               "HTML from a browser") from None
        if chrome.returncode != 0:
            how = (f"exit code {chrome.returncode}" if chrome.returncode > 0 else f"signal {-chrome.returncode}")
            raise PdfError(f"Chromium ({program}) failed with {how}: {_tail(stderr)}")
        # Chromium exits with 0 when it could not load the page or write the file: the file tells
        if not printed.is_file() or printed.read_bytes()[:5] != b"%PDF-":
            raise PdfError(f"Chromium ({program}) wrote no PDF: {_tail(stderr)}")
        shutil.copyfile(printed, out)

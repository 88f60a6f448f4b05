"""The assessor's report (两化融合 自评估、自诊断、自对标) of one site over a period.

``assess`` reads the evidence from a ``Source`` — a collector's InfluxDB (InfluxQL) or the
line protocol files of the embedded demo — and the asset register from the plant file;
``render`` writes one self-contained HTML file (inline SVG charts, prints to A4); ``write_pdf`` prints it to PDF
with headless Chromium.
"""

from ._html import render, render_summary
from ._model import Assessment, EquipmentRow, IndicatorRow, LineEffect, LineRow, NoData, ReportMeta, Simulate, assess
from ._pdf import PdfError, write_pdf
from ._sources import FileSource, Hour, InfluxSource, Source, parse_line
from ._summary import Summary, summarise

__all__ = ["Assessment", "EquipmentRow", "FileSource", "Hour", "IndicatorRow", "InfluxSource", "LineEffect", "LineRow",
           "NoData", "PdfError", "ReportMeta", "Simulate", "Source", "Summary", "assess", "parse_line", "render",
           "render_summary", "summarise", "write_pdf"]

"""Exports open right where operators open them: sales CSV in a spreadsheet, QR on paper."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from livemarket.checkout.qr import qr_svg
from livemarket.checkout.sales import SaleLine, to_csv

SEOUL = ZoneInfo("Asia/Seoul")


def _line(name: str, created_at: str = "2021-12-18T10:05:00+00:00") -> SaleLine:
    return SaleLine(7, created_at, "paid", 3, name, 2, 9_030, 12_900, 4)


def test_sales_csv_starts_with_a_bom_so_excel_reads_korean_as_utf8() -> None:
    """Excel only reads a CSV as UTF-8 when it starts with a BOM; the names come through whole."""
    text = to_csv([_line("제주 감귤 5kg")], SEOUL)
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0]["product_name"] == "제주 감귤 5kg"


def test_sales_csv_amounts_are_numbers_and_times_are_local_wall_clock() -> None:
    """Amounts are bare integers and the order time is a local time a spreadsheet parses."""
    text = to_csv([_line("귤")], SEOUL).removeprefix("\ufeff")
    assert '"' not in text.splitlines()[1]  # nothing quoted: numbers stay numbers
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["amount"] == "18060"
    assert row["unit_price"] == "9030"
    assert row["created_at (Asia/Seoul)"] == "2021-12-18 19:05:00"


def test_sales_csv_still_defuses_formulas() -> None:
    """A product name that looks like a formula stays text."""
    text = to_csv([_line("=HYPERLINK(1)")], SEOUL).removeprefix("\ufeff")
    assert next(csv.DictReader(io.StringIO(text)))["product_name"] == "'=HYPERLINK(1)"


def test_qr_svg_has_a_white_background() -> None:
    """A QR code with a transparent background does not scan on a dark page: it brings its own."""
    svg = qr_svg("http://127.0.0.1:8080/products/1").decode()
    assert '<rect fill="white"' in svg
    assert svg.index("<rect") < svg.index("<path")  # drawn under the modules

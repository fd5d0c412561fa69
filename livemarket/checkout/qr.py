"""QR codes (PNG and SVG) that open a product's or a special's page on a phone.

Rendering is CPU work: callers run these in a thread (``asyncio.to_thread``);
results are cached because a sheet asks for the same codes again and again.
"""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _code(url: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


@lru_cache(maxsize=512)
def qr_png(url: str) -> bytes:
    """A PNG QR code of ``url`` (pure-Python PNG writer, no Pillow needed)."""
    image = _code(url).make_image(image_factory=qrcode.image.pure.PyPNGImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


@lru_cache(maxsize=512)
def qr_svg(url: str) -> bytes:
    """An SVG QR code of ``url`` (one path on a white square; scales for print).

    The white background is part of the image: a transparent one scans on white paper but
    not on the dark or patterned page a sheet or screen may put it on.
    """
    image = _code(url).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def product_path(product_id: int) -> str:
    return f"/products/{product_id}"


def special_path(special_id: int) -> str:
    return f"/specials/{special_id}"

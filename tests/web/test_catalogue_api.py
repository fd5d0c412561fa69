"""The catalogue's write side: optimistic edits, archiving, pictures."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.checkout.images import MAX_IMAGE_BYTES
from livemarket.web.typedefs import SETTINGS_KEY
from tests.web.test_checkout_api import Shop, as_user, shop

__all__ = ["shop"]


def tiny_png() -> bytes:
    """A real 1×1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


async def _product(client: TestClient[Any, Any], product_id: int) -> Any:
    return await (await client.get(f"/api/v1/products/{product_id}")).json()


async def test_a_stale_edit_is_refused_and_changes_nothing(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """An edit based on an old version gets 412 (If-Match) or 409 (body); the product keeps
    the other operator's change; the fresh ETag goes through."""
    csrf = await as_user(client, "op")
    headers = {"X-CSRF-Token": csrf}
    url = f"/api/v1/products/{shop.product_id}"
    seen = (await _product(client, shop.product_id))["version"]
    first = await client.patch(
        url, json={"price": 13_000}, headers={**headers, "If-Match": f'"{seen}"'}
    )
    assert first.status == 200
    assert first.headers["ETag"] == f'"{seen + 1}"'
    stale = await client.patch(url, json={"price": 1}, headers={**headers, "If-Match": f'"{seen}"'})
    assert stale.status == 412
    assert (await stale.json())["error"]["code"] == "precondition_failed"
    conflict = await client.patch(url, json={"price": 1, "version": seen}, headers=headers)
    assert conflict.status == 409
    assert (await _product(client, shop.product_id))["price"] == 13_000
    fresh = await client.patch(
        url, json={"price": 14_000}, headers={**headers, "If-Match": first.headers["ETag"]}
    )
    assert fresh.status == 200


async def test_archived_products_leave_the_catalogue_and_can_come_back(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """Archiving hides the product from the public list (the console still lists it);
    restoring brings it back."""
    csrf = await as_user(client, "op")
    url = f"/api/v1/products/{shop.product_id}"
    archived = await client.patch(url, json={"archived": True}, headers={"X-CSRF-Token": csrf})
    assert (await archived.json())["archived"] is True
    listed = await (await client.get("/api/v1/products")).json()
    assert shop.product_id not in [p["id"] for p in listed["items"]]
    everything = await (await client.get("/api/v1/products?include_archived=true")).json()
    assert shop.product_id in [p["id"] for p in everything["items"]]
    await client.patch(url, json={"archived": False}, headers={"X-CSRF-Token": csrf})
    listed = await (await client.get("/api/v1/products")).json()
    assert shop.product_id in [p["id"] for p in listed["items"]]


async def test_a_picture_is_stored_served_for_good_and_replaced(
    client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """A PNG upload gives the product an image URL served with its type and an immutable cache."""
    csrf = await as_user(client, "op")
    url = f"/api/v1/products/{shop.product_id}/image"
    response = await client.put(
        url, data=tiny_png(), headers={"X-CSRF-Token": csrf, "Content-Type": "image/png"}
    )
    assert response.status == 200, await response.text()
    image_url = (await response.json())["image_url"]
    served = await client.get(image_url)
    assert served.status == 200
    assert served.headers["Content-Type"] == "image/png"
    assert "immutable" in served.headers["Cache-Control"]
    assert await served.read() == tiny_png()
    removed = await client.delete(url, headers={"X-CSRF-Token": csrf})
    assert (await removed.json())["image_url"] is None


async def test_what_is_not_a_picture_is_refused_and_nothing_is_stored(
    client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """Text named as a PNG is 422; a body over the cap is 413; an unknown product 404;
    a viewer 403; no file is written for any of them; odd names are never served."""
    folder = Path(app[SETTINGS_KEY].data_dir) / "product-images"
    url = f"/api/v1/products/{shop.product_id}/image"
    csrf = await as_user(client, "op")
    headers = {"X-CSRF-Token": csrf, "Content-Type": "image/png"}
    fake = await client.put(url, data=b"<svg onload=alert(1)>", headers=headers)
    assert fake.status == 422
    assert (await fake.json())["error"]["code"] == "image_unsupported"
    body = io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES))
    big = await client.put(url, data=body, headers=headers)
    assert big.status == 413
    assert (await big.json())["error"]["code"] == "image_too_large"
    missing = await client.put("/api/v1/products/99999/image", data=tiny_png(), headers=headers)
    assert missing.status == 404
    assert not folder.exists() or not any(folder.iterdir())
    assert (await client.get("/media/product-images/..%2Fsecret.key")).status == 404
    assert (await _product(client, shop.product_id))["image_url"] is None

"""JSON answers: what every client parses."""

from __future__ import annotations

import json

from livemarket.web.responses import json_response


def test_json_answers_are_utf8_json_with_the_status_and_headers() -> None:
    """Hangul travels as UTF-8, integer keys become strings, headers are kept."""
    response = json_response(
        {"name": "유자청", 7: [1.5, None]}, status=201, headers={"ETag": '"3"'}
    )
    assert response.status == 201
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["ETag"] == '"3"'
    assert isinstance(response.body, bytes)
    assert "유자청".encode() in response.body
    assert json.loads(response.body) == {"name": "유자청", "7": [1.5, None]}

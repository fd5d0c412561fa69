"""The OpenAPI 3.1 document, built from the declared operations (so it matches the routes)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from livemarket import __version__
from livemarket.accounts.roles import Access
from livemarket.web.api import OPERATIONS_KEY, ApiRoutes, Operation
from livemarket.web.responses import json_response

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_DEFAULT_ERRORS = {
    Access.PUBLIC: (),
    Access.VIEWER: (401, 403),
    Access.HOST: (401, 403),
    Access.OPERATOR: (401, 403),
}


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.handler.__name__,
        "tags": list(op.tags),
        "x-access": op.access.value,
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(op.path)
    ]
    if op.query is not None:
        params += _query_parameters(op.query)
    params += [
        {"name": header, "in": "header", "required": False, "schema": {"type": "string"}}
        for header in op.headers
    ]
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(op.body, components)}},
        }
    responses: dict[str, Any] = {
        str(op.status): {"description": "Success", "content": {op.content_type: {}}}
        if op.status != 204
        else {"description": "No content"}
    }
    error_codes = set(_DEFAULT_ERRORS[op.access]) | set(op.errors)
    if op.body is not None:
        error_codes |= {400, 415, 422}
    for code in sorted(error_codes):
        responses[str(code)] = {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    doc["responses"] = responses
    if op.access is not Access.PUBLIC:
        doc["security"] = [{"session": [], "csrf": []}]
    return doc


def build_document(operations: list[Operation]) -> dict[str, Any]:
    """The whole document for ``operations``; paths use OpenAPI's ``{name}`` templates."""
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", op.path)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "LiveMarket API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "lm_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }


routes = ApiRoutes()


@routes.get(
    "/api/v1/openapi.json", access=Access.PUBLIC, summary="This OpenAPI document", tags=("meta",)
)
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(build_document(request.app[OPERATIONS_KEY]))


def setup(app: web.Application) -> None:
    routes.install(app)

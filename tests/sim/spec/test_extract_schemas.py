"""The schema extraction script: OpenAPI 3.0 -> JSON Schema conversion, and a run on a tiny spec."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

SCRIPT = Path(__file__).resolve().parent / "extract_schemas.py"
_spec = importlib.util.spec_from_file_location("extract_schemas", SCRIPT)
assert _spec is not None and _spec.loader is not None
extract_schemas = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extract_schemas)
convert = extract_schemas.to_json_schema


def valid(schema: Any, instance: Any) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


def test_nullable_adds_null_to_type_and_enum() -> None:
    schema = convert({}, {"type": "string", "enum": ["a", "b"], "nullable": True})
    assert schema == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert valid(schema, None) and valid(schema, "a") and not valid(schema, "c")


def test_not_nullable_rejects_null() -> None:
    schema = convert({}, {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]})
    assert not valid(schema, {"x": None})
    assert not valid(schema, {})
    assert valid(schema, {"x": 1})


def test_nullable_without_type_wraps_in_any_of() -> None:
    schema = convert({}, {"nullable": True, "allOf": [{"type": "object", "required": ["a"]}]})
    assert schema == {"anyOf": [{"type": "null"}, {"allOf": [{"type": "object", "required": ["a"]}]}]}
    assert valid(schema, None) and valid(schema, {"a": 1}) and not valid(schema, {})


def test_additional_properties_kept_as_the_spec_says() -> None:
    closed = convert({}, {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False})
    assert not valid(closed, {"a": "x", "b": 1})
    labels = convert({}, {"type": "object", "additionalProperties": {"type": "string", "example": "v"}})
    assert labels == {"type": "object", "additionalProperties": {"type": "string"}}
    assert valid(labels, {"k": "v"}) and not valid(labels, {"k": 1})


def test_openapi_only_keywords_dropped_but_properties_of_that_name_kept() -> None:
    schema = convert(
        {},
        {
            "type": "object",
            "description": "a rule",
            "example": {"description": "x"},
            "x-enumDescriptions": {},
            "discriminator": {"propertyName": "description"},
            "properties": {"description": {"type": "string", "nullable": True, "description": "the rule's"}},
        },
    )
    assert schema == {"type": "object", "properties": {"description": {"type": ["string", "null"]}}}


def test_refs_inlined_and_cycles_refused() -> None:
    spec = {"components": {"schemas": {"A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}}, "B": {"type": "integer", "nullable": True}}}}
    assert convert(spec, {"$ref": "#/components/schemas/A"}) == {"type": "object", "properties": {"b": {"type": ["integer", "null"]}}}
    cyclic = {"components": {"schemas": {"C": {"type": "object", "properties": {"c": {"$ref": "#/components/schemas/C"}}}}}}
    with pytest.raises(extract_schemas.SpecError, match="cyclic"):
        convert(cyclic, {"$ref": "#/components/schemas/C"})
    with pytest.raises(extract_schemas.SpecError, match="dangling"):
        convert(spec, {"$ref": "#/components/schemas/Z"})


ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}, "required": ["error"]}


def _tiny_spec() -> dict[str, Any]:
    def responses(ok: dict[str, Any]) -> dict[str, Any]:
        error = {"description": "e", "content": {"application/json": {"schema": ERROR}}}
        return {**ok, "4xx": error, "5xx": error}

    body = {"content": {"application/json": {"schema": {"type": "object", "properties": {"thing": {"$ref": "#/components/schemas/Thing"}}, "required": ["thing"]}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Tiny", "version": "9", "description": "| Status | Code |\n| --- | --- |\n| `404` | `not_found` | x |\n| `422` | `invalid_input` | y |\n"},
        "paths": {
            "/things/{id}": {"get": {"responses": responses({"200": {"description": "ok", **body}})}, "delete": {"responses": responses({"204": {"description": "ok"}})}},
        },
        "components": {"schemas": {"Thing": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"], "additionalProperties": False}}},
    }


def test_script_writes_standalone_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_schemas, "ENDPOINTS", [("GET", "/things/{id}"), ("DELETE", "/things/{id}")])
    index = extract_schemas.extract(_tiny_spec(), tmp_path / "out")
    assert index["endpoints"] == {"GET /things/{id}": {"status": 200, "schema": "get_things_id_200.json"}, "DELETE /things/{id}": {"status": 204, "schema": None}}
    assert index["error_codes"] == {"not_found": 404, "invalid_input": 422}
    written = json.loads((tmp_path / "out" / "get_things_id_200.json").read_text())
    Draft202012Validator.check_schema(written)
    assert "$ref" not in json.dumps(written)
    assert valid(written, {"thing": {"id": 1}}) and not valid(written, {"thing": {"id": 1, "x": 2}}) and not valid(written, {})
    assert json.loads((tmp_path / "out" / "error.json").read_text())["required"] == ["error"]
    assert json.loads((tmp_path / "out" / "index.json").read_text()) == index


def test_script_refuses_an_endpoint_missing_from_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_schemas, "ENDPOINTS", [("GET", "/nowhere")])
    with pytest.raises(extract_schemas.SpecError, match="GET /nowhere is not in the spec"):
        extract_schemas.extract(_tiny_spec(), tmp_path)


def test_command_line(tmp_path: Path) -> None:
    usage = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "SPEC_PATH OUT_DIR" in usage.stderr
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(_tiny_spec()))
    # The real endpoint list is not in the tiny spec: the script names the first missing one and fails.
    run = subprocess.run([sys.executable, str(SCRIPT), str(spec_path), str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "is not in the spec" in run.stderr

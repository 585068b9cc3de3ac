"""The Bot API's method signatures, as data, and the decoding of wire parameters with them.

Telegram accepts parameters as a query string, a form (urlencoded or multipart) or a JSON body.
In a form every value is a string: integers arrive as ``"7"``, booleans as ``"true"`` and nested
objects (``reply_markup``, ``scope``, ``commands``…) as JSON text. :func:`Spec.decode` turns either
shape into typed Python values using each parameter's declared types, so the core sees one shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

DATA_FILE = "botapi_methods.json"


class Kind(Enum):
    """How a parameter's wire value is decoded."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    INT_OR_STR = "int_or_str"  # chat_id: a number, or "@username"
    JSON = "json"  # objects and arrays: JSON text in forms, native in JSON bodies
    FILE = "file"  # InputFile or String: kept as is (the stand-in does not store media)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    required: bool
    types: tuple[str, ...]
    kind: Kind


class ParamError(ValueError):
    """A parameter value that cannot be decoded to its declared type. ``str(exc)`` is the
    description the Bot API would answer with (without the ``Bad Request:`` prefix)."""


def _kind(types: tuple[str, ...]) -> Kind:
    t = set(types)
    if "InputFile" in t:
        return Kind.FILE
    if t == {"String"}:
        return Kind.STR
    if t == {"Integer"}:
        return Kind.INT
    if t == {"Integer", "String"}:
        return Kind.INT_OR_STR
    if t <= {"Float", "Integer"}:
        return Kind.FLOAT
    if t == {"Boolean"}:
        return Kind.BOOL
    return Kind.JSON


_TRUE = frozenset({"true", "1", "True"})
_FALSE = frozenset({"false", "0", "False", ""})


def _decode_value(p: Param, value: Any) -> Any:
    kind = p.kind
    if kind is Kind.STR:
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        raise ParamError(f'parameter "{p.name}" must be a String')
    if kind is Kind.INT or kind is Kind.INT_OR_STR:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                if kind is Kind.INT_OR_STR:
                    return value
        raise ParamError(f'parameter "{p.name}" must be an Integer')
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and (value in _TRUE or value in _FALSE):
            return value in _TRUE
        if isinstance(value, int):
            return value != 0
        raise ParamError(f'parameter "{p.name}" must be a Boolean')
    if kind is Kind.FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ParamError(f'parameter "{p.name}" must be a Float') from None
    if kind is Kind.JSON:
        if isinstance(value, dict | list):
            return value
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ParamError(f"can't parse {p.name} JSON object") from None
        raise ParamError(f"can't parse {p.name} JSON object")
    return value  # Kind.FILE


@dataclass(frozen=True, slots=True)
class Spec:
    version: str
    methods: dict[str, dict[str, Param]]
    types: dict[str, dict[str, Param]]
    _by_lower: dict[str, str]

    def canonical(self, method: str) -> str | None:
        """The method's official spelling; Telegram matches method names case-insensitively."""
        if method in self.methods:
            return method
        return self._by_lower.get(method.lower())

    def required(self, method: str) -> list[str]:
        return [p.name for p in self.methods[method].values() if p.required]

    def decode(self, method: str, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed parameters of a call. Parameters the spec does not list are kept as sent
        (Telegram ignores them). Raises :class:`ParamError`."""
        params = self.methods[method]
        out: dict[str, Any] = {}
        for name, value in raw.items():
            p = params.get(name)
            out[name] = value if p is None or value is None else _decode_value(p, value)
        return out


def _params(fields: list[dict[str, Any]]) -> dict[str, Param]:
    result = {}
    for f in fields:
        types = tuple(f["types"])
        result[f["name"]] = Param(f["name"], bool(f["required"]), types, _kind(types))
    return result


@cache
def load_spec() -> Spec:
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    methods = {name: _params(fields) for name, fields in data["methods"].items()}
    types = {name: _params(fields) for name, fields in data["types"].items()}
    return Spec(
        version=data.get("version", ""),
        methods=methods,
        types=types,
        _by_lower={name.lower(): name for name in methods},
    )

"""Regenerate ``botapi_methods.json`` from the scraped Bot API spec.

Usage: ``python -m bot.sandbox.make_spec [/work/shared/botapi/api.json]``.

The output is small and committed, so the stand-in needs no network and no shared folder at run
time. It keeps, per method, each parameter's name, required flag and types, plus the fields of the
few types whose shape the stand-in validates (keyboard buttons).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path("/work/shared/botapi/api.json")
OUTPUT = Path(__file__).with_name("botapi_methods.json")
# Types whose field lists the validator needs (the "exactly one action field" rule for buttons).
KEPT_TYPES = ("InlineKeyboardButton", "KeyboardButton", "ReplyKeyboardMarkup", "ReplyKeyboardRemove",
              "ForceReply", "InlineKeyboardMarkup", "BotCommand")


def build(api: dict[str, Any]) -> dict[str, Any]:
    methods = {
        name: [
            {"name": f["name"], "required": bool(f.get("required")), "types": list(f["types"])}
            for f in method.get("fields", [])
        ]
        for name, method in api["methods"].items()
    }
    types = {
        name: [
            {"name": f["name"], "required": bool(f.get("required")), "types": list(f["types"])}
            for f in api["types"][name].get("fields", [])
        ]
        for name in KEPT_TYPES
    }
    return {
        "version": api.get("version", ""),
        "release_date": api.get("release_date", ""),
        "methods": methods,
        "types": types,
    }


def render(data: dict[str, Any]) -> str:
    # One method per line: compact, yet a spec update gives a readable diff.
    lines = ["{", f'"version": {json.dumps(data["version"])},',
             f'"release_date": {json.dumps(data["release_date"])},', '"methods": {']
    for section in ("methods", "types"):
        if section == "types":
            lines.append('"types": {')
        items = list(data[section].items())
        for i, (name, fields) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"{json.dumps(name)}: {json.dumps(fields, ensure_ascii=False, separators=(',', ':'))}"
                         f"{comma}")
        lines.append("}," if section == "methods" else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else DEFAULT_SOURCE
    api = json.loads(source.read_text(encoding="utf-8"))
    OUTPUT.write_text(render(build(api)), encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(api['methods'])} methods, {api.get('version', '?')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

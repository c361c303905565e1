#!/usr/bin/env python3
"""Validate Grafana dashboards (dashboards/*.json) against Grafana's dashboard schema.

The schema is the one the grafana-foundation-sdk package carries: its models are generated
from Grafana's own schema definitions (the dashboard kind and each panel plugin's options and
field config), one class per schema type, with typed constructor arguments. For each dashboard
this script

1. loads it with the SDK (`Dashboard.from_json`, with the default panel and query plugins
   registered, so each panel's `options` and `fieldConfig.defaults.custom` are read by that
   panel type's own model, and each target by the Prometheus query model);
2. checks every value against the type the schema gives it (int, float, string, bool, enum
   member, list, nested model; a required field may not be missing);
3. writes the model back to JSON and checks that every key of the file survives: a key the
   schema does not know (a misspelt `gridpos`, an option of another panel type) is dropped by
   the round trip and reported;
4. refuses a panel type the SDK has no model for.

Usage: check_schema.py FILE...   (prints `FILE: path: reason` per problem; exit 1 if any)
"""

import enum
import json
import sys
import types
import typing

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard

NONE = type(None)


def is_model(value):
    return hasattr(type(value), "from_json") and hasattr(value, "__dict__")


def check_model(obj, path, errors):
    hints = typing.get_type_hints(type(obj).__init__)
    for name, hint in hints.items():
        if name == "return" or not hasattr(obj, name):
            continue
        check_value(getattr(obj, name), hint, f"{path}.{name}", errors)


def check_value(value, hint, path, errors):
    origin = typing.get_origin(hint)
    if hint in (typing.Any, object):
        if is_model(value):
            check_model(value, path, errors)
        return
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(hint)
        if value is None and NONE in arms:
            return
        reasons = []
        for arm in arms:
            if arm is NONE:
                continue
            trial = []
            check_value(value, arm, path, trial)
            if not trial:
                return
            reasons.append(trial[0])
        if len(reasons) == 1:
            errors.append(reasons[0])
        else:
            errors.append(f"{path}: matches no allowed type ({'; '.join(reasons)})")
        return
    if value is None:
        errors.append(f"{path}: required, missing")
        return
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {value!r}")
            return
        (item,) = typing.get_args(hint) or (typing.Any,)
        for i, v in enumerate(value):
            check_value(v, item, f"{path}[{i}]", errors)
        return
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {value!r}")
            return
        args = typing.get_args(hint)
        for k, v in value.items():
            check_value(v, args[1] if len(args) == 2 else typing.Any, f"{path}.{k}", errors)
        return
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            errors.append(f"{path}: {value!r} is not one of {typing.get_args(hint)}")
        return
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [m.value for m in hint]
        if not isinstance(value, hint) and value not in allowed:
            errors.append(f"{path}: {value!r} is not one of {allowed}")
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{path}: expected a number, got {value!r}")
        return
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{path}: expected an integer, got {value!r}")
        return
    if hint in (str, bool):
        if not isinstance(value, hint):
            errors.append(f"{path}: expected {hint.__name__}, got {value!r}")
        return
    if isinstance(hint, type):
        if isinstance(value, dict) and hasattr(hint, "from_json"):
            # The SDK leaves some nested objects as read (transformations): read them now.
            value = hint.from_json(value)
        if not isinstance(value, hint):
            errors.append(f"{path}: expected {hint.__name__}, got {value!r}")
        elif is_model(value):
            check_model(value, path, errors)


def check_kept(original, written, path, errors):
    """Every key and value of `original` is in `written` (the schema's round trip)."""
    if isinstance(original, dict):
        if not isinstance(written, dict):
            errors.append(f"{path}: became {written!r}")
            return
        for key, value in original.items():
            if key not in written:
                errors.append(f"{path}.{key}: not in the schema (dropped by the round trip)")
            else:
                check_kept(value, written[key], f"{path}.{key}", errors)
    elif isinstance(original, list):
        if not isinstance(written, list) or len(written) != len(original):
            errors.append(f"{path}: list changed in the round trip")
            return
        for i, (a, b) in enumerate(zip(original, written)):
            check_kept(a, b, f"{path}[{i}]", errors)
    elif original != written and not (isinstance(original, (int, float)) and original == written):
        errors.append(f"{path}: {original!r} became {written!r}")


def check_file(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    errors = []
    board = dashboard.Dashboard.from_json(data)
    check_model(board, "dashboard", errors)
    for i, panel in enumerate(board.panels or []):
        options = getattr(panel, "options", None)
        if getattr(panel, "type_val", None) != "row" and isinstance(options, dict):
            errors.append(f"dashboard.panels[{i}]: panel type {panel.type_val!r} has no schema")
    written = json.loads(json.dumps(board, cls=JSONEncoder))
    check_kept(data, written, "dashboard", errors)
    return errors


def main(paths):
    plugins.register_default_plugins()
    failed = False
    for path in paths:
        for error in check_file(path):
            print(f"{path}: {error}")
            failed = True
    if not failed:
        print(f"{len(paths)} dashboards valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

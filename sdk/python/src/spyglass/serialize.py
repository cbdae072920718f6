"""Turn arbitrary Python values into capped JSON text for span attributes.

Runs on the application thread, so it is bounded in work as well as in output: containers are
walked only as deep and as wide as the cap could possibly show, and it never raises (a value
whose `repr` fails is written as a placeholder)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

_TRUNCATION = "…[truncated {} bytes]"
_MAX_DEPTH = 8
# More items than this cannot fit in any sensible cap; the rest are counted, not walked.
_MAX_ITEMS = 200
_MAX_REPR = 500


def cap_text(text: str, max_bytes: int) -> str:
    """Cut `text` to `max_bytes` UTF-8 bytes, ending with the marker the server also uses."""
    # Most values are short: a length check in characters decides without encoding (a character
    # is at most 4 bytes).
    if len(text) * 4 <= max_bytes:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    cut = data[:max_bytes].decode("utf-8", "ignore")
    return cut + _TRUNCATION.format(len(data) - len(cut.encode("utf-8", "surrogatepass")))


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the traced function
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "…"


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """A structure of dict/list/str/int/float/bool/None that says what `value` is."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return _safe_repr(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= _MAX_ITEMS:
                out["…"] = f"{len(value) - _MAX_ITEMS} more items"
                break
            out[k if isinstance(k, str) else _safe_repr(k)] = to_jsonable(v, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value) if not isinstance(value, (list, tuple)) else value
        result = [to_jsonable(v, depth + 1) for v in items[:_MAX_ITEMS]]
        if len(items) > _MAX_ITEMS:
            result.append(f"… {len(items) - _MAX_ITEMS} more items")
        return result
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__} of {len(value)} bytes>"
    # Pydantic v2 and v1 models, then dataclasses: their fields, not their repr.
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return to_jsonable(dump(mode="json"), depth + 1)
        except Exception:
            return _safe_repr(value)
    legacy = getattr(value, "dict", None)
    if callable(legacy) and hasattr(value, "__fields__") and not isinstance(value, type):
        try:
            return to_jsonable(legacy(), depth + 1)
        except Exception:
            return _safe_repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name, None), depth + 1) for f in dataclasses.fields(value)}
    return _safe_repr(value)


# One encoder for every call: `json.dumps` (and even `JSONEncoder.encode`) builds a new C
# encoder each time, which costs more than encoding a small argument dict. Without the circular
# reference check, which is safe here: what is encoded is either a flat dict or the output of
# `to_jsonable`, a depth-bounded tree of fresh containers.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _reject(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


try:
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    _C_ENCODER = c_make_encoder(None, _reject, encode_basestring, None, ":", ",", False, False, True) \
        if c_make_encoder is not None else None
except ImportError:  # not CPython
    _C_ENCODER = None


def _encode(value: Any) -> str:
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(value, 0))
    return _ENCODER.encode(value)
_SCALARS = frozenset({str, int, bool, type(None)})


def _is_flat(value: Any) -> bool:
    """A small dict of strings, ints, bools and None (the usual argument dict) encodes as is."""
    if type(value) is not dict or len(value) > _MAX_ITEMS:
        return False
    scalars = _SCALARS
    for k, v in value.items():
        if type(k) is not str or type(v) not in scalars:
            return False
    return True


def to_json_text(value: Any, max_bytes: int) -> str:
    """JSON text of `value`, capped. A bare string is returned as the string itself."""
    if isinstance(value, str):
        return cap_text(value, max_bytes)
    try:
        text = _encode(value if _is_flat(value) else to_jsonable(value))
    except Exception:  # e.g. a dict subclass whose items() raises
        text = _encode(_safe_repr(value))
    return cap_text(text, max_bytes)

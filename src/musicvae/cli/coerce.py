"""Fast option parsing for the command line: plain values without pydantic.

Place in the flow: imported by ``cli.main`` before the typer app runs; nothing else uses it.

typer (0.2x) turns every option value into its Python type through a pydantic
``TypeAdapter``: importing pydantic and building the adapters costs ~0.1-0.15 s on each
``musicvae`` call, more than the rest of ``musicvae prepare --help``. Nearly every option of
this CLI is a plain ``str``, ``int``, ``float``, ``bool`` or ``Path`` whose value is well formed, so
:func:`install` gives those parameters a coercion that converts such values directly and hands
anything else (a malformed number, ranges, choices, lists, files, path checks it does not
know) to typer's own pydantic coercion: results and error messages stay typer's. If typer's
internals ever change shape, :func:`install` does nothing and typer works as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_PATH_FLAGS = ("exists", "resolve_path", "allow_dash", "path_type")


def fast_value(annotation: Any, info: Any, value: Any) -> tuple[bool, Any]:
    """``(True, converted)`` when ``value`` converts without doubt, else ``(False, None)``."""
    if annotation is str:
        return (True, value) if type(value) is str else (False, None)
    if annotation is bool:
        return (True, value) if type(value) is bool else (False, None)
    if annotation is int:
        if type(value) is int:
            return True, value
        if type(value) is str and _INT.match(value) and len(value) < 19:
            return True, int(value)
        return False, None
    if annotation is float:
        if type(value) is float:
            return True, value
        if type(value) is int:
            return True, float(value)
        if type(value) is str and _FLOAT.match(value) and len(value) < 32:
            return True, float(value)
        return False, None
    return False, None


def _fast_ok(descriptor: Any) -> bool:
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None:
        return False
    if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return False
    annotation = descriptor.annotation
    if annotation in (str, int, float, bool):
        return not descriptor.is_choice
    if annotation is Path:  # only plain paths: typer's own checks run for the rest below
        return all(not getattr(info, flag, None) for flag in _PATH_FLAGS)
    return False


def install() -> bool:
    """Give plain parameters the fast coercion; False (and nothing changed) if typer differs."""
    try:
        from typer import _coercion, core
        from typer._param_types import coerce_cli_path

        base = _coercion.RuntimeParam
        build = _coercion.build_runtime_param
        param_class = core._TyperParameter
        original = param_class.get_runtime_param
        base.__dataclass_fields__["annotation"], base.__dataclass_fields__["parameter_info"]
    except (ImportError, AttributeError, KeyError):
        return False
    if getattr(original, "_musicvae_fast", False):
        return True

    class FastRuntimeParam(base):  # frozen dataclass fields: parameter_info, annotation
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.annotation is Path:
                if type(value) is str and value:
                    return coerce_cli_path(Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx)
            else:
                ok, out = fast_value(self.annotation, self.parameter_info, value)
                if ok:
                    return out
            slow = build(self._descriptor)  # typer's pydantic path: its result and its message
            return slow._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self):
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            if _fast_ok(descriptor):
                fast = FastRuntimeParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
                object.__setattr__(fast, "_descriptor", descriptor)
                self._runtime_param = fast
                return fast
        return original(self)

    get_runtime_param._musicvae_fast = True
    param_class.get_runtime_param = get_runtime_param
    return True

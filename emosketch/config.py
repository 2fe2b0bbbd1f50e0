"""Configs: YAML files or dicts into (nested) dataclasses, validated once with errors that name the key."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import EmosketchError, shown

T = TypeVar("T")


MAX_NODES = 100_000  # a document whose aliases expand to more values than this is refused


def _expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds with every alias written out (memoised per node)."""
    if id(node) not in sizes:
        sizes[id(node)] = 0  # a node that contains itself counts once
        if isinstance(node, yaml.SequenceNode):
            sizes[id(node)] = 1 + sum(_expanded(v, sizes) for v in node.value)
        elif isinstance(node, yaml.MappingNode):
            sizes[id(node)] = 1 + sum(_expanded(k, sizes) + _expanded(v, sizes) for k, v in node.value)
        else:
            sizes[id(node)] = 1
    return sizes[id(node)]


def _repeated_key(node: yaml.Node) -> yaml.Node | None:
    """The first key written twice in one mapping of the document (YAML would keep the last silently)."""
    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            keys = set()
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in keys:
                        return k
                    keys.add(k.value)
                todo += [k, v]
        elif isinstance(n, yaml.SequenceNode):
            todo += n.value
    return None


class _Loader(yaml.SafeLoader):
    """YAML 1.1's safe loader, reading 1e9 and 2E-3 as numbers as YAML 1.2 does (1.1 wants 1.0e9, and made
    `hold: 1e9` the text '1e9')."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))
MAX_YAML_BYTES = 16 * 1024 * 1024  # a config, a timeline or an agent script is a few KB


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """Any YAML document from a file, or an EmosketchError naming the file. Aliases that expand past
    MAX_NODES values (a "billion laughs") are refused before the document is built, and so is a key
    written twice in one mapping."""
    path = Path(path)
    try:
        from .frames import read_regular

        # a FIFO or a device is refused, not waited on or read for ever
        loader = _Loader(read_regular(path, MAX_YAML_BYTES).decode("utf-8"))
        try:
            node = loader.get_single_node()
            if node is not None and _expanded(node, {}) > MAX_NODES:
                raise EmosketchError(f"{path}: its aliases (*name) expand to more than {MAX_NODES:,} values; "
                                     "write the values out")
            twice = _repeated_key(node) if node is not None else None
            if twice is not None:
                raise EmosketchError(f"{path}: line {twice.start_mark.line + 1}: the key {shown(twice.value)} is "
                                     "written twice in one mapping; keep one")
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except FileNotFoundError:
        raise EmosketchError(f"{path}: no such {what} file") from None
    except RecursionError:
        raise EmosketchError(f"{path}: nested too deeply") from None
    except UnicodeDecodeError:
        raise EmosketchError(f"{path}: not UTF-8 text (a YAML {what} file is)") from None
    except yaml.YAMLError as exc:
        raise EmosketchError(f"{path}: not valid YAML ({yaml_problem(exc)})") from None


def yaml_problem(exc: Exception) -> str:
    """A YAML error in one line: where it is and what is wrong ("line 3, column 1: found character '\\t' that
    cannot start any token: indent with spaces, not tabs"), not only what the parser was doing."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    hint = ": indent with spaces, not tabs" if "\\t" in problem or "\t" in problem else ""
    return f"{where}{problem}{hint}"


SHIPPED = Path(__file__).resolve().parent / "configs"  # the configs the demo and the docs' examples use


def shipped_config(path: Path) -> Path:
    """`path`; or, when it is not there and names a config the package ships as the docs do
    (`configs/agent-demo.yaml`, or the bare file name), the package's copy: so the documented commands
    work from an installed package, in any folder."""
    if path.exists() or len(path.parts) > 2 or (len(path.parts) == 2 and path.parts[0] != "configs"):
        return path
    copy = SHIPPED / path.name
    return copy if copy.is_file() else path


def load_yaml(path: str | Path) -> dict:
    data = read_yaml(path)
    if data is None or data == {}:  # a config file that sets nothing is a mistake, not a wish for every default
        raise EmosketchError(f"{path}: the config sets nothing; give at least one key (configs/ has examples), "
                             "or leave --config out for the defaults")
    if not isinstance(data, dict):
        raise EmosketchError(f"{path}: a config must be a mapping of keys to values")
    return data


def _coerce(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if dataclasses.is_dataclass(kind):
        if isinstance(value, kind):
            return value
        return from_dict(kind, value, where)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise EmosketchError(f"{where}: expected a list, got {shown(value)}")
        args = typing.get_args(kind)
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise EmosketchError(f"{where}: expected a mapping, got {shown(value)}")
        return dict(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise EmosketchError(f"{where}: expected true or false, got {shown(value)}")
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EmosketchError(f"{where}: expected a number, got {shown(value)}")
        if not math.isfinite(value):  # every number of a config sizes or steers work: nan and inf never do
            raise EmosketchError(f"{where}: expected a finite number, got {shown(value)}")
        if kind is int and float(value) != int(value):
            raise EmosketchError(f"{where}: expected a whole number, got {shown(value)}")
        return kind(value)
    if kind is str:
        if not isinstance(value, (str, int, float)):
            raise EmosketchError(f"{where}: expected text, got {shown(value)}")
        return str(value)
    return value


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from `data`, refusing unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise EmosketchError(f"{where}: expected a mapping, got {shown(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in known:
            raise EmosketchError(f"{where}: unknown key {shown(key)} (known keys: {', '.join(sorted(known))})")
    kwargs = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def load_config(cls: type[T], path: str | Path | None, overrides: dict[str, Any]) -> T:
    """A config from an optional YAML file, with command-line values (those not None) on top.
    Nested sections given as dicts in `overrides` are merged into the file's sections."""
    data = load_yaml(path) if path else {}
    for key, value in overrides.items():
        if value is None or value == {}:
            continue
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return from_dict(cls, data, str(path or "options"))

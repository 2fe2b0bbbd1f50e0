"""The layout tells the truth: the import graph, read from the source (every import, also those
inside functions), has no arrow that points up a layer, none between siblings, and no circle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "emosketch"
# What each part of emosketch may build on: a part imports only parts of a lower rank (and itself).
RANKS = {
    "ground": 0,  # errors, atomic, checkpoints, config, emotions, frames, progress, tensors, text, easing,
                  # emotion_cnn, models: the floor every part stands on
    "datasets": 1, "export": 1,  # siblings: neither imports the other
    "gan": 2, "evaluate": 2,  # siblings
    "interpolate": 3,
    "serve": 4,
    "demo": 5,
    "cli": 6,
    "__main__": 7,  # python -m emosketch: the command line
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("emosketch"):
                    continue
                for alias in node.names:  # `from . import codec` imports the module emosketch.x.codec
                    sub = f"{target}.{alias.name}"
                    graph[name].add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name.startswith("emosketch") and a.name in modules}
    return graph


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else "ground"


def test_every_module_belongs_to_a_ranked_part():
    tops = {m.split(".")[1] for m in import_graph() if "." in m}
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - {"models"} <= set(RANKS), packages - set(RANKS)  # models: data and two paths
    assert "cli" in tops and "demo" in tops


def test_no_import_points_up_a_layer_or_across_to_a_sibling():
    bad = sorted(f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                 if part(a) != part(b) and RANKS[part(b)] >= RANKS[part(a)])
    assert bad == []


def test_no_modules_import_each_other_in_a_circle():
    graph = import_graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert circles == []


def test_the_graph_reader_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "emosketch.export.c_header" in graph["emosketch.export.write"]  # from . import c_header
    assert "emosketch.errors" in graph["emosketch.easing"]  # from .errors import ...
    assert "emosketch.serve.app" in graph["emosketch.cli"]  # inside the serve command's function

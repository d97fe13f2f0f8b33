"""The package's structure: no import cycles, a CLI and a dask module on the public API only,
and a command line whose ``--version`` and ``--help`` start without torch."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_denoise"
#: modules that only call the library: they may import its public modules, never a private one
PUBLIC_API_ONLY = ("cli", "dask")


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module, node):
    """Absolute names a ``from ... import`` or ``import`` node of ``module`` refers to."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = module if module == "sklearn_denoise" else module.rsplit(".", 1)[0]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module
    # "from . import _compare" names a module; "from ._cnn import X" names one too
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def _imports(module, path, *, top_level_only):
    """The sklearn_denoise modules ``module`` imports (all, or at module level only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level includes try/except ImportError blocks
        nodes = [n for top in tree.body
                 for n in (ast.walk(top) if isinstance(top, ast.Try) else [top])]
    known = _modules()
    found = set()
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _resolve(module, node):
                if name in known and name != module:
                    found.add(name)
    return found


def import_graph(*, top_level_only=True):
    """``{module: set of sklearn_denoise modules it imports}``."""
    return {name: _imports(name, path, top_level_only=top_level_only)
            for name, path in _modules().items()}


def find_cycle(graph):
    """One import cycle of ``graph`` as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize(("module", "statement", "expected"), [
    ("sklearn_denoise.io", "from . import _io", "sklearn_denoise._io"),
    ("sklearn_denoise.io", "from ._io import read_image", "sklearn_denoise._io"),
    ("sklearn_denoise", "from ._cnn import CNNDenoiser", "sklearn_denoise._cnn"),
    ("sklearn_denoise.cli", "import sklearn_denoise._weights", "sklearn_denoise._weights"),
])
def test_relative_imports_are_resolved(module, statement, expected):
    assert expected in _resolve(module, ast.parse(statement).body[0])


def test_import_graph_sees_the_package():
    graph = import_graph()
    assert "sklearn_denoise._io" in graph["sklearn_denoise.io"]
    assert "sklearn_denoise.tiling" in graph["sklearn_denoise.dask"]
    assert "sklearn_denoise._tiling" in graph["sklearn_denoise.tiling"]


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module-level", "all"])
def test_no_import_cycles(top_level_only):
    """Module-level imports must form no cycle; neither may the deferred imports inside
    functions (a cycle hidden in a function is still two modules that need each other).
    The package's ``__init__`` is left out: it imports everything to export it."""
    graph = import_graph(top_level_only=top_level_only)
    graph.pop("sklearn_denoise")
    graph = {k: {m for m in v if m != "sklearn_denoise"} for k, v in graph.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("module", PUBLIC_API_ONLY)
def test_public_api_only(module):
    """The command line and the dask wrapper use the library as a user would."""
    imported = _imports(f"sklearn_denoise.{module}", PACKAGE / f"{module}.py",
                        top_level_only=False)
    private = sorted(m for m in imported
                     if any(part.startswith("_") for part in m.split(".")[1:]))
    assert private == []


def _modules_loaded_by(args):
    code = ("import sys\n"
            "from sklearn_denoise.cli import main\n"
            "try:\n"
            f"    main({args!r})\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'skorch', 'sklearn_denoise')))\n")
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True, timeout=120)
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["denoise", "--help"],
                                  ["train", "--help"], ["compare", "--help"]])
def test_version_and_help_import_no_torch(args):
    loaded = _modules_loaded_by(args)
    assert "sklearn_denoise.cli" in loaded  # the probe ran
    assert not [m for m in loaded if m.split(".")[0] in ("torch", "skorch")]

"""The package's layers: imports point one way (format <- solver <- decode <- encode <- plugin <-
tools), and no module grows past the size that hides its concerns."""

from __future__ import annotations

import ast
from pathlib import Path

import PIL_ipc

PACKAGE = Path(PIL_ipc.__file__).resolve().parent
#: Each layer by its top-level name under PIL_ipc; a module may import its own layer and the
#: ones below it.  errors, _kernel_cache and metrics are the common ground.
LAYERS = {"errors": 0, "_kernel_cache": 0, "metrics": 0, "format": 1, "solver": 2, "decode": 3,
          "precompile": 3, "encode": 4, "IpcImagePlugin": 5, "tools": 6, "__init__": 7, "__main__": 7}
MAX_LINES = 600


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE).with_suffix("").parts


def _imports(path: Path, parts: tuple[str, ...]) -> list[str]:
    """The package modules ``path`` imports (relative imports, resolved under PIL_ipc)."""
    package = list(parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            if node.module:
                found.append(".".join(base + [node.module]))
            else:  # from .. import x: a module, or a name of the package (its version)
                found += [".".join(base + [a.name]) for a in node.names
                          if (PACKAGE.joinpath(*base, a.name)).exists()
                          or (PACKAGE.joinpath(*base, a.name + ".py")).exists()]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("PIL_ipc."):
            found.append(node.module.removeprefix("PIL_ipc."))
    return found


def test_every_module_is_in_a_layer():
    assert [parts for _, parts in _modules() if parts[0] not in LAYERS] == []


def test_imports_point_one_way():
    upward = [(".".join(parts), target) for path, parts in _modules()
              for target in _imports(path, parts)
              if LAYERS[target.split(".")[0]] > LAYERS[parts[0]]]
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    # (the test above can fail: an import of the encoder from the format layer is found)
    path = tmp_path / "values.py"
    path.write_text("from ..encode import planner\n")
    targets = _imports(path, ("format", "values"))
    assert targets == ["encode"] and LAYERS["encode"] > LAYERS["format"]


def test_no_module_over_600_lines():
    long = {"/".join(parts): n for path, parts in _modules()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}

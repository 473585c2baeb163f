"""The layout's rules, read from the source (ARCHITECTURE.md, 'Layout and import rules'):

* ``core`` (the run-time library) never imports bpy, ``training``, ``blender_talkface``, the
  tools (``scripts``, ``bench``, ``batch``) or the tests;
* ``blender_talkface`` (the Blender glue) never imports ``training`` or the tools;
* inside ``core``, modules import each other at module top (the import graph is visible);
* the extension zip holds only the run-time package, and that package imports on its own.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "training", "blender_talkface")
TOOLS = ("scripts", "bench", "batch", "tests")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path):
    """(absolute module name inside the tree or third-party name, line, top-level?) per import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [f"{module}.{a.name}" if module else a.name for a in node.names]
            else:
                module = node.module or ""
                if module == "talkface" or module.startswith("talkface."):
                    module = module[len("talkface."):] if "." in module else ""
                names = [module]
            for name in names:
                yield name.strip("."), node.lineno, id(node) in top


def _files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("folder, forbidden", [
    ("core", ("bpy", "training", "blender_talkface") + TOOLS),
    ("blender_talkface", ("training",) + TOOLS),
])
def test_import_rules(folder, forbidden):
    broken = [f"{path.relative_to(ROOT)}:{line} imports {name}"
              for path in _files(folder) for name, line, _ in imports_of(path)
              if any(_is_under(name, f) for f in forbidden)]
    assert not broken, "\n".join(broken)


def test_core_modules_import_each_other_at_module_top():
    hidden = [f"{path.relative_to(ROOT)}:{line} imports {name} inside a function"
              for path in _files("core") for name, line, top in imports_of(path)
              if _is_under(name, "core") and not top]
    assert not hidden, "\n".join(hidden)


def test_rule_checker_sees_a_violation(tmp_path, monkeypatch):
    """The checker itself: a core module that imports bpy or training is caught, relative or not."""
    bad = ROOT / "core" / "face" / "_rule_probe.py"
    monkeypatch.setattr(sys.modules[__name__], "_files", lambda folder: [bad])
    try:
        bad.write_text("import bpy\nfrom ...training import animator\n\ndef f():\n    from ..audio import features\n")
        with pytest.raises(AssertionError, match="imports bpy"):
            test_import_rules("core", ("bpy", "training"))
        with pytest.raises(AssertionError, match="imports training.animator"):
            test_import_rules("core", ("training",))
        with pytest.raises(AssertionError, match="core.audio.features inside a function"):
            test_core_modules_import_each_other_at_module_top()
    finally:
        bad.unlink()


SELF_CONTAINED = r"""
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import zipped
# The run-time package alone: every module of core and of the Blender glue imports from the zip.
loaded = []
for pkg in ("zipped.core", "zipped.blender_talkface"):
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        importlib.import_module(info.name)
        loaded.append(info.name)
outside = sorted(n for n in sys.modules if n == "talkface" or n.startswith(("talkface.", "training")))
assert not outside, outside
print(len(loaded))
"""


def test_zip_holds_the_run_time_package_only_and_it_imports_alone(extension_zip, tmp_path):
    names = zipfile.ZipFile(extension_zip).namelist()
    assert not [n for n in names if n.startswith(("training/", "scripts/", "bench/", "batch/", "tests/", "ruff.toml"))]
    zipfile.ZipFile(extension_zip).extractall(tmp_path / "zipped")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", SELF_CONTAINED, str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    in_tree = sum(1 for f in ("core", "blender_talkface") for p in _files(f) if p.name != "__init__.py")
    assert int(done.stdout.split()[-1]) >= in_tree

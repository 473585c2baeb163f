"""Validate and build the extension zip with Blender's own tool (shipped inside the bpy wheel).

Usage: python scripts/build_extension.py [--output-dir dist]
Prints the path of the built zip. Exits non-zero if validation or the build fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blender_ext_cli() -> str:
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        sys.exit("bpy is not installed in this Python; run the README's set-up command first")
    base = os.path.dirname(spec.origin)
    for version in sorted(os.listdir(base), reverse=True):
        cli = os.path.join(base, version, "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
        if os.path.isfile(cli):
            return cli
    sys.exit(f"Blender's extension builder (blender_ext.py) was not found under {base}")


def build(output_dir: str) -> str:
    with open(os.path.join(ROOT, "blender_manifest.toml"), "rb") as fh:
        manifest = tomllib.load(fh)
    os.makedirs(output_dir, exist_ok=True)
    zip_path = os.path.join(output_dir, f"{manifest['id']}-{manifest['version']}.zip")
    cli = blender_ext_cli()
    _run(cli, "validate", ROOT)
    _run(cli, "build", "--source-dir", ROOT, "--output-filepath", zip_path)
    _run(cli, "validate", zip_path)
    return zip_path


def _run(cli: str, *args: str) -> None:
    done = subprocess.run([sys.executable, cli, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"blender_ext {args[0]} failed:\n{done.stdout}{done.stderr}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "dist"))
    print(build(os.path.abspath(parser.parse_args().output_dir)))

"""Validate and build the extension zips with Blender's own builder (shipped inside the bpy wheel).

    python scripts/build_extension.py [--output-dir dist] [--platforms linux-x64,windows-x64,macos-arm64]
    python scripts/build_extension.py --no-wheels        # one zip without bundled packages (development)

The release build downloads the run-time packages of ``scripts/extension_wheels.txt`` as wheels for
each platform from PyPI (unmodified, cached under ``<output-dir>/wheels/``), writes them into a
staged copy of the manifest (``wheels = [...]``, ``platforms = [...]``) and lets Blender's builder
split one zip per platform (``build --split-platforms``); each zip is validated. Prints one line
per zip with its size, and exits non-zero if a download, validation or build fails or a zip is
over ``MAX_ZIP_MB``. PyTorch is not bundled (see the wheels list).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS_LIST = os.path.join(ROOT, "scripts", "extension_wheels.txt")
PYTHON_VERSION = "3.11"             # Blender 4.2 to 5.0
#: What goes into a zip from the source tree (the manifest's exclusions still apply inside).
SHIPPED = ("__init__.py", "blender_talkface", "core", "weights", "LICENSE")
#: The upload limit this build is held to (extensions.blender.org's stated maximum at the time of
#: writing; check it before publishing).
MAX_ZIP_MB = 200.0

#: Blender platform -> the wheel platform tags pip may pick for it, most widely compatible first:
#: where a package has several (scipy: macOS 12 and macOS 14 builds), the first one listed ships.
PLATFORM_TAGS = {
    "linux-x64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64",
                  "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_13_0_arm64", "macosx_14_0_arm64",
                    "macosx_10_9_universal2", "macosx_11_0_universal2"),
}


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


def wheel_requirements() -> list[str]:
    with open(WHEELS_LIST, encoding="utf-8") as fh:
        return [line.split("#")[0].strip() for line in fh if line.split("#")[0].strip()]


def download_wheels(platform: str, cache: str) -> list[str]:
    """The pinned run-time wheels for ``platform`` (downloaded once into ``cache/platform``)."""
    folder = os.path.join(cache, platform)
    os.makedirs(folder, exist_ok=True)
    tags = [arg for tag in PLATFORM_TAGS[platform] for arg in ("--platform", tag)]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp", *tags,
           "--dest", folder, *wheel_requirements()]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"downloading the {platform} wheels failed:\n{done.stderr[-3000:]}")
    chosen: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.whl"))):
        project, rank = _project(os.path.basename(path)), _rank(os.path.basename(path), platform)
        if rank is not None and (project not in chosen or rank < _rank(os.path.basename(chosen[project]), platform)):
            chosen[project] = path
    wanted = {_project(r) for r in wheel_requirements()}
    if not wanted <= set(chosen):
        sys.exit(f"{platform}: no wheel for {', '.join(sorted(wanted - set(chosen)))}")
    return sorted(chosen[p] for p in wanted)


def _rank(wheel: str, platform: str) -> int | None:
    """Position of the wheel's best platform tag in PLATFORM_TAGS[platform] ('any': after them all);
    None when the wheel is not for this platform."""
    tags = wheel[:-len(".whl")].split("-")[-1].split(".")
    if tags == ["any"]:
        return len(PLATFORM_TAGS[platform])
    ranks = [PLATFORM_TAGS[platform].index(t) for t in tags if t in PLATFORM_TAGS[platform]]
    return min(ranks) if ranks else None


def _project(name: str) -> str:
    """Normalised project name of a requirement ('python-dateutil==4') or wheel file name."""
    for sep in ("==", "-"):
        if sep in name:
            name = name.split(sep)[0]
            break
    return name.lower().replace("_", "-").replace(".", "-")


def stage(folder: str, platforms: list[str], wheels: list[str]) -> None:
    """A copy of what ships, with the manifest listing the wheels and platforms."""
    for name in SHIPPED:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(folder, name), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, folder)
    with open(os.path.join(ROOT, "blender_manifest.toml"), encoding="utf-8") as fh:
        manifest = fh.read()
    if wheels:
        os.makedirs(os.path.join(folder, "wheels"))
        for path in wheels:
            try:
                os.link(path, os.path.join(folder, "wheels", os.path.basename(path)))
            except OSError:
                shutil.copy2(path, os.path.join(folder, "wheels"))
        listed = "".join(f'  "./wheels/{os.path.basename(p)}",\n' for p in wheels)
        top = ("platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]\n"
               f"wheels = [\n{listed}]\n\n")
        manifest = manifest.replace("\n[permissions]", "\n" + top + "[permissions]", 1)
    with open(os.path.join(folder, "blender_manifest.toml"), "w", encoding="utf-8") as fh:
        fh.write(manifest)


def build(output_dir: str, platforms: list[str] | None = None, wheel_cache: str | None = None) -> str | list[str]:
    """Without ``platforms``: one zip with no bundled packages (development and most tests); its
    path. With them: one self-contained zip per platform; their paths."""
    with open(os.path.join(ROOT, "blender_manifest.toml"), "rb") as fh:
        manifest = tomllib.load(fh)
    os.makedirs(output_dir, exist_ok=True)
    cli = blender_ext_cli()
    _run(cli, "validate", ROOT)
    wheels = []
    for platform in platforms or ():
        if platform not in PLATFORM_TAGS:
            sys.exit(f"unknown platform {platform!r}: choose from {', '.join(PLATFORM_TAGS)}")
        wheels += download_wheels(platform, wheel_cache or os.path.join(output_dir, "wheels"))
    wheels = sorted({os.path.basename(p): p for p in wheels}.values(), key=os.path.basename)  # pure ones once
    with tempfile.TemporaryDirectory(prefix="talkface-stage-") as folder:
        stage(folder, platforms or [], wheels)
        if not platforms:
            zip_path = os.path.join(output_dir, f"{manifest['id']}-{manifest['version']}.zip")
            _run(cli, "build", "--source-dir", folder, "--output-filepath", zip_path)
            _run(cli, "validate", zip_path)
            return zip_path
        _run(cli, "build", "--source-dir", folder, "--output-dir", output_dir, "--split-platforms")
    zips = []
    for platform in platforms:
        path = os.path.join(output_dir, f"{manifest['id']}-{manifest['version']}-{platform.replace('-', '_')}.zip")
        if not os.path.isfile(path):
            sys.exit(f"Blender's builder wrote no zip for {platform} (expected {path})")
        _run(cli, "validate", path)
        zips.append(path)
    return zips


def _run(cli: str, *args: str) -> None:
    done = subprocess.run([sys.executable, cli, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"blender_ext {args[0]} failed:\n{done.stdout}{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "dist"))
    parser.add_argument("--platforms", default=",".join(PLATFORM_TAGS),
                        help="comma-separated Blender platforms (default: all)")
    parser.add_argument("--no-wheels", action="store_true", help="one zip without bundled packages")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.output_dir)
    if args.no_wheels:
        path = build(out)
        print(f"{os.path.getsize(path) / 1e6:8.1f} MB  {path}")
        return 0
    too_big = []
    for path in build(out, [p for p in args.platforms.split(",") if p]):
        size = os.path.getsize(path) / 1e6
        print(f"{size:8.1f} MB  {path}")
        if size > MAX_ZIP_MB:
            too_big.append(os.path.basename(path))
    if too_big:
        print(f"over the {MAX_ZIP_MB:g} MB limit: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The released linux-x64 zip is self-contained: a fresh Python environment with nothing but bpy
(and what bpy itself needs) installs it with Blender's own installer, imports every bundled
package from the extension's own folder, and fits and animates the sample.

PyTorch is not bundled (too large for an extension; the preferences install it): for this test it
comes from the test's own environment, on a separate folder appended to ``sys.path`` after the
extension is installed, so it cannot hide a missing bundled package. Building the zip downloads
the pinned wheels from PyPI once (cached under ``dist/wheels``).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
from conftest import PORTRAIT, ROOT, SPEECH

CHILD = r"""
import importlib, json, os, sys, tempfile
os.environ["BLENDER_USER_RESOURCES"] = sys.argv[3]
import bpy

result = bpy.ops.extensions.package_install_files(repo="user_default", filepath=sys.argv[1], enable_on_install=True)
assert result == {"FINISHED"}, result
site = os.path.realpath(bpy.utils.user_resource("EXTENSIONS", path=".local"))
sys.path.append(sys.argv[2])         # PyTorch, from the test's environment (see the module doc)
report = {"site": site, "modules": {}}
for name in json.loads(sys.argv[4]):
    module = importlib.import_module(name)
    report["modules"][name] = os.path.realpath(getattr(module, "__file__", "") or "")
ok = bpy.ops.talkface.fit_face(filepath=sys.argv[5]) == {"FINISHED"}
ok = ok and bpy.ops.talkface.animate_audio(filepath=sys.argv[6]) == {"FINISHED"}
face = bpy.context.active_object
action = face.data.shape_keys.animation_data.action
report["fcurves"] = sum(len(bag.fcurves) for bag in action.layers[0].strips[0].channelbags)
report["lipsync"] = action.get("talkface_lipsync")
report["addon"] = [m for m in bpy.context.preferences.addons.keys() if m.endswith("talkface")]
report["ok"] = ok
print("REPORT " + json.dumps(report))
"""

#: Wheel project -> the module to import from it (where the names differ or a check is useful).
MODULES = {"pillow": "PIL", "opencv-python-headless": "cv2", "absl-py": "absl", "python-dateutil": "dateutil",
           "protobuf": "google.protobuf", "attrs": "attr", "typing-extensions": "typing_extensions",
           "fonttools": "fontTools"}


def _requires(name: str) -> list[str]:
    names = []
    for req in md.requires(name) or []:
        if "extra ==" in req:
            continue
        names.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return names


def link_closure(roots: list[str], dest: str) -> list[str]:
    """Symlink the installed distributions ``roots`` and everything they require into ``dest``."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        dist = md.distribution(name)
        base = str(dist.locate_file(""))
        for top in {str(f).split("/")[0] for f in dist.files if not str(f).startswith("..")}:
            target = os.path.join(dest, top)
            if top != "__pycache__" and not os.path.lexists(target):
                os.symlink(os.path.join(base, top), target)
        todo += _requires(name)
    return sorted(seen)


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory):
    from talkface.scripts.build_extension import build

    out = tmp_path_factory.mktemp("release")
    (path,) = build(str(out), ["linux-x64"], wheel_cache=os.path.join(ROOT, "dist", "wheels"))
    return path


def test_zip_without_torch_installs_and_runs_in_a_bare_environment(linux_zip, tmp_path):
    from talkface.scripts.build_extension import MAX_ZIP_MB, wheel_requirements

    assert os.path.getsize(linux_zip) / 1e6 < MAX_ZIP_MB
    wheels = [n for n in zipfile.ZipFile(linux_zip).namelist() if n.startswith("wheels/")]
    assert not any(n.startswith("wheels/torch") for n in wheels)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    bare = link_closure(["bpy"], site)
    assert "scipy" not in bare and "torch" not in bare and "pocketsphinx" not in bare
    torch_dir = tmp_path / "torch-only"
    torch_dir.mkdir()
    link_closure(["torch"], str(torch_dir))

    projects = [re.split(r"[=<>]", r)[0].lower() for r in wheel_requirements()]
    modules = [MODULES.get(p, p.replace("-", "_")) for p in projects]
    done = subprocess.run(
        [python, "-c", CHILD, linux_zip, str(torch_dir), str(tmp_path / "user"), json.dumps(modules),
         PORTRAIT, SPEECH],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BLENDER_USER_RESOURCES")},
    )
    assert "REPORT " in done.stdout, done.stderr[-4000:]
    report = json.loads(done.stdout.rsplit("REPORT ", 1)[1])
    outside = {m: f for m, f in report["modules"].items() if not f.startswith(report["site"])}
    assert not outside, f"imported from outside the extension: {outside}"
    assert report["ok"] and report["fcurves"] > 10 and report["addon"]      # moving channels get curves
    assert report["lipsync"] == "word recogniser"   # pocketsphinx, its model and the helpers ran from the zip

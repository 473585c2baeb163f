"""Shared fixtures. Blender tests install the *built* extension zip into an isolated Blender
user folder and drive TalkFace through its operators, as a user would."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Must be set before bpy is first imported anywhere in this process. Each test process gets its own
# user folder (pytest-xdist's workers inherit the controller's environment: sharing one, two workers
# installing the extension at once found the repository locked), gone when the process ends; a
# BLENDER_USER_RESOURCES set before pytest started is used as it is.
_OURS = "TALKFACE_TESTS_USER_RESOURCES"
if os.environ.get("BLENDER_USER_RESOURCES") in (None, os.environ.get(_OURS)):     # unset, or made here
    os.environ["BLENDER_USER_RESOURCES"] = os.environ[_OURS] = tempfile.mkdtemp(prefix="talkface-user-")
    atexit.register(functools.partial(shutil.rmtree, os.environ[_OURS], ignore_errors=True))

SAMPLES = os.path.join(ROOT, "samples")
PORTRAIT = os.path.join(SAMPLES, "portrait.png")
SPEECH = os.path.join(SAMPLES, "speech.wav")


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory):
    from talkface.scripts.build_extension import build

    return build(str(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="session")
def blender(extension_zip):
    """bpy with the TalkFace zip installed and enabled in the isolated user folder."""
    import bpy

    result = bpy.ops.extensions.package_install_files(
        repo="user_default", filepath=extension_zip, enable_on_install=True
    )
    assert result == {"FINISHED"}
    return bpy


@pytest.fixture
def scene(blender):
    """A factory-fresh empty scene for each test (extensions stay enabled)."""
    blender.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return blender.context.scene


class LayoutRecorder:
    """A stand-in for a panel's UILayout that records each ``prop`` and ``operator`` drawn (name or
    idname), with whether its row is active; anything else it is asked for is another recorder
    (rows, boxes, sub-panels)."""

    def __init__(self, log):
        self.log, self.active = log, True

    def prop(self, data, name, **kw):
        self.log.append((name, self.active))

    def operator(self, idname, **kw):
        self.log.append((idname, self.active))
        return LayoutRecorder(self.log)

    def panel(self, *args, **kw):
        return LayoutRecorder(self.log), LayoutRecorder(self.log)

    def __getattr__(self, name):
        return lambda *args, **kw: LayoutRecorder(self.log)


def draw_panel(bpy, draw) -> list:
    """What a panel's or menu's ``draw(self, context)`` draws in the current context:
    [(prop or operator, active)]."""
    class Panel:
        layout = LayoutRecorder([])

    draw(Panel, bpy.context)
    return Panel.layout.log


#: A half-line the alignment's excess lets through: flite's rms voice saying this line in white noise
#: (20 dB), given the text HALF_LINE (``alignment.Unsaid``, unsaid_speech_rule_2026_12_08).
HALF_LINE_SAID, HALF_LINE = "The echo test has been completed.", "The echo test"


def half_line_in_noise():
    """HALF_LINE_SAID as flite's rms voice says it, in white noise 20 dB under it: 16 kHz float32
    samples (skips the test where flite is not installed)."""
    import numpy as np

    from talkface.training.corpus import flite

    if not flite.available():
        pytest.skip("flite is not installed")
    x = np.asarray(flite.synthesize(HALF_LINE_SAID, "rms")[0], np.float32)
    noise = np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    return x + noise * np.sqrt(np.mean(x ** 2)) / 10.0

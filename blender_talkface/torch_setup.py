# SPDX-License-Identifier: GPL-3.0-or-later
"""PyTorch for the installed extension: installed on request into the extension's own user folder.

PyTorch is too large to bundle (about 200 MB for the CPU build, several GB with CUDA), so the
preferences offer *Install PyTorch*: pip, run with Blender's own Python, installs the right build
into ``bpy.utils.extension_path_user(<extension>, "torch")`` -- a folder that survives extension
updates and needs no write access to Blender's installation -- and the add-on puts that folder on
``sys.path`` when it registers. *Remove PyTorch* deletes it again.

- The build: CUDA when an NVIDIA driver is present (Linux: PyPI's default torch is the CUDA build;
  Windows: PyTorch's CUDA index), otherwise the CPU build (Linux and Windows: PyTorch's CPU index;
  macOS: PyPI, which has the Apple-silicon build). The preferences can force CPU or CUDA.
- Online access: the download only runs when Blender allows online access
  (``bpy.app.online_access``; Preferences > System > Network). Offline studios point
  *PyTorch Wheels Folder* at a folder of downloaded wheels instead: pip then uses only that folder.
- Nothing half-installed: pip installs into a staging folder beside the final one, which replaces
  the final one only when pip succeeded; a failed or cancelled install removes the staging folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import bpy

from . import dependencies
from .preferences import ADDON_ID
from .runtime import end_modal, poll_reasons

REQUIREMENT = "torch==2.13.0"      # the version TalkFace is tested with (requirements.txt)
MODULE = "torch"                   # what the requirement installs (its top-level package)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_INDEX_WINDOWS = "https://download.pytorch.org/whl/cu128"
FOLDER = "torch"
STAGING = "torch-installing"


def user_folder(name: str = FOLDER, create: bool = False) -> str | None:
    """The extension's user folder ``name``; None when TalkFace runs from a source tree (headless
    script), which uses the environment's own torch."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path=name, create=create)
    except (ValueError, KeyError, RuntimeError):
        return None


def installed_folder() -> str | None:
    folder = user_folder()
    return folder if folder and os.path.isdir(os.path.join(folder, MODULE)) else None


def activate() -> bool:
    """Put an installed PyTorch on ``sys.path`` (at the end: never above Blender's own packages)."""
    folder = installed_folder()
    if folder is None:
        return False
    if folder not in sys.path:
        sys.path.append(folder)
        dependencies.refresh()
    return True


def deactivate() -> None:
    folder = user_folder()
    if folder and folder in sys.path:
        sys.path.remove(folder)
        dependencies.refresh()


def nvidia_driver_present() -> bool:
    """An NVIDIA driver is installed (checked without torch): Linux's driver file, or nvidia-smi."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    return shutil.which("nvidia-smi") is not None


@dataclass
class Plan:
    build: str                   # "CPU" or "CUDA"
    args: list[str] = field(default_factory=list)   # pip's arguments after 'install'
    source: str = ""             # where the wheels come from, in words
    offline: bool = False        # only a local wheels folder: no online access needed
    whisper: bool = False        # Whisper and CTranslate2 too

    @property
    def what(self) -> str:
        return "PyTorch and Whisper" if self.whisper else "PyTorch"


def plan(build: str = "AUTO", wheels_folder: str = "", requirement: str | None = None,
         platform: str = sys.platform, whisper: bool = False) -> Plan:
    """What *Install PyTorch* will run. ``build``: AUTO, CPU or CUDA; ``whisper``: Whisper and
    CTranslate2 too (``core.audio.whisper.REQUIREMENTS``: the words mode then hears with it)."""
    from ..core.audio.whisper import REQUIREMENTS as WHISPER

    requirement = requirement or REQUIREMENT
    if build == "AUTO":
        build = "CUDA" if platform != "darwin" and nvidia_driver_present() else "CPU"
    if build == "CUDA" and platform == "darwin":
        raise ValueError("There is no CUDA build of PyTorch for macOS: choose CPU")
    args = [requirement, *(WHISPER if whisper else ())]

    def made(where: list[str], source: str, offline: bool = False) -> Plan:
        return Plan(build, args + where, source, offline, whisper)

    if wheels_folder:
        folder = bpy.path.abspath(wheels_folder)
        if not os.path.isdir(folder):
            raise ValueError(f"PyTorch wheels folder not found: {folder}")
        return made(["--no-index", "--find-links", folder], f"the wheels in {folder}", offline=True)
    if platform == "darwin" or (build == "CUDA" and platform.startswith("linux")):
        return made([], "PyPI")
    index = CUDA_INDEX_WINDOWS if build == "CUDA" else CPU_INDEX
    # PyTorch's index has torch; its dependencies (sympy, jinja2, ...) and Whisper's come from PyPI
    return made(["--index-url", index, "--extra-index-url", "https://pypi.org/simple"], index)


def pip_command(the_plan: Plan, target: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--target", target, "--no-input", "--no-warn-script-location",
            "--disable-pip-version-check", "--progress-bar", "off", *the_plan.args]


class Install:
    """One pip run into the staging folder. ``done()`` says whether pip has exited (a thread reads
    its output meanwhile, so the modal operator's timer never blocks); then ``finish()``, which
    waits for it (background runs call it at once)."""

    PHASES = ("Collecting", "Downloading", "Installing collected packages", "Successfully installed")

    def __init__(self, the_plan: Plan):
        if not the_plan.offline and not bpy.app.online_access:
            raise PermissionError("Online access is off (Preferences > System > Network > Allow Online Access): "
                                  "allow it, or set PyTorch Wheels Folder to a folder of downloaded wheels")
        self.plan = the_plan
        self.staging = user_folder(STAGING)
        if self.staging is None:
            raise RuntimeError("PyTorch can only be installed for TalkFace installed as an extension")
        shutil.rmtree(self.staging, ignore_errors=True)
        os.makedirs(self.staging)
        self.phase = 0
        self.lines: list[str] = []
        self.process = subprocess.Popen(pip_command(the_plan, self.staging), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            for i, phase in enumerate(self.PHASES):
                if line.startswith(phase):
                    self.phase = max(self.phase, i + 1)

    def done(self) -> bool:
        return self.process.poll() is not None

    def finish(self) -> str:
        """Move the staging folder into place when pip succeeded; else clean up and raise."""
        code = self.process.wait()
        self._reader.join()
        if code != 0:
            self.cancel()
            tail = " / ".join(line for line in self.lines[-3:] if line.strip())
            raise RuntimeError(f"pip could not install {self.plan.what} from {self.plan.source} (exit {code}): {tail}")
        final = user_folder(FOLDER)
        deactivate()
        shutil.rmtree(final, ignore_errors=True)
        os.replace(self.staging, final)
        activate()
        return final

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.staging, ignore_errors=True)


def remove() -> bool:
    """Delete the installed PyTorch; False when there was none. A PyTorch already imported in this
    session stays loaded until Blender restarts."""
    folder = installed_folder()
    deactivate()
    if folder is None:
        return False
    shutil.rmtree(folder)
    return True


def version() -> str | None:
    """The installed PyTorch's version (from its metadata, without importing it), or None."""
    import importlib.metadata

    folder = installed_folder()
    if folder is None:
        return None
    for dist in importlib.metadata.distributions(path=[folder]):
        if dist.metadata["Name"].lower() == REQUIREMENT.split("==")[0]:
            return dist.version
    return None


# --- operators (the preferences' buttons) --------------------------------------------------------

class TALKFACE_OT_install_torch(bpy.types.Operator):
    """Download and install PyTorch into TalkFace's own user folder (CPU or CUDA build)"""

    bl_idname = "talkface.install_torch"
    bl_label = "Install PyTorch"
    bl_options = {"REGISTER", "INTERNAL"}

    _install = None
    _timer = None

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: user_folder() is None
                            and "TalkFace runs from a source tree: install torch in that Python instead")

    def _start(self, context):
        from . import preferences

        prefs = preferences.get(context)
        try:
            the_plan = plan(prefs.torch_build, prefs.torch_wheels_dir, whisper=prefs.with_whisper)
            install = Install(the_plan)
        except (ValueError, PermissionError, RuntimeError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return None
        self.report({"INFO"}, f"Installing {the_plan.what} ({the_plan.build}) from {the_plan.source}")
        return install

    def _finish(self, install):
        try:
            folder = install.finish()
        except (RuntimeError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"PyTorch {version() or ''} ({install.plan.build})"
                              f"{' and Whisper' if install.plan.whisper else ''} installed in {folder}")
        return {"FINISHED"}

    def execute(self, context):  # background and scripts: synchronous
        install = self._start(context)
        if install is None:
            return {"CANCELLED"}
        return self._finish(install)              # finish() waits for pip

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        self._install = self._start(context)
        if self._install is None:
            return {"CANCELLED"}
        wm = context.window_manager
        wm.progress_begin(0, len(Install.PHASES))
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        wm = context.window_manager
        if event.type == "ESC":
            self._end(context)
            self._install.cancel()
            self.report({"WARNING"}, "PyTorch installation cancelled: nothing was installed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        wm.progress_update(self._install.phase)
        if self._install.lines:
            context.workspace.status_text_set(f"Installing PyTorch: {self._install.lines[-1][:120]} (Esc cancels)")
        if not self._install.done():
            return {"RUNNING_MODAL"}
        self._end(context)
        return self._finish(self._install)

    def _end(self, context):
        end_modal(self, context)
        context.workspace.status_text_set(None)


class TALKFACE_OT_remove_torch(bpy.types.Operator):
    """Delete the PyTorch installed for TalkFace (it stays loaded until Blender restarts)"""

    bl_idname = "talkface.remove_torch"
    bl_label = "Remove PyTorch"
    bl_options = {"REGISTER", "INTERNAL"}

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: installed_folder() is None and "PyTorch is not installed in TalkFace's folder")

    def execute(self, context):
        try:
            remove()
        except OSError as exc:  # Windows keeps a loaded DLL open
            self.report({"ERROR"}, f"Could not remove PyTorch ({exc.strerror}): restart Blender and try again")
            return {"CANCELLED"}
        loaded = MODULE in sys.modules
        self.report({"INFO"}, "PyTorch removed" + (" (still loaded until Blender restarts)" if loaded else ""))
        return {"FINISHED"}


classes = (TALKFACE_OT_install_torch, TALKFACE_OT_remove_torch)


def register():
    activate()
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    deactivate()

"""``blender -b -c talkface ...``: the headless pipeline registered as Blender's command-line command.

The bpy module has no ``-c`` argument parser of its own, so these tests register the add-on the way
Blender does at start-up and call the registered command's callback with the arguments Blender
would pass it (everything after the command's name), in a fresh process each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import PORTRAIT, ROOT

RUN = r"""
import json, sys, bpy
import talkface.blender_talkface as addon
from talkface.blender_talkface import command_line
addon.register()
handle = command_line._handle
rc = command_line.execute(json.loads(sys.argv[1]))
print("\nRESULT " + json.dumps({"rc": rc, "handle": type(handle).__name__}))
addon.unregister()
assert command_line._handle is None
"""


def run_command(*args):
    done = subprocess.run([sys.executable, "-c", RUN, json.dumps(list(args))], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    assert "RESULT " in done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout.rsplit("RESULT ", 1)[1])
    return result, done


def headless_flags() -> set[str]:
    from talkface.blender_talkface.headless import build_parser

    return {o for a in build_parser()._actions for o in a.option_strings}


def test_help_lists_every_flag_of_the_headless_script():
    result, done = run_command("--help")
    assert result["rc"] == 0 and result["handle"] == "PyCapsule"
    listed = set(re.findall(r"(--[a-z][a-z-]+)", done.stdout))
    assert headless_flags() <= listed | {"-h"}, headless_flags() - listed


def test_bad_input_same_exit_status_and_line_as_the_script(tmp_path):
    out = tmp_path / "out"
    result, done = run_command("--photo", PORTRAIT, "--audio", str(tmp_path / "none.wav"), "--out", str(out))
    assert result["rc"] == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("talkface: error:")]
    assert len(errors) == 1 and "audio file not found" in errors[0]
    assert not out.exists()


def test_runs_the_pipeline(tmp_path):
    out = tmp_path / "out"
    speech = os.path.join(ROOT, "samples", "speech.wav")
    result, done = run_command("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only",
                               "--mouth", "1.5", "--seed", "3")
    assert result["rc"] == 0, done.stderr[-3000:]
    assert sorted(os.listdir(out)) == [".talkface-done.json", "scene.blend"]   # the record of a finished run
    assert "stages ran: fit, animate" in done.stderr


def test_every_headless_flag_has_a_test():
    """Each flag of the command appears in a test that runs it (this file or the headless ones)."""
    here = os.path.dirname(__file__)
    text = ""
    for name in ("test_headless.py", "test_pipeline.py", "test_command_line.py", "test_export_take.py",
                 "test_reliability.py"):
        with open(os.path.join(here, name), encoding="utf-8") as fh:
            text += fh.read()
    untested = sorted(f for f in headless_flags() - {"-h", "--help"} if f'"{f}"' not in text)
    assert not untested, f"flags without a test: {untested}"

# SPDX-License-Identifier: GPL-3.0-or-later
"""A manifest as one Flamenco job of type 'talkface' (``talkface.js`` beside this file): the
clips not yet done, each a task running ``blender -b -c talkface ARGS`` on a Worker."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

JOB_TYPE = "talkface"
JOB_TYPE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "talkface.js")


def job_for(planned, name: str, priority: int = 50) -> dict:
    """The body of Flamenco's ``POST /api/v3/jobs`` for the clips of ``planned`` not yet done."""
    clips = [{"name": p.clip.name, "args": list(p.args), **({"blend": p.clip.blend} if p.clip.blend else {})}
             for p in planned if p.skip is None]
    platform = {"win32": "windows", "darwin": "darwin"}.get(sys.platform, "linux")
    return {"name": name, "type": JOB_TYPE, "priority": priority, "submitter_platform": platform,
            "settings": {"clips": json.dumps(clips), "clip_count": len(clips)}, "metadata": {}}


def write_job(job: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(job, fh, indent=1)


def submit(job: dict, manager: str, timeout: float = 30.0) -> str:
    """POST the job to the Manager; its answer's job id (OSError on failure)."""
    request = urllib.request.Request(manager.rstrip("/") + "/api/v3/jobs", data=json.dumps(job).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        doc = json.loads(answer.read() or b"{}")
    return str(doc.get("id", "(no id in the answer)"))


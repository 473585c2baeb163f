"""Many clips: the manifest, the finished-run record, the Ray runner on a local 2-CPU cluster
(failures, resume, a killed worker, Ctrl-C) and the Flamenco job type (run under node)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import soundfile as sf
from conftest import PORTRAIT, ROOT, SPEECH

from talkface.batch.manifest import OPTIONS, ManifestError, read_manifest
from talkface.core import run_record

JOB_TYPE = os.path.join(ROOT, "batch", "flamenco", "talkface.js")


def batch(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "talkface.batch", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "RAY_AUTH_MODE": "disabled", **(env or {})})


def rows(path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    """Inputs for tiny clips: 1.5 s of the sample speech, and a photo without a face."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("clips")
    samples, sr = sf.read(SPEECH)
    sf.write(folder / "line.wav", samples[: int(1.5 * sr)], sr)
    Image.fromarray((np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)).save(folder / "noface.png")
    shutil.copy(PORTRAIT, folder / "face.png")
    return folder


def write_manifest(folder, lines: list[str], name="m.csv"):
    path = folder / name
    path.write_text("name,photo,audio,out,keys_only,mode,resolution\n" + "\n".join(lines) + "\n")
    return path


FOUR = ["k1,face.png,line.wav,out/k1,1,,", "w1,face.png,line.wav,out/w1,,warp,64",
        "bad,noface.png,line.wav,out/bad,1,,", "k2,face.png,line.wav,out/k2,yes,,"]


# ---------------------------------------------------------------------------------- manifest
def test_manifest_csv_and_json_lines_give_the_same_clips(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "said.txt").write_text("hello")
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("# dialogue, reel 1\nphoto,audio,out,resolution,keys_only,transcript,style\n"
                        "a.png,a.wav,out/a,1024,,said.txt,Lively\n\na.png,b.wav,/abs/b,,TRUE,just words,\n")
    json_path = tmp_path / "m.jsonl"
    json_path.write_text('{"photo": "a.png", "audio": "a.wav", "out": "out/a", "resolution": 1024, '
                         '"transcript": "said.txt", "style": "Lively"}\n'
                         '{"photo": "a.png", "audio": "b.wav", "out": "/abs/b", "keys_only": true, '
                         '"transcript": "just words"}\n')
    a, b = read_manifest(str(csv_path)), read_manifest(str(json_path))
    assert [c.args for c in a] == [c.args for c in b] and [c.line for c in a] == [3, 5]
    first, second = a
    assert first.args == ("--photo", str(tmp_path / "a.png"), "--audio", str(tmp_path / "a.wav"),
                          "--out", str(tmp_path / "out" / "a"), "--resolution", "1024",
                          "--transcript", str(tmp_path / "said.txt"), "--style", "Lively")
    assert second.keys_only and "--keys-only" in second.args and second.out == "/abs/b"
    assert second.args[second.args.index("--transcript") + 1] == "just words"   # text, not a file
    assert (first.name, second.name) == ("a", "b")
    # a switch column: Trust Text for one line's transcript
    trusting = tmp_path / "t.csv"
    trusting.write_text("photo,audio,out,transcript,trust_transcript\na.png,a.wav,out/a,said.txt,yes\n"
                        "a.png,b.wav,out/b,said.txt,\n")
    on, off = read_manifest(str(trusting))
    assert "--trust-transcript" in on.args and "--trust-transcript" not in off.args


@pytest.mark.parametrize("text, message", [
    ("photo,audio,out,colour\na,b,c,red\n", "unknown column 'colour'"),
    ("photo,audio,out\na,,c\n", "line 2: no audio"),
    ("photo,audio,out\na,b,c\nd,e,c\n", "lines 2 and 3 both write"),
    ("photo,audio,out\na,b,c,d\n", "more cells than the header"),
    ("photo,audio,out,keys_only\na,b,c,maybe\n", "keys_only must be true or false"),
    ("photo,audio,out\n", "lists no clips"),
    ('{"photo": "a"\n', "not JSON"),
])
def test_a_broken_manifest_is_refused_whole_with_its_line(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(str(path))
    done = batch(path)
    assert done.returncode == 2 and message.split("'")[0] in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "m.results.jsonl").exists()


def test_every_manifest_option_is_a_headless_flag():
    from talkface.blender_talkface.headless import build_parser

    flags = {a.dest for a in build_parser()._actions}
    assert set(OPTIONS) <= flags
    # every flag that shapes a clip can be set per line (the rest: help, listing, consent)
    assert flags - set(OPTIONS) - {"help", "list_styles", "overwrite", "photo", "audio", "out"} == set()


# ---------------------------------------------------------------------------------- record
def test_run_record_is_whole_or_absent_and_notices_changed_outputs(tmp_path):
    (tmp_path / "scene.blend").write_bytes(b"x" * 10)
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "f1.png").write_bytes(b"p")
    args = ["--photo", "p", "--out", str(tmp_path), "--overwrite"]
    run_record.write(str(tmp_path), args, ["scene.blend", "frames"])
    record = run_record.read_complete(str(tmp_path))
    assert record.args == ("--photo", "p", "--out", str(tmp_path)) and record.files == {"scene.blend": 10, "frames": 1}
    (tmp_path / "frames" / "f1.png").unlink()                # a frame deleted since
    assert run_record.read_complete(str(tmp_path)) is None
    (tmp_path / "frames" / "f1.png").write_bytes(b"p")
    with pytest.raises(RuntimeError), run_record.withdrawn(str(tmp_path)):
        assert run_record.read_complete(str(tmp_path)) is None    # while outputs are replaced
        raise RuntimeError("the save failed")
    assert run_record.read_complete(str(tmp_path)) == record      # put back: nothing changed
    (tmp_path / "scene.blend").write_bytes(b"y" * 11)             # an animator saved over it
    assert run_record.read_complete(str(tmp_path)) is None


# ---------------------------------------------------------------------------------- Ray
def test_batch_runs_records_failures_and_resumes(clips_dir, tmp_path):
    folder = tmp_path / "job"
    shutil.copytree(clips_dir, folder)
    manifest = write_manifest(folder, FOUR)
    done = batch(manifest, "--cpus", 2)
    assert done.returncode == 1, done.stderr[-3000:]
    first = {r["clip"]: r for r in rows(folder / "m.results.jsonl")}
    assert {c: r["status"] for c, r in first.items()} == {"k1": "done", "w1": "done", "k2": "done", "bad": "failed"}
    assert "No face was found" in first["bad"]["error"] and first["bad"]["exit"] == 2
    assert not (folder / "out" / "bad").exists()                 # a failed clip leaves no folder
    for name in ("k1", "w1", "k2"):
        out = folder / "out" / name
        record = run_record.read_complete(str(out))
        assert record is not None and "--out" in record.args
        assert not [n for n in os.listdir(out) if n.startswith(".talkface-") and n != run_record.FILE_NAME]
    assert (folder / "out" / "w1" / "video.mp4").stat().st_size > 1000
    assert len(os.listdir(folder / "out" / "w1" / "frames")) == 38             # 1.5 s at 25 fps
    assert "3/4 done, 1 failed, 0 remaining" in done.stderr
    logs = os.listdir(folder / "m.results.logs")
    assert len(logs) == 4 and any("bad" in n for n in logs)

    before = {n: os.path.getmtime(folder / "out" / n / "scene.blend") for n in ("k1", "w1", "k2")}
    again = batch(manifest, "--cpus", 2)
    assert again.returncode == 1
    second = rows(folder / "m.results.jsonl")[4:]
    assert sorted((r["clip"], r["status"]) for r in second) == [
        ("bad", "failed"), ("k1", "skipped"), ("k2", "skipped"), ("w1", "skipped")]
    assert before == {n: os.path.getmtime(folder / "out" / n / "scene.blend") for n in ("k1", "w1", "k2")}

    # a changed option re-does that clip (its earlier scene kept as scene.blend1), the rest stay
    write_manifest(folder, [FOUR[0], FOUR[1].replace("warp,64", "warp,48"), FOUR[3]])
    third = batch(manifest, "--cpus", 2)
    assert third.returncode == 0, third.stderr[-3000:]
    assert {r["clip"]: r["status"] for r in rows(folder / "m.results.jsonl")[8:]} == {
        "k1": "skipped", "w1": "done", "k2": "skipped"}
    assert (folder / "out" / "w1" / "scene.blend1").exists()
    record = run_record.read_complete(str(folder / "out" / "w1")).args
    assert record[record.index("--resolution") + 1] == "48"


def test_a_killed_worker_is_retried_once_and_never_reported_done_without_its_files(clips_dir, tmp_path):
    folder = tmp_path / "job"
    shutil.copytree(clips_dir, folder)
    manifest = write_manifest(folder, [FOUR[0], FOUR[1]])
    once = batch(manifest, "--cpus", 2, env={"TALKFACE_BATCH_FAULT": "kill-once:w1"})
    assert once.returncode == 0, once.stderr[-3000:]
    assert {r["clip"]: r["status"] for r in rows(folder / "m.results.jsonl")} == {"k1": "done", "w1": "done"}
    assert run_record.read_complete(str(folder / "out" / "w1")) is not None
    assert (folder / "out" / "w1" / "video.mp4").exists()

    shutil.rmtree(folder / "out" / "w1")
    always = batch(manifest, "--cpus", 2, env={"TALKFACE_BATCH_FAULT": "kill-always:w1"})
    assert always.returncode == 1
    last = {r["clip"]: r for r in rows(folder / "m.results.jsonl")[2:]}
    assert last["k1"]["status"] == "skipped" and last["w1"]["status"] == "failed"
    assert "died on both attempts" in last["w1"]["error"]
    assert not (folder / "out" / "w1").exists()             # no record, no working files, no folder


def test_with_a_gpu_in_the_cluster_the_bake_asks_for_it(clips_dir, tmp_path):
    """A local cluster that declares one GPU: bakes are scheduled on it (num_gpus=1) while the
    fit and animation of other clips run on the CPUs; here torch finds no CUDA, so the bake's
    'auto' device falls back to the CPU and the clips still complete."""
    folder = tmp_path / "job"
    shutil.copytree(clips_dir, folder)
    manifest = write_manifest(folder, [FOUR[1], FOUR[1].replace("w1", "w2")])
    done = batch(manifest, "--cpus", 2, "--gpus", 1)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 GPUs; bakes on GPU" in done.stderr
    assert {r["clip"]: r["status"] for r in rows(folder / "m.results.jsonl")} == {"w1": "done", "w2": "done"}


def test_a_line_can_add_its_take_to_a_shot(clips_dir, tmp_path):
    """The 'blend' column: the clip's take goes into that .blend's scene (its objects kept), and
    the next clip in the same worker starts from an empty file again."""
    folder = tmp_path / "job"
    shutil.copytree(clips_dir, folder)
    script = ("import bpy; bpy.ops.wm.read_homefile(use_empty=True); "
              "bpy.data.objects.new('SetPiece', None); bpy.context.scene.collection.objects.link("
              "bpy.data.objects['SetPiece']); bpy.ops.wm.save_as_mainfile(filepath=%r)" % str(folder / "shot.blend"))
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
    (folder / "m.csv").write_text("name,photo,audio,out,keys_only,blend\n"
                                  "a,face.png,line.wav,out/a,1,shot.blend\nb,face.png,line.wav,out/b,1,\n")
    done = batch(folder / "m.csv", "--cpus", 1)
    assert done.returncode == 0, done.stderr[-3000:]
    check = ("import bpy, sys; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); "
             "print(sorted(o.name for o in bpy.data.objects if o.name == 'SetPiece' or o.type == 'MESH'))")
    objects = {name: subprocess.run([sys.executable, "-c", check, str(folder / "out" / name / "scene.blend")],
                                    capture_output=True, text=True, timeout=120).stdout.strip().splitlines()[-1]
               for name in ("a", "b")}
    assert "SetPiece" in objects["a"] and "SetPiece" not in objects["b"], objects
    assert objects["b"] != "[]"                                  # b has its face mesh


def test_ctrl_c_leaves_no_clip_marked_done_that_is_not(clips_dir, tmp_path):
    folder = tmp_path / "job"
    shutil.copytree(clips_dir, folder)
    samples, sr = sf.read(SPEECH)
    sf.write(folder / "long.wav", np.concatenate([samples] * 3), sr)
    manifest = write_manifest(folder, [f"w{i},face.png,long.wav,out/w{i},,warp,256" for i in range(4)])
    # The child starts with Ctrl-C at its default and unblocked: a suite started in the background
    # (`cmd &` in a script) runs with SIGINT ignored, children inherit that, and Python then never
    # raises KeyboardInterrupt (seen: the batch ran to the end).
    def default_ctrl_c():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    proc = subprocess.Popen([sys.executable, "-m", "talkface.batch", str(manifest), "--cpus", "2"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RAY_AUTH_MODE": "disabled"},
                            preexec_fn=default_ctrl_c)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.time() + 120
    while time.time() < deadline and not any(line.startswith("[batch] Ray:") for line in lines):
        time.sleep(0.1)                                     # Ray is up and the first clips go out
    time.sleep(2.0)                                         # mid-clip (a clip takes 10 s or more)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 130, err[-3000:]
    statuses = {r["clip"]: r["status"] for r in rows(folder / "m.results.jsonl")}
    assert "interrupted" in statuses.values() and set(statuses) == {f"w{i}" for i in range(4)}
    for i in range(4):
        out = folder / "out" / f"w{i}"
        complete = out.exists() and run_record.read_complete(str(out)) is not None
        assert complete == (statuses[f"w{i}"] == "done")
        if out.exists():
            assert not [n for n in os.listdir(out) if n.startswith(".talkface-") and n != run_record.FILE_NAME]



class _ScriptedRay:
    """Ray's scheduling calls as run_batch makes them, in this process: a task runs when it is
    submitted, and Ctrl-C comes while ``wait`` is asked for the next result once clip ``a``'s
    finish stage has ended (the moment a real Ctrl-C can also land)."""

    def __init__(self):
        self.results, self.cancelled = {}, []

    def remote(self, **_):
        ray = self

        class Task:
            def __init__(self, fn):
                self.fn = fn

            def remote(self, name, stage, *args):
                ref = (name, stage)
                ray.results[ref] = self.fn(name, stage, *args)
                return ref

        return Task

    def cluster_resources(self):
        return {"CPU": 2}

    def wait(self, refs, num_returns=1, timeout=None):
        if timeout == 0:
            return [r for r in refs if r[1] == "finish"], [r for r in refs if r[1] != "finish"]
        if ("a", "finish") in refs:
            raise KeyboardInterrupt
        return [refs[0]], refs[1:]

    def get(self, ref):
        return self.results[ref]

    def cancel(self, ref, force=False):
        self.cancelled.append(ref)

    def shutdown(self):
        pass


def test_a_clip_that_finished_as_ctrl_c_came_is_recorded_done(tmp_path, monkeypatch):
    from talkface.batch import runner
    from talkface.batch.manifest import Clip

    def stage(name, stage, args, out, blend=None):
        os.makedirs(out, exist_ok=True)
        if stage == "finish":
            with open(os.path.join(out, "scene.blend"), "wb") as fh:
                fh.write(b"blend")
            run_record.write(out, args, ["scene.blend"])
        return {"code": 0, "error": None, "log": "", "seconds": 1.0, "rss_mb": 1.0, "pid": 1}

    ray = _ScriptedRay()
    monkeypatch.setattr(runner, "_start_ray", lambda *a, **k: ray)
    monkeypatch.setattr(runner, "run_stage", stage)
    clips = [Clip(i, name, str(tmp_path / name), ("--out", str(tmp_path / name)), False, False)
             for i, name in enumerate("ab")]
    summary = runner.run_batch(clips, str(tmp_path / "r.jsonl"), report=lambda *_: None)
    statuses = {r["clip"]: r["status"] for r in rows(tmp_path / "r.jsonl")}
    assert statuses == {"a": "done", "b": "interrupted"}
    assert (summary.done, summary.interrupted) == (1, 1) and summary.exit_code == runner.EXIT_INTERRUPTED
    assert ray.cancelled == [("b", "animate")]        # only what still ran was cancelled
    assert run_record.read_complete(str(tmp_path / "a")) is not None

# ---------------------------------------------------------------------------------- Flamenco
NODE_HARNESS = r"""
const fs = require("fs");
const src = fs.readFileSync(process.argv[2], "utf8");
const settings = JSON.parse(process.argv[3]);
const tasks = [];
const author = {
  Task: (name, type) => { const t = {name, type, commands: [], addCommand(c) { this.commands.push(c); }}; return t; },
  Command: (type, params) => ({type, params}),
};
const path = {stem: (p) => require("path").parse(p).name};
const job = {name: "job", settings, addTask: (t) => tasks.push(t)};
const print = () => {};
try {
  (new Function("author", "path", "print", src + "\nreturn compileJob;"))(author, path, print)(job);
  console.log(JSON.stringify({tasks}));
} catch (e) { console.log(JSON.stringify({error: String(e)})); }
"""


def compile_job(tmp_path, settings: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Flamenco job type's syntax is checked where it is")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    done = subprocess.run([node, str(harness), JOB_TYPE, json.dumps(settings)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_flamenco_job_type_makes_one_blender_task_per_clip(clips_dir, tmp_path):
    single = compile_job(tmp_path, {"photo": "/s/a.png", "audio": "/s/a.wav", "out": "/s/out/a",
                                    "options": "--resolution 1024 --mode neural"})
    (task,) = single["tasks"]
    assert task["type"] == "blender" and task["commands"][0]["type"] == "blender-render"
    params = task["commands"][0]["params"]
    assert params["exe"] == "{blender}" and params["exeArgs"] == "{blenderArgs}" and params["blendfile"] == ""
    assert params["args"] == ["-c", "talkface", "--photo", "/s/a.png", "--audio", "/s/a.wav", "--out", "/s/out/a",
                              "--resolution", "1024", "--mode", "neural"]
    assert "give audio" in compile_job(tmp_path, {"photo": "/s/a.png", "out": "/o"})["error"]

    # a manifest: the clips not yet done, as the job's 'clips' setting; one task each
    folder = tmp_path / "job"
    shutil.copytree(clips_dir, folder)
    manifest = write_manifest(folder, FOUR)
    out = folder / "out" / "k1"
    out.mkdir(parents=True)
    (out / "scene.blend").write_bytes(b"x")
    clip_args = read_manifest(str(manifest))[0].args
    run_record.write(str(out), clip_args, ["scene.blend"])       # k1 is done
    made = batch(manifest, "--flamenco-job", tmp_path / "job.json")
    assert made.returncode == 0, made.stderr
    job = json.loads((tmp_path / "job.json").read_text())
    assert job["type"] == "talkface" and job["settings"]["clip_count"] == 3
    compiled = compile_job(tmp_path, job["settings"])
    assert [t["name"] for t in compiled["tasks"]] == ["talkface-1-w1", "talkface-2-bad", "talkface-3-k2"]
    args = compiled["tasks"][0]["commands"][0]["params"]["args"]
    assert args[:2] == ["-c", "talkface"] and args[args.index("--photo") + 1] == str(folder / "face.png")
    broken = dict(job["settings"], clip_count=5)
    assert "clip_count says 5" in compile_job(tmp_path, broken)["error"]


def test_flamenco_submit_posts_the_job_to_the_manager(clips_dir, tmp_path):
    received = []

    class Manager(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            body = json.dumps({"id": "a1b2"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Manager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        folder = tmp_path / "job"
        shutil.copytree(clips_dir, folder)
        manifest = write_manifest(folder, FOUR[:2])
        done = batch(manifest, "--flamenco-submit", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert done.returncode == 0 and "submitted: a1b2" in done.stderr, done.stderr
    ((where, job),) = received
    assert where == "/api/v3/jobs" and job["type"] == "talkface" and len(json.loads(job["settings"]["clips"])) == 2

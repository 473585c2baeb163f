import io
import re

from talkface.core.progress import Progress, clock


def test_progress_is_a_throttled_callback_with_rate_and_eta():
    out = io.StringIO()
    progress = Progress("bake", 10, stream=out, interval=3600)
    for done in range(1, 11):
        progress(done, 10)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first, then the throttle holds until the last
    assert re.fullmatch(r"\[talkface\] bake:  10\.0% \(1/10 frames, [\d.]+ frames/s, ETA \d+:\d\d:\d\d\)", lines[0])
    assert "100.0% (10/10 frames" in lines[1] and "ETA 0:00:00" in lines[1]


def test_total_can_change_and_items_print_their_status():
    out = io.StringIO()
    progress = Progress("prepare", 2, unit="clips", stream=out, interval=0)
    progress.item("A_0", "ok")
    progress.item("B_0", "FAILED: no audio")
    progress(3, 4)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[talkface] prepare: A_0: ok ( 50.0% (1/2 clips")
    assert "B_0: FAILED: no audio (100.0% (2/2 clips" in lines[1]
    assert " 75.0% (3/4 clips" in lines[2]


def test_clock():
    assert clock(3725) == "1:02:05" and clock(float("inf")) == "--:--:--"

"""Lip-sync metrics on the face model's geometry, shared by bench/lipsync.py (phoneme-timed
espeak speech) and the trainers' held-out evaluation (tracked video): the inner-lip gap in mm,
its correlation with the reference, the A/V lag, and closures."""

from __future__ import annotations

import numpy as np


def lag_ms(pred: np.ndarray, ref: np.ndarray, fps: float, max_lag: int = 10) -> float:
    """A/V lag at the cross-correlation peak (+ = prediction late), sub-frame by a parabola."""
    a, b = pred - pred.mean(), ref - ref.mean()
    lags = np.arange(-max_lag, max_lag + 1)
    cc = np.array([np.dot(a[max(0, k):len(a) + min(0, k)], b[max(0, -k):len(b) - max(0, k)]) for k in lags])
    i = int(np.argmax(cc))
    shift = float(lags[i])
    if 0 < i < len(cc) - 1:
        denom = cc[i - 1] - 2 * cc[i] + cc[i + 1]
        if denom != 0:
            shift += 0.5 * (cc[i - 1] - cc[i + 1]) / denom
    return 1000.0 * shift / fps


def gap_mm(model, weights_52: np.ndarray) -> np.ndarray:
    """Inner-lip gap [F] in mm of ARKit weights [F, 52] on the (unposed) face model, in chunks
    so long clips stay in bounded memory."""
    from ..core.face.model import inner_lip_gap

    out = [inner_lip_gap(model, model.vertices(None, weights_52[s:s + 2000], None)) * 1000.0
           for s in range(0, len(weights_52), 2000)]
    return np.concatenate(out) if out else np.zeros(0)


def closure_events(gap_mm: np.ndarray, closed_mm: float = 1.0) -> list[tuple[int, int]]:
    """[start, end) frame runs where the reference lips are closed (gap <= closed_mm)."""
    closed = np.r_[False, gap_mm <= closed_mm, False]
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def lip_metrics(pairs, fps: float, model=None) -> dict:
    """bench/lipsync.py's metrics where the reference is tracked video, not phonemes.

    ``pairs``: iterable of (predicted weights [F, 52], reference weights [F, 52]). ``closure_runs`` is the
    share of the reference's closed-lip runs (tracked gap <= 1 mm, standing in for /p b m/,
    which HDTF does not annotate) during which the predicted gap also closes to <= 1 mm;
    r the correlation of the gap curves; lag their cross-correlation peak."""
    if model is None:
        from ..core.face.model import load_face_model

        model = load_face_model()
    closed = total = 0
    preds, refs, lags = [], [], []
    for pred_w, ref_w in pairs:
        pg, rg = gap_mm(model, np.asarray(pred_w)), gap_mm(model, np.asarray(ref_w))
        for a, b in closure_events(rg):
            total += 1
            closed += bool(pg[max(a - 1, 0):b + 1].min() <= 1.0)
        preds.append(pg)
        refs.append(rg)
        if rg.std() > 0.1 and pg.std() > 0.1:
            lags.append(lag_ms(pg, rg, fps))
    p = np.concatenate(preds) if preds else np.zeros(0)
    r = np.concatenate(refs) if refs else np.zeros(0)
    ok = len(p) > 1 and p.std() > 0 and r.std() > 0
    return {"closure_runs": closed / total if total else float("nan"), "n_closure_runs": total,
            "gap_r": float(np.corrcoef(p, r)[0, 1]) if ok else float("nan"),
            "lag_ms": float(np.median(lags)) if lags else float("nan")}

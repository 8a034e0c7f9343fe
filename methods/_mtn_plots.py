"""The AQPr attention maps of a few validation segments, drawn from a run's ``fit.json``.

``mtn`` records, for aggregators ``aqpr`` and ``mtx``, the attention map M (METHODS.md 2.10 Eq. 1) of
its first validation segments over their test frames (``fit.attention``: segment ids, map size and
per task a (segments, frames, H', W') list). Usage::

    python -m methods._mtn_plots runs/mlartifacts/<...>/artifacts/fit.json attention.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def attention_figure(attention: dict[str, Any], path: Path) -> Path:
    """One row per (segment, task), one panel per frame; written as PNG (matplotlib Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = [t for t in ("scene", "action") if t in attention]
    maps = {t: np.asarray(attention[t], dtype=np.float64) for t in tasks}
    n_seg, n_frames = maps[tasks[0]].shape[:2]
    fig = Figure(figsize=(1.1 * n_frames + 1.5, 1.1 * n_seg * len(tasks) + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_seg * len(tasks), n_frames, squeeze=False)
    vmax = max(float(m.max()) for m in maps.values()) or 1.0
    for s in range(n_seg):
        for k, task in enumerate(tasks):
            row = s * len(tasks) + k
            for f in range(n_frames):
                ax = axes[row][f]
                ax.imshow(maps[task][s, f], vmin=0.0, vmax=vmax, cmap="viridis")
                ax.set_xticks([])
                ax.set_yticks([])
                if f == 0:
                    ax.set_ylabel(f"{attention['segments'][s]}\n{task}", fontsize=6)
                if row == 0:
                    ax.set_title(f"frame {f}", fontsize=6)
    fig.suptitle("MTN AQPr attention M over each segment's test frames", fontsize=8)
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__)
        return 2
    notes = json.loads(Path(args[0]).read_text())
    attention = notes.get("fit", notes).get("attention")
    if not attention:
        print(f"{args[0]}: no 'attention' note (aggregators aqpr and mtx record it when a validation split exists)")
        return 1
    print(attention_figure(attention, Path(args[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

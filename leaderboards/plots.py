"""Plots beside the tables (matplotlib, Agg, no pyplot state): each written as PNG and SVG.

* :func:`plot_per_concept` - per-concept AP of two methods side by side.
* :func:`plot_method_comparison` - mean and 95 % confidence interval of several methods.
* :func:`plot_tuning_history` - value of every trial of a study and the best value so far.
* :func:`plot_grouped_bars` - a table's cells as grouped bars (one group per column, one bar per row).

Every function takes plain sequences (no results table, no Optuna objects) and an ``out_base``
path without suffix, and returns the two files written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMATS = ("png", "svg")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # attaches the Agg canvas; no display, no global pyplot state
    return fig


def _save(fig: Any, out_base: Path) -> tuple[Path, Path]:
    from harness.cache import atomic_path

    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = []
    for fmt in FORMATS:
        path = out_base.with_name(out_base.name + f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths[0], paths[1]


def _check_lengths(**arrays: Sequence[Any]) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"these sequences must have equal lengths: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("nothing to plot: the sequences are empty")
    return n


def plot_per_concept(concepts: Sequence[str], ap_a: Sequence[float], ap_b: Sequence[float], *, label_a: str,
                     label_b: str, out_base: Path, metric: str = "AP", title: str = "",
                     sort: bool = True) -> tuple[Path, Path]:
    """Grouped bars of two methods' per-concept scores (sorted by the difference b - a when ``sort``).

    Concepts with a missing (NaN) value are drawn without that bar.
    """
    n = _check_lengths(concepts=concepts, ap_a=ap_a, ap_b=ap_b)
    order = list(range(n))
    if sort:
        def diff(i: int) -> float:
            d = float(ap_b[i]) - float(ap_a[i])
            return d if math.isfinite(d) else -math.inf

        order.sort(key=diff, reverse=True)
    fig = _figure(max(6.0, 0.28 * n + 2), 4.5)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(n))
    width = 0.4
    ax.bar([x - width / 2 for x in xs], [float(ap_a[i]) for i in order], width, label=label_a, color="#4C72B0")
    ax.bar([x + width / 2 for x in xs], [float(ap_b[i]) for i in order], width, label=label_b, color="#DD8452")
    ax.set_xticks(xs)
    ax.set_xticklabels([str(concepts[i]) for i in order], rotation=75, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_xlim(-0.6, n - 0.4)
    ax.legend()
    ax.set_title(title or f"per-concept {metric}: {label_a} vs {label_b}")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out_base)


def plot_method_comparison(methods: Sequence[str], means: Sequence[float], ci_low: Sequence[float],
                           ci_high: Sequence[float], *, metric: str, out_base: Path, title: str = "",
                           higher_is_better: bool = True, published: Sequence[float | None] | None = None
                           ) -> tuple[Path, Path]:
    """Horizontal bars of each method's mean with its confidence interval (best on top).

    A NaN interval (n = 1) is drawn without whiskers. ``published`` values, where given, are
    drawn as black diamonds.
    """
    n = _check_lengths(methods=methods, means=means, ci_low=ci_low, ci_high=ci_high)
    if published is not None:
        _check_lengths(methods=methods, published=published)
    order = sorted(range(n), key=lambda i: float(means[i]) if math.isfinite(float(means[i])) else -math.inf,
                   reverse=not higher_is_better)  # barh draws the first item at the bottom
    fig = _figure(7.0, max(2.5, 0.45 * n + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(n))
    mean_vals = [float(means[i]) for i in order]
    lo = [float(means[i]) - float(ci_low[i]) for i in order]
    hi = [float(ci_high[i]) - float(means[i]) for i in order]
    xerr = [[v if math.isfinite(v) else 0.0 for v in lo], [v if math.isfinite(v) else 0.0 for v in hi]]
    ax.barh(ys, mean_vals, xerr=xerr, capsize=4, color="#4C72B0", alpha=0.85, label="ours (mean, 95% CI)")
    if published is not None:
        pts = [(float(v), y) for y, i in zip(ys, order, strict=True) if (v := published[i]) is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker="D", color="black", zorder=3, label="published")
    ax.set_yticks(ys)
    ax.set_yticklabels([str(methods[i]) for i in order])
    ax.set_xlabel(metric + ("" if higher_is_better else " (lower is better)"))
    ax.set_title(title or f"{metric} by method")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out_base)


def plot_tuning_history(numbers: Sequence[int], values: Sequence[float | None], states: Sequence[str], *,
                        metric: str, direction: str, out_base: Path, title: str = "") -> tuple[Path, Path]:
    """Each finished trial's value (pruned/failed trials marked) and the best value so far."""
    n = _check_lengths(numbers=numbers, values=values, states=states)
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    rows = sorted(zip(numbers, values, states, strict=True), key=lambda r: r[0])
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    done = [(k, float(v)) for k, v, s in rows if s == "COMPLETE" and v is not None]
    if done:
        ax.scatter([k for k, _ in done], [v for _, v in done], s=18, color="#4C72B0", label="trial")
        best_x, best_y, best = [], [], None
        for k, v in done:
            if best is None or (v > best if direction == "maximize" else v < best):
                best = v
            best_x.append(k)
            best_y.append(best)
        ax.step(best_x, best_y, where="post", color="#C44E52", label="best so far")
    other = [k for k, _, s in rows if s in ("PRUNED", "FAIL")]
    if other:
        ymin = min((v for _, v in done), default=0.0)
        ax.scatter(other, [ymin] * len(other), marker="x", color="grey", label="pruned / failed")
    ax.set_xlabel("trial number")
    ax.set_ylabel(metric)
    ax.set_title(title or f"tuning history ({n} trials)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_base)


def plot_grouped_bars(groups: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, metric: str,
                      out_base: Path, title: str = "") -> tuple[Path, Path]:
    """One group of bars per entry of ``groups`` (e.g. the AVS queries), one bar per series (the
    table's rows, e.g. the runs); NaN values leave a gap."""
    n = len(groups)
    if n == 0 or not series:
        raise ValueError("nothing to plot: no groups or no series")
    for label, values in series:
        if len(values) != n:
            raise ValueError(f"series {label!r} has {len(values)} values for {n} groups")
    fig = _figure(max(7.0, 0.32 * n * max(1, len(series)) / 2 + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(n)]
        ax.bar(xs, [float(v) if math.isfinite(float(v)) else 0.0 for v in values], width=width, label=label)
    ax.set_xticks(list(range(n)))
    ax.set_xticklabels([str(g) for g in groups], rotation=75, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(title or metric)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_base)

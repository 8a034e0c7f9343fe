"""Plots: PNG and SVG written, with the labels and marks the reader needs."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from leaderboards.plots import plot_method_comparison, plot_per_concept, plot_tuning_history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()  # well-formed XML
    assert root.tag.endswith("svg")
    return path.read_text()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_per_concept_side_by_side(tmp_path: Path) -> None:
    concepts = ["Airplane", "Basketball", "Beach", "Bicycling"]
    png, svg = plot_per_concept(concepts, [0.1, 0.5, 0.3, math.nan], [0.2, 0.4, 0.6, 0.1], label_a="lr",
                                label_b="dmtl_lc", out_base=tmp_path / "plots" / "per_concept")
    assert png.name == "per_concept.png" and svg.name == "per_concept.svg"
    width, height = _png_size(png)
    assert width >= 600 and height == 450
    text = _svg_text(svg)
    for label in (*concepts, "lr", "dmtl_lc"):
        assert f"<!-- {label} -->" in text
    # sorted by improvement: Beach (+0.3) is drawn before Airplane (+0.1) and Basketball (-0.1)
    assert text.index("<!-- Beach -->") < text.index("<!-- Airplane -->") < text.index("<!-- Basketball -->")


def test_method_comparison_with_intervals(tmp_path: Path) -> None:
    png, svg = plot_method_comparison(["lr", "dmtl", "dmtl_lc"], [11.3, 12.0, 12.8], [10.9, math.nan, 12.1],
                                      [11.7, math.nan, 13.5], metric="MXinfAP (%)", out_base=tmp_path / "cmp",
                                      published=[None, 18.3, 19.1])
    _png_size(png)
    text = _svg_text(svg)
    assert "MXinfAP (%)" in text and "published" in text and "95% CI" in text
    # y tick labels are drawn bottom to top: the best mean (dmtl_lc) ends on top, i.e. last
    assert text.index("<!-- lr -->") < text.index("<!-- dmtl -->") < text.index("<!-- dmtl_lc -->")
    _, svg_low = plot_method_comparison(["a", "b"], [0.2, 0.1], [0.1, 0.0], [0.3, 0.2], metric="HL",
                                        out_base=tmp_path / "low", higher_is_better=False)
    low = svg_low.read_text()
    assert "HL (lower is better)" in low and low.index("<!-- a -->") < low.index("<!-- b -->")


def test_tuning_history(tmp_path: Path) -> None:
    png, svg = plot_tuning_history([0, 1, 2, 3, 4], [0.12, 0.15, None, 0.14, 0.16],
                                   ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"],
                                   metric="map (validation)", direction="maximize", out_base=tmp_path / "hist",
                                   title="lr@trecvid2013-mini")
    _png_size(png)
    text = _svg_text(svg)
    for label in ("best so far", "pruned / failed", "map (validation)", "lr@trecvid2013-mini", "trial number"):
        assert label in text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: plot_per_concept(["a"], [0.1, 0.2], [0.1], label_a="x", label_b="y", out_base=p), "equal lengths"),
        (lambda p: plot_method_comparison([], [], [], [], metric="m", out_base=p), "empty"),
        (lambda p: plot_tuning_history([0], [0.1], ["COMPLETE"], metric="m", direction="up", out_base=p), "direction"),
    ],
)
def test_bad_input(tmp_path: Path, call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        call(tmp_path / "x")
    assert not list(tmp_path.glob("x.*"))

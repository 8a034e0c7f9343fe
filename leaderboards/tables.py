"""Paper tables, one import for the pure parts: spec -> plan, results -> aggregated cells -> text.

Each job has its own module; this one re-exports their public names (``from leaderboards import
tables``):

* :mod:`leaderboards.spec` reads ``leaderboards/specs/<paper>.yaml`` (schema in :func:`load_spec`).
* :mod:`leaderboards.plan` turns cells into planned runs (``--set`` items, tags, placeholders).
* :mod:`leaderboards.tuned_rows` adds the "(tuned)" rows of ``harness table --tuned``.
* :mod:`leaderboards.aggregate` goes from the results table to one row per cell, and checks claims.
* :mod:`leaderboards.render` writes Markdown, LaTeX, HTML and the JSON summary.

Running cells (the runner, tuning) is not here: ``harness.table_runs`` (``fill``, ``make_run``) and
``harness.table_tuned`` (``prepare_tuned``) sit beside the ``table`` command, so that leaderboards
never imports ``harness.runner``, ``harness.tuning`` or ``harness.sweep`` (import-linter contract).
"""

from __future__ import annotations

from leaderboards.aggregate import (
    aggregate,
    best_candidate,
    check_claims,
    finished,
    recorded_row,
    recorded_rows,
    recorded_value,
    row_direction,
)
from leaderboards.plan import (
    PLACEHOLDER,
    PlannedRun,
    cell_dataset,
    cell_order,
    cell_parts,
    cell_sets,
    expand,
    is_miniature_name,
    method_settings,
    plan_run,
    setting_text,
    source_text,
    tuned_params,
    with_overrides,
)
from leaderboards.render import (
    FORMATS,
    MINI_MARK,
    TUNED_TITLE,
    display_frame,
    miniature_notes,
    render,
    summary_json,
    tuned_study_notes,
)
from leaderboards.spec import (
    SPEC_DIR,
    CellSpec,
    Claim,
    Over,
    Select,
    TableError,
    TableSpec,
    available_papers,
    available_tables,
    get_table,
    load_spec,
    with_directions,
)
from leaderboards.tuned_rows import (
    TUNED_SUFFIX,
    row_methods,
    table_methods,
    tune_settings,
    with_tuned,
)

__all__ = [
    "FORMATS", "MINI_MARK", "PLACEHOLDER", "SPEC_DIR", "TUNED_SUFFIX", "TUNED_TITLE", "CellSpec", "Claim", "Over", "PlannedRun",
    "best_candidate", "cell_dataset", "cell_parts", "recorded_row", "recorded_rows", "row_direction", "with_directions",
    "Select", "TableError", "TableSpec", "aggregate", "available_papers", "available_tables", "cell_order", "cell_sets",
    "check_claims", "display_frame", "expand", "finished", "get_table", "is_miniature_name", "load_spec",
    "method_settings", "miniature_notes", "plan_run", "recorded_value", "render", "row_methods", "setting_text",
    "source_text", "summary_json", "table_methods", "tune_settings", "tuned_params", "tuned_study_notes", "with_overrides",
    "with_tuned",
]  # fmt: skip

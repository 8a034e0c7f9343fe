"""Search spaces: validation against a method's Config, text forms, grids, the paper's lr grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from harness.errors import InvalidParameterError
from harness.params import Interval, Options, param
from harness.search_space import (
    PAPER_LR_GRID,
    Categorical,
    IntRange,
    LogUniform,
    TrialPruned,
    Uniform,
    fingerprint,
    format_value,
    grid_of,
    grid_size,
    log_grid,
    parse_dimension,
    parse_space,
    report,
    reporting,
    space_of,
    validate_space,
)


@dataclass(frozen=True)
class Cfg:
    lr: float = param(1e-3, Interval(0, None, "neither"), "learning rate")
    beta: float = param(0.3, Interval(0, 1), "weight")
    k: int = param(10, Interval(1, None), "latent tasks")
    loss: str = param("hinge", Options(("hinge", "logistic")), "loss")
    flag: bool = param(True, help="a switch")


Cfg.__owner__ = "toy"  # type: ignore[attr-defined]


def test_paper_lr_grid_is_the_seven_values_of_methods_md() -> None:
    expected = [1e-5, 10**-4.5, 1e-4, 10**-3.5, 1e-3, 10**-2.5, 1e-2]
    assert len(PAPER_LR_GRID.choices) == 7
    for got, want in zip(PAPER_LR_GRID.choices, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-11)
    assert PAPER_LR_GRID.choices[0] == 1e-5 and PAPER_LR_GRID.choices[-1] == 1e-2  # exact ends


def test_valid_space_passes_and_is_returned_as_dict() -> None:
    space = {"lr": PAPER_LR_GRID, "beta": Uniform(0.0, 1.0), "k": IntRange(1, 200, 4),
             "loss": Categorical(("hinge", "logistic")), "flag": Categorical((True, False))}
    assert validate_space(space, Cfg) == space


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({}, "is empty"),
        ([("lr", LogUniform(1e-5, 1e-2))], "must be a mapping"),
        ({"lrr": LogUniform(1e-5, 1e-2)}, "Did you mean 'lr'"),
        ({"lr": LogUniform(1e-2, 1e-5)}, "low must be < high"),
        ({"lr": LogUniform(0.0, 1e-2)}, "needs low > 0"),
        ({"lr": LogUniform(1e-5, math.inf)}, "finite number"),
        ({"beta": Uniform(0.0, 2.0)}, "outside the field's allowed range (in [0, 1])"),
        ({"lr": Uniform(0.0, 1.0)}, "value 0.0 is outside"),  # lr's interval is open at 0
        ({"k": IntRange(0, 10)}, "value 0 is outside"),
        ({"k": IntRange(10, 1)}, "low must be <= high"),
        ({"k": IntRange(1, 10, 0)}, "step must be >= 1"),
        ({"k": IntRange(1, 10, 2, log=True)}, "log-scaled integer range needs"),
        ({"k": Uniform(1.0, 5.0)}, "suits a float field"),
        ({"loss": Categorical(())}, "non-empty tuple"),
        ({"loss": Categorical(("hinge", "hinge"))}, "duplicates"),
        ({"loss": Categorical(("hinge", "squared"))}, "'squared' is outside"),
        ({"flag": Categorical((1, 0))}, "does not suit a field of type bool"),
        ({"lr": Categorical(([1e-3],))}, "must be None, bool, int, float or str"),
        ({"lr": "loguniform(1e-5, 1e-2)"}, "expected LogUniform, Uniform, IntRange or Categorical"),
    ],
)
def test_bad_spaces_are_refused_with_a_clear_message(space: object, expected: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        validate_space(space, Cfg)
    assert expected in str(info.value)
    assert "toy" in str(info.value)


def test_method_without_search_space_explains_the_contract() -> None:
    class NoSpace:
        name = "nospace"
        Config = Cfg

    with pytest.raises(InvalidParameterError, match="declares no search space.*search_space"):
        space_of(NoSpace)


def test_lr_declares_a_valid_log_uniform_c() -> None:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    space = space_of(api.METHODS.get("lr"))
    assert space == {"C": LogUniform(2.0**-5, 2.0**15)}


@pytest.mark.parametrize(
    ("text", "dim"),
    [
        ("loguniform(1e-3, 1e3)", LogUniform(1e-3, 1e3)),
        ("uniform(0,1)", Uniform(0.0, 1.0)),
        ("int(1, 9, 2)", IntRange(1, 9, 2)),
        ("logint(1,64)", IntRange(1, 64, 1, log=True)),
        ("choice(hinge, logistic)", Categorical(("hinge", "logistic"))),
        ("choice(0.1,1,true)", Categorical((0.1, 1, True))),
        ("paper-lr-grid", PAPER_LR_GRID),
    ],
)
def test_parse_dimension(text: str, dim: object) -> None:
    assert parse_dimension(text) == dim


@pytest.mark.parametrize("text", ["normal(0,1)", "uniform(1)", "int(1.5,3)", "loguniform(a,b)", "choice()"])
def test_parse_dimension_rejects_bad_text(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="--space"):
        parse_dimension(text)


def test_parse_space_needs_key_value() -> None:
    assert parse_space(["C=uniform(1,2)"]) == {"C": Uniform(1.0, 2.0)}
    with pytest.raises(InvalidParameterError, match="KEY=SPEC"):
        parse_space(["uniform(1,2)"])


def test_format_value_round_trips_through_the_config_parser() -> None:
    from harness.params import coerce

    for tp, value in ((float, 0.1 + 0.2), (float, 10**-4.5), (int, 7), (bool, False), (str, "hinge")):
        assert coerce(tp, format_value(value)) == value


def test_grids() -> None:
    lu = LogUniform(1e-4, 1e-1, grid_points=4)
    assert lu.grid()[0] == 1e-4 and lu.grid()[-1] == 1e-1
    assert lu.grid()[1] == pytest.approx(1e-3) and lu.grid()[2] == pytest.approx(1e-2)
    assert Uniform(0.0, 1.0, grid_points=3).grid() == [0.0, 0.5, 1.0]
    assert IntRange(2, 8, 3).grid() == [2, 5, 8]
    space = {"a": Categorical(("x", "y")), "b": IntRange(1, 3)}
    assert grid_of(space) == {"a": ["x", "y"], "b": [1, 2, 3]}
    assert grid_size(space) == 6
    assert log_grid(1.0, 100.0, 10.0).choices == (1.0, 10.0, 100.0)


def test_fingerprint_is_order_independent_and_value_sensitive() -> None:
    a = {"lr": LogUniform(1e-5, 1e-2), "k": IntRange(1, 5)}
    b = {"k": IntRange(1, 5), "lr": LogUniform(1e-5, 1e-2)}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({**a, "k": IntRange(1, 6)})


def test_report_is_a_no_op_outside_tuning_and_prunes_inside() -> None:
    report(0, 0.5)  # no tuner: nothing happens
    seen: list[tuple[int, float]] = []

    def callback(step: int, value: float) -> bool:
        seen.append((step, value))
        return step >= 2

    with reporting(callback):
        report(0, 0.1)
        report(1, 0.2)
        with pytest.raises(TrialPruned, match="step 2"):
            report(2, 0.3)
    assert seen == [(0, 0.1), (1, 0.2), (2, 0.3)]
    report(3, 0.4)  # the context is gone again
    assert len(seen) == 3


def test_plain_tuple_is_a_categorical_grid() -> None:
    assert validate_space({"k": (1, 5, 10)}, Cfg) == {"k": Categorical((1, 5, 10))}
    with pytest.raises(InvalidParameterError, match="value 0 is outside"):
        validate_space({"k": [0, 5]}, Cfg)


def _registered_methods() -> list[str]:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    return [n for n in api.METHODS.names() if hasattr(api.METHODS.get(n), "search_space")]


@pytest.mark.parametrize("name", _registered_methods())
def test_every_declared_search_space_is_valid(name: str) -> None:
    from harness import api

    space = space_of(api.METHODS.get(name))
    assert space and all(len(d.grid()) >= 1 for d in space.values())


def test_contains_tells_whether_a_default_is_a_point_of_the_space() -> None:
    from harness.search_space import Categorical, IntRange, LogUniform, Uniform, contains

    assert contains(LogUniform(0.03, 3.0), 0.3) and not contains(LogUniform(0.03, 3.0), 5.0)
    assert contains(Uniform(0.0, 1.0), 1) and not contains(Uniform(0.0, 1.0), "0.5")
    assert contains(IntRange(32, 320, 32), 64) and not contains(IntRange(32, 320, 32), 65)
    assert contains(IntRange(32, 320, log=True), 157) and not contains(IntRange(32, 320), 1.5)
    assert contains(Categorical((39, 78, 157)), 157) and not contains(Categorical((39, 78, 157)), 100)
    assert not contains(Categorical((1, 2)), True)  # bool is not the int 1 here
    assert not contains(LogUniform(1e-5, 1e-2), None)


def test_snap_meets_rounded_grid_values_only() -> None:
    from harness.search_space import PAPER_LR_GRID, Categorical, LogUniform, snap

    assert snap(PAPER_LR_GRID, 0.00316) == PAPER_LR_GRID.choices[5]
    assert snap(PAPER_LR_GRID, 0.0032) is None and snap(PAPER_LR_GRID, None) is None
    assert snap(LogUniform(0.1, 1.0), 0.5) == 0.5 and snap(Categorical(("a",)), "b") is None


def test_the_first_trial_of_dmtl_lc_is_its_paper_defaults() -> None:
    from harness.tuning import TuneRequest, default_trial_params, plan_study

    plan = plan_study(TuneRequest(method="dmtl_lc", dataset="trecvid2013-mini"))
    assert set(plan.space) == {"lr", "k", "beta"}
    # lr is chosen over a grid by default (None): the sampler picks it; k and beta are the paper's
    assert default_trial_params(plan) == {"k": 157, "beta": 0.3}
    # with the lr the defaults' own grid search chose (0.00316 in a table's short grid = the paper's 10^-2.5)
    assert default_trial_params(plan, {"lr": 0.00316}) == {"k": 157, "beta": 0.3, "lr": PAPER_LR_GRID.choices[5]}
    assert default_trial_params(plan, {"lr": 0.005}) == {"k": 157, "beta": 0.3}  # not a grid point: sampled
    with pytest.raises(InvalidParameterError, match="--enqueue-defaults does not apply to --sampler grid"):
        plan_study(TuneRequest(method="dmtl_lc", dataset="trecvid2013-mini", sampler="grid", enqueue_defaults=True))

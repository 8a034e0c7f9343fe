from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.errors import InvalidParameterError
from harness.params import Interval, Options, assumptions, config_to_dict, param, resolve_config


@dataclass(frozen=True)
class Cfg:
    beta: float = param(0.3, Interval(0, None), "label-constraint weight")
    k: int = param(157, Interval(1, None), "latent tasks")
    loss: str = param("hinge", Options(("hinge", "softmax")))
    relu: bool = param(True)
    lr_grid: tuple[float, ...] = param((1e-3, 1e-2), Interval(0, None, "neither"))
    wd: float = param(5e-4, Interval(0, None), assumption=True)
    note: str | None = param(None)


Cfg.__owner__ = "dmtl_lc"  # type: ignore[attr-defined]


def test_defaults() -> None:
    cfg = resolve_config(Cfg)
    assert cfg == Cfg()
    assert assumptions(Cfg) == ["wd"]


def test_layers_cli_beats_file_beats_defaults() -> None:
    cfg = resolve_config(Cfg, {"beta": 0.5, "k": 10}, ["beta=0.7"])
    assert cfg.beta == 0.7 and cfg.k == 10


def test_types_are_parsed() -> None:
    cfg = resolve_config(Cfg, None, ["k=12", "relu=false", "lr_grid=1e-4,1e-3", "note=hello", "loss=softmax"])
    assert cfg.k == 12 and cfg.relu is False and cfg.lr_grid == (1e-4, 1e-3) and cfg.note == "hello"
    assert config_to_dict(cfg)["lr_grid"] == [1e-4, 1e-3]


def test_unknown_key_names_valid_keys_and_close_match() -> None:
    with pytest.raises(InvalidParameterError) as info:
        resolve_config(Cfg, None, ["bta=0.1"])
    msg = str(info.value)
    assert "Unknown parameter 'bta'" in msg and "Did you mean 'beta'" in msg and "Valid keys: beta, k, loss" in msg


def test_wrong_type() -> None:
    with pytest.raises(InvalidParameterError, match=r"'k' parameter of dmtl_lc must be int in \[1, inf\)"):
        resolve_config(Cfg, None, ["k=abc"])
    with pytest.raises(InvalidParameterError, match="integer"):
        resolve_config(Cfg, None, ["k=1.5"])


def test_out_of_range_message_follows_style() -> None:
    with pytest.raises(InvalidParameterError) as info:
        resolve_config(Cfg, None, ["beta=-0.3"])
    assert str(info.value) == "The 'beta' parameter of dmtl_lc must be in [0, inf). Got -0.3 instead."


def test_options_and_tuple_elements_checked() -> None:
    with pytest.raises(InvalidParameterError, match="one of 'hinge', 'softmax'"):
        resolve_config(Cfg, None, ["loss=l2"])
    with pytest.raises(InvalidParameterError, match="lr_grid"):
        resolve_config(Cfg, None, ["lr_grid=0.1,-1"])


def test_missing_equals_sign() -> None:
    with pytest.raises(InvalidParameterError, match="key=value"):
        resolve_config(Cfg, None, ["beta"])


def test_bool_from_yaml_and_nan_rejected() -> None:
    assert resolve_config(Cfg, {"relu": False}).relu is False
    with pytest.raises(InvalidParameterError):
        resolve_config(Cfg, None, ["beta=nan"])

from __future__ import annotations

import pytest

from harness.seeding import derive_seed, rng


def test_derivation_is_pure_and_component_specific() -> None:
    assert derive_seed(0, "method") == derive_seed(0, "method")
    assert derive_seed(0, "method") != derive_seed(1, "method")
    assert derive_seed(0, "method") != derive_seed(0, "validation")
    assert derive_seed(0, "a", 1) != derive_seed(0, "a", 2)
    assert 0 <= derive_seed(123, "x") < 2**31


def test_rng_reproducible() -> None:
    assert (rng(5, "x").random(4) == rng(5, "x").random(4)).all()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_base_seed(bad: object) -> None:
    with pytest.raises(ValueError):
        derive_seed(bad)  # type: ignore[arg-type]

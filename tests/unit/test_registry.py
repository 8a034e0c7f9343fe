from __future__ import annotations

import pytest

from harness.errors import PluginUnavailableError, UnknownNameError
from harness.registry import Registry


def make() -> Registry[object]:
    reg: Registry[object] = Registry("method")
    for name in ("dmtl_lc", "dmtl", "lr", "lsvm"):
        reg.register(name)(object())
    return reg


def test_register_and_get() -> None:
    reg = make()
    assert reg.names() == ["dmtl", "dmtl_lc", "lr", "lsvm"]
    assert "lr" in reg and "nope" not in reg


def test_duplicate_refused_with_owner() -> None:
    reg = make()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("lr")(object())


def test_unknown_name_suggests_close_matches_and_lists_all() -> None:
    reg = make()
    with pytest.raises(UnknownNameError) as info:
        reg.get("dmtl_cl")
    msg = str(info.value)
    assert "Unknown method 'dmtl_cl'" in msg
    assert "Did you mean 'dmtl_lc'" in msg
    assert "Available: dmtl, dmtl_lc, lr, lsvm" in msg
    assert isinstance(info.value, LookupError)


def test_unknown_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(UnknownNameError) as info:
        make().get("zzzzzz")
    assert "Did you mean" not in str(info.value)


def test_optional_plugin_listed_as_unavailable() -> None:
    reg = make()
    with reg.optional("gpu_thing"):
        import definitely_not_installed_pkg  # noqa: F401
    assert "gpu_thing" in reg.unavailable()
    assert "definitely_not_installed_pkg" in reg.unavailable()["gpu_thing"]
    with pytest.raises(PluginUnavailableError, match="unavailable"):
        reg.get("gpu_thing")


@pytest.mark.parametrize("bad", ["", " lr", 3])
def test_bad_names_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        Registry("method").register(bad)  # type: ignore[arg-type]

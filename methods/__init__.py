"""Method plugins, one module per method; importing this package fills ``harness.api.METHODS``."""

from methods import lr  # noqa: F401

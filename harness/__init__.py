"""Benchmark harness for video concept detection, action recognition and multi-label annotation."""

__version__ = "0.1.0"

"""perfedit: suggest a faster version of a Python function or script, proven against its tests."""

__version__ = "0.1.0"

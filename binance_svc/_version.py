"""The one place the version is written (pyproject reads it; /health serves it)."""
__version__ = "0.4.0"

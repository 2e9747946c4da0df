"""The version of shapelang (one place; the package, the CLI and generated programs read it)."""
__version__ = "0.1.0"

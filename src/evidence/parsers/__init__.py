"""Source-format parsers: one module (or subpackage) per format, listed in registry.FORMAT_MODULES.

Also here, what every parser uses: the parse context it reports rows through (context), the rows it
produces (rows), format detection (detect) and helpers for JSON exports and export text. Parser modules
are imported by the registry on first use.
"""

from evidence.parsers.registry import REGISTRY, register

__all__ = ["REGISTRY", "register"]

"""Source-format parsers, one module per format, all registered in REGISTRY.

Import order is detection order: put formats with a precise signature before looser ones.
"""

from evidence.parsers.registry import REGISTRY, register

# --- parser modules (keep one import per line; order = detection order) ---
# --- end of parser modules ---

__all__ = ["REGISTRY", "register"]

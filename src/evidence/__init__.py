"""Evidence pipeline for online stalking cases: verified, deduplicated, time-ordered records from exports."""

import os

__version__ = "0.1.0"

# Arrow's own default allocator (mimalloc in current pyarrow) kept 50-70 MB more memory resident than the
# C library's while a 200,000-message export was ingested, and was no faster (benchmarks/whatsapp_bench.py).
# Only a default, read when pyarrow first allocates: a value set in the environment wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

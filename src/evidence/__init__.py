"""Evidence pipeline for online stalking cases: verified, deduplicated, time-ordered records from exports."""

__version__ = "0.1.0"

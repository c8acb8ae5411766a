"""A run of the pipeline: parameters, plan (acquire and batch), parallel extraction into Parquet staging, the
single-writer load, and verification of a case."""

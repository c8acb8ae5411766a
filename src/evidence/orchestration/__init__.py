"""What the Airflow DAGs and the viewer plugin share: Assets and the glue between tasks and the pipeline.

Only DAG files and `plugins/` import this part; the pipeline and the CLI never depend on Airflow.
"""

"""The timeline viewer inside the Airflow UI (plugins/evidence_viewer.py mounts `app.app`).

It reads only the snapshot each writer publishes (evidence.pipeline.snapshot), never the live case
database, and writes one thing: advocates' annotations, through the case lock and the custody log.
"""

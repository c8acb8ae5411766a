"""Airflow plugin: the evidence timeline viewer, an entry in the Airflow UI's navigation bar.

A thin file: the app and its routes live in evidence.orchestration.viewer (see README, "Timeline viewer").
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from evidence.orchestration.viewer.app import URL_PREFIX, app


class EvidenceViewerPlugin(AirflowPlugin):
    name = "evidence_viewer"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": app, "url_prefix": URL_PREFIX, "name": "Evidence timeline viewer"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Evidence timeline",
            "href": f"{URL_PREFIX}/",
            "url_route": "evidence-timeline",
            "destination": "nav",
        }
    ]

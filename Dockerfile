# Airflow image for the evidence pipeline: the official image (pinned to the Airflow of requirements.lock)
# plus tesseract, libmagic and this package with its dependencies at the lock's versions.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-eng libmagic1 fonts-dejavu-core \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:root requirements.lock pyproject.toml README.md /opt/evidence/
COPY --chown=airflow:root schemas /opt/evidence/schemas
COPY --chown=airflow:root src /opt/evidence/src
# A regular (not editable) install: the wheel carries its own copy of schemas/*.sql and the report
# templates. The lock constrains every dependency, so the image runs what the tests ran.
RUN pip install --no-cache-dir --constraint /opt/evidence/requirements.lock /opt/evidence

# Airflow image for the evidence pipeline: the official image plus tesseract, libmagic and this package.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-eng libmagic1 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:root pyproject.toml README.md /opt/evidence/
COPY --chown=airflow:root src /opt/evidence/src
COPY --chown=airflow:root schemas /opt/evidence/schemas
# Editable install: the package reads its DDL from /opt/evidence/schemas.
RUN pip install --no-cache-dir -e /opt/evidence "apache-airflow==3.3.2"

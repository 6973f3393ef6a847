# Airflow 3.3.2 image with the pipeline package installed (used by docker-compose.yml).
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:0 pyproject.toml README.md /opt/project/
COPY --chown=airflow:0 include /opt/project/include
COPY --chown=airflow:0 sql /opt/project/sql
RUN pip install --no-cache-dir -e /opt/project "apache-airflow==3.3.2"

ENV GC_COMMERCE_HOME=/opt/project \
    GC_COMMERCE_SQL_DIR=/opt/project/sql

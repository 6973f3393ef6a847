"""Per-merchant GoCardless sync DAGs (Airflow), shard given by this file's name: wiring only."""
from gocardless_commerce.orchestration.dag_factory import build_merchant_dags

globals().update(build_merchant_dags(__file__))

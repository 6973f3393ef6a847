"""Per-merchant GoCardless sync DAGs (Airflow): one DAG per connected data connection.

Wiring only: the merchants come from the registry snapshot (``dags/merchants.json``, written by
``gocardless-commerce merchants …``) and the DAGs from :mod:`gocardless_commerce.dag_factory`.
"""

from gocardless_commerce.dag_factory import build_merchant_dags

globals().update(build_merchant_dags())

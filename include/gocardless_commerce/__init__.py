"""GoCardless commerce pipeline: the logic behind the Airflow DAGs.

Importable without Airflow: the client, sandbox, transforms and warehouse layer are plain
Python. Only :mod:`gocardless_commerce.hooks` and :mod:`gocardless_commerce.dag_factory`
import Airflow, and only when they are used.
"""

__version__ = "0.1.0"

"""Defaults every DAG of the project shares (the sync DAGs and the reconciliation DAG).

Light on purpose (no Airflow import): DAG files import it at every parse.
"""

from __future__ import annotations

import os
from datetime import timedelta

from gocardless_commerce import settings

# Airflow validates every Param of every DAG at parse time with jsonschema; naming draft-07
# (which the trigger form supports) makes that ~3x cheaper than the 2020-12 default, and it
# is most of the parse time when there are a thousand merchants.
PARAM_SCHEMA = {"$schema": "http://json-schema.org/draft-07/schema#"}

# Every task retries transient failures with exponential backoff; permanent ones (a revoked
# token, a 404/410/422, a registry or configuration error, a batch that fails validation) fail
# at once (orchestration.failures decides, for every task). No task runs unbounded: a hung
# warehouse or API ends in a timeout error, then a retry.
TASK_ARGS = {
    "owner": "data-engineering",
    "retries": 3,
    # GC_COMMERCE_RETRY_DELAY_SECONDS shortens the wait (the tests use 1 s).
    "retry_delay": timedelta(seconds=int(os.environ.get("GC_COMMERCE_RETRY_DELAY_SECONDS", "120"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(seconds=settings.task_timeout()),
}

"""GoCardless commerce pipeline: the logic behind the Airflow DAGs.

The flow, one folder per stage: ``client`` (the GoCardless API) → ``extract`` (sync and land
into ``raw.*``) → ``model`` (transform → validate → insights → load into ``commerce.*``) →
``warehouse``; ``reconciliation`` beside the model; ``orchestration`` (Airflow) on top;
``devtools`` (demo, bench) apart. Only ``orchestration`` imports Airflow, and nothing here
imports the simulator (``gocardless_sandbox``) except ``devtools``; ``tests/test_layers.py``
checks both.
"""

__version__ = "0.1.0"

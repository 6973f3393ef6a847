"""Daily gateway reconciliation: every GoCardless event of a day, as Zuora's batch
reconciliation sees it, matched with the warehouse and acted on.

``mapping`` (the event table, pure), ``apply`` (match and apply, pure), ``fetch`` (the API),
``store`` (the warehouse), ``job`` (one job per period, a part per merchant), ``notify``
(summary to the log, Slack or any callable). May import ``client``, ``model`` and
``warehouse``; never Airflow or ``extract``. The DAG's task bodies live in
``orchestration.reconciliation_tasks``. See ``docs/reconciliation.md``.
"""

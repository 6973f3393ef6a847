"""Daily gateway reconciliation (issue 5): every GoCardless event of a day, as Zuora's batch
reconciliation sees it, matched with the warehouse and acted on.

``mapping`` (the event table, pure), ``apply`` (match and apply, pure), ``fetch`` (the API),
``store`` (the warehouse), ``job`` (one job per period, a part per merchant), ``notify``
(summary to the log, Slack or any callable), ``tasks`` (the DAG's task bodies).
See ``docs/reconciliation.md``.
"""

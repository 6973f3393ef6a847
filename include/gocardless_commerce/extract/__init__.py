"""Extraction: sync one data connection from the GoCardless API and land its records into
``raw.*`` as the API sent them (``sync`` drives backfill and incremental runs, ``landing``
upserts the pages).

May import ``client``, ``warehouse`` and ``settings``; never the model, Airflow or the sandbox.
"""

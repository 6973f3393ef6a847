"""Airflow wiring: the sync DAG factory, shared DAG defaults, task bodies, the GoCardless
hook, Airflow connections and the registry snapshot read at parse time.

The only layer that imports Airflow (lazily where parse time matters). May import every
other layer; nothing below it imports it (the CLI only saves connections through it).
"""

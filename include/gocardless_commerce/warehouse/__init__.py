"""The warehouse layer: engine and sessions (DuckDB or PostgreSQL by URL), migrations from
``sql/``, bulk upserts.

Imports only ``settings``; every stage above (extract, model, reconciliation, registry) may
use it, it uses none of them.
"""

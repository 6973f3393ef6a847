"""The Commerce REST API (shapes after Qard API v6), served by Airflow's API server.

``app.create_app()`` builds the FastAPI app that ``plugins/commerce_api.py`` mounts under
``/commerce`` (routes under ``/commerce/api/v6``). It sits on top, beside ``orchestration``:
every route authenticates with Airflow's auth manager; the pure parts (``oauth_state``,
``paging``) need no Airflow.
"""

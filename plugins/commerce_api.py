"""The Commerce REST API inside Airflow's API server, under /commerce/api/v6 (wiring only:
the app is gocardless_commerce.api)."""

from airflow.plugins_manager import AirflowPlugin

from gocardless_commerce.api.app import LazyApp


class CommerceApiPlugin(AirflowPlugin):
    name = "gocardless_commerce_api"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": "/commerce", "name": "GoCardless Commerce API"}]

"""The Commerce REST API inside Airflow's API server, under /commerce/api/v6, its pages under
/commerce/ui, and their entries in the Airflow navigation (wiring only: the app is
gocardless_commerce.api, the pages gocardless_commerce.api.ui)."""

from airflow.plugins_manager import AirflowPlugin

from gocardless_commerce.api.app import LazyApp
from gocardless_commerce.api.ui import MOUNT_POINT, NAV_VIEWS


class CommerceApiPlugin(AirflowPlugin):
    name = "gocardless_commerce_api"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": MOUNT_POINT, "name": "GoCardless Commerce API"}]
    external_views = NAV_VIEWS

"""The package as an Airflow provider (entry point ``apache_airflow_provider`` in pyproject.toml):
it registers the ``gocardless`` connection type, so the connection form shows GoCardlessHook's
fields (client id, client secret, is_sandbox, base_url) and its Test button.

Kept free of imports: every Airflow process reads provider info when it discovers providers.
"""

from __future__ import annotations

HOOK_CLASS = "gocardless_commerce.orchestration.hook.GoCardlessHook"
#: The connection form's standard fields: what is hidden, renamed, and shown as a hint.
UI_FIELD_BEHAVIOUR = {
    "hidden-fields": ["schema", "port", "host"],
    "relabeling": {"login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "login": "OAuth app client id",
        "password": "OAuth app client secret",
        "extra": '{"is_sandbox": true, "base_url": "http://127.0.0.1:4010"}',
    },
}


def get_provider_info() -> dict:
    return {
        "package-name": "gocardless-commerce",
        "name": "GoCardless commerce",
        "description": "GoCardless partner app and merchant connections of the commerce pipeline.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "hook-class-name": HOOK_CLASS,
                "hook-name": "GoCardless",
                "connection-type": "gocardless",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": {
                    "is_sandbox": {"label": "Sandbox", "schema": {"type": ["boolean", "null"], "default": True}},
                    "base_url": {"label": "Base URL (API and OAuth host other than GoCardless's)",
                                 "schema": {"type": ["string", "null"]}},
                },
            }
        ],
    }

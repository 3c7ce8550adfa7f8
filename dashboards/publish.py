"""`fjsense dashboards publish`: push dashboards through Grafana's HTTP API, idempotent by uid."""

from __future__ import annotations

from grafana_client import GrafanaApi, TokenAuth

from dashboards.build import all_dashboards
from fjsense.settings import Settings

FOLDER_UID = "fjsense"


def publish(url: str, token: str, settings: Settings) -> list[tuple[str, str]]:
    """Create the folder if needed, then create or overwrite each dashboard by its uid."""
    api = GrafanaApi.from_url(url, credential=TokenAuth(token))
    try:
        api.folder.get_folder(FOLDER_UID)
    except Exception:  # noqa: BLE001 - grafana-client raises a family of HTTP errors
        api.folder.create_folder("fjsense", uid=FOLDER_UID)
    results = []
    for dashboard in all_dashboards(settings):
        answer = api.dashboard.update_dashboard({
            "dashboard": dashboard.to_json(), "folderUid": FOLDER_UID, "overwrite": True,
            "message": "published by fjsense",
        })
        results.append((dashboard.uid, str(answer.get("status", answer))))
    return results

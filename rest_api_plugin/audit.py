"""State-changing calls go to Airflow's audit log (Browse -> Audit Logs)."""

from __future__ import annotations

import json
import logging

from rest_api_plugin.airflow_compat import LOG_DATE_KEYWORD

log = logging.getLogger(__name__)

EVENT_PREFIX = "rest_api_plugin."


def record(endpoint, identity, args: dict, shown_arguments: dict, status: int, ignored=()) -> None:
    """One audit-log row; ``ignored`` names the unknown arguments the call carried and the plugin ignored."""
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    extra = {"arguments": shown_arguments, "http_response_code": status}
    if ignored:
        extra["ignored_arguments"] = list(ignored)
    with create_session() as session:
        session.add(
            Log(
                event=f"{EVENT_PREFIX}{endpoint.name}",
                owner=identity.name,
                owner_display_name=identity.name,
                extra=json.dumps(extra, default=str),
                dag_id=args.get("dag_id"),
                task_id=args.get("task_id"),
                run_id=args.get("run_id"),
                # Airflow 3 renamed the column, and drops a keyword it does not know without a word
                **{LOG_DATE_KEYWORD: args.get("logical_date")},
            )
        )

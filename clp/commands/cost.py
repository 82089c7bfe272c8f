"""``clp cost``: sessions, inference-unit hours and estimated dollars, from the session ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from clp import queries
from clp.deployment import StackContext
from clp.handling import handle_errors
from clp.options import JsonOption, ModelOption, RegionOption, StackOption
from clp.render import out, print_json, table

SinceOption = Annotated[
    datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="Sessions started on or after this date.")
]


def cost_summary(sessions_by_model: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name, sessions in sessions_by_model.items():
        iu_seconds = sum(float(s.get("inference_unit_seconds", 0)) for s in sessions)
        rows.append(
            {
                "model": name,
                "sessions": len(sessions),
                "inference_unit_hours": round(iu_seconds / 3600, 4),
                "estimated_cost_usd": round(sum(float(s.get("estimated_cost_usd", 0)) for s in sessions), 4),
            }
        )
    return {
        "models": rows,
        "total": {
            "sessions": sum(r["sessions"] for r in rows),
            "inference_unit_hours": round(sum(r["inference_unit_hours"] for r in rows), 4),
            "estimated_cost_usd": round(sum(r["estimated_cost_usd"] for r in rows), 4),
        },
    }


def collect(context: StackContext, model: str | None, since: datetime | None) -> dict[str, Any]:
    ddb, table_name = context.clients("dynamodb"), context.deployment.control_table
    day = since.date() if since else None
    return cost_summary(
        {m.name: queries.sessions_since(ddb, table_name, m.name, day) for m in context.deployment.select(model)}
    )


def _cells(name: str, row: dict[str, Any]) -> tuple[str, str, str, str]:
    return name, str(row["sessions"]), f"{row['inference_unit_hours']:.3f}", f"{row['estimated_cost_usd']:.2f}"


def render_summary(summary: dict[str, Any], since: datetime | None) -> None:
    shown = table(
        "model", "sessions", "IU-hours", "estimated $", title=f"since {since:%Y-%m-%d}" if since else "all sessions"
    )
    for row in summary["models"]:
        shown.add_row(*_cells(row["model"], row))
    shown.add_row(*_cells("[bold]total[/]", summary["total"]))
    out.print(shown)


@handle_errors
def cost_command(
    since: SinceOption = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Sessions, inference-unit hours and estimated dollars, from the session ledger (the controller's estimate)."""
    summary = collect(StackContext(stack, region), model, since)
    if as_json:
        print_json({"since": since.date().isoformat() if since else None, **summary})
        return
    render_summary(summary, since)

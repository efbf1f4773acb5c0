"""`payjourney schedule` (what goes out when: letters to print, the call list) and
`payjourney record payment|promise|dispute` (what a debtor did)."""

from __future__ import annotations

import csv
import datetime as dt
import sys
import uuid
from collections import Counter
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.cli.context import cli_context, now_option, rules_zone
from engine.cli.store_access import open_store
from engine.cli.summaries import ageing_table, euros, persona_table
from engine.decision import timing

CSV_COLUMNS = (
    "send_at",
    "customer_id",
    "name",
    "persona",
    "step",
    "steps",
    "action",
    "channel",
    "template",
    "locale",
    "tone",
    "amount",
    "currency",
    "email",
    "phone",
    "address",
)


WhenOption = Annotated[
    str | None,
    typer.Option(
        "--date", help="When it happened (ISO 8601 or a date; default: now).", show_default=False
    ),
]
EventIdOption = Annotated[
    str | None,
    typer.Option("--id", help="Event id; recording the same id twice stores it once."),
]


def _day(text: str, zone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar day in `zone`; `today` and `tomorrow` work too."""
    from engine.store.cells import CellError, date

    today = dt.datetime.now(timing.zone(zone)).date()
    named = {"today": today, "tomorrow": today + dt.timedelta(days=1)}
    try:
        day = named.get(text.lower()) or dt.date.fromisoformat(date(text))
    except CellError as exc:
        raise typer.BadParameter(f"{exc}; or write today / tomorrow", param_hint="--date") from exc
    tz = timing.zone(zone)
    start = timing.local_time(day, dt.time(0), tz)
    return start, timing.local_time(day + dt.timedelta(days=1), dt.time(0), tz)


def register(app: typer.Typer) -> None:
    """Add `schedule` and `record` to the app."""

    @app.command()
    def schedule(
        ctx: typer.Context,
        date: Annotated[
            str | None,
            typer.Option(
                "--date", help="Only this day (YYYY-MM-DD, today, tomorrow; in the rules' zone)."
            ),
        ] = None,
        channel: Annotated[
            str | None,
            typer.Option(
                "--channel",
                help="Only this channel: letter = the letters to print, phone = the call list"
                " (with hand-offs).",
            ),
        ] = None,
        as_csv: Annotated[
            bool, typer.Option("--csv", help="Rows as CSV on stdout (for Excel or a mail merge).")
        ] = False,
    ) -> None:
        """What goes out when: the planned steps (run `payjourney plan` first), with totals in
        EUR by persona and by age."""
        from engine.rules.facts import CHANNELS
        from engine.store.schedule import ageing, scheduled

        if channel is not None and channel not in CHANNELS:
            raise typer.BadParameter(
                f"unknown channel '{channel}'; use one of {', '.join(CHANNELS)}",
                param_hint="--channel",
            )
        zone = rules_zone(cli_context(ctx).rules_dir)
        start, end = _day(date, zone) if date else (None, None)
        with open_store(cli_context(ctx).db_url) as engine:
            items = scheduled(engine, start=start, end=end, channel=channel)
            if as_csv:
                _write_csv(items, zone)
                return
            as_of = max(start or dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC))
            buckets = ageing(engine, sorted({i.customer_id for i in items}), as_of)
        console = Console(highlight=False)
        console.width = max(console.width, 120)
        what = f"on {start.date()}" if start else "(every planned step)"
        title = f"Schedule {what}" + (f", channel {channel}" if channel else "")
        if not items:
            console.print(
                f"{title}: nothing planned. Run `payjourney plan` to plan every debtor's next"
                " step" + (", or try another --date or --channel" if date or channel else ""),
                markup=False,
            )
            return
        console.print(_table(title, items, zone))
        debtors: Counter[str] = Counter()
        open_eur: dict[str, Decimal] = {}
        by_age: Counter[str] = Counter()
        age_eur: dict[str, Decimal] = {}
        for item in items:
            debtors[item.persona] += 1
            by_age[buckets.get(item.customer_id, "not due")] += 1
            if item.amount is not None and item.currency == "EUR":
                open_eur[item.persona] = open_eur.get(item.persona, Decimal(0)) + item.amount
                bucket = buckets.get(item.customer_id, "not due")
                age_eur[bucket] = age_eur.get(bucket, Decimal(0)) + item.amount
        console.print(persona_table("Per persona", dict(debtors), open_eur))
        console.print(ageing_table("By age", dict(by_age), age_eur))
        console.print(f"times in {zone}; {len(items)} step(s)", markup=False)

    record_app = typer.Typer(
        help="Record what a debtor did: a payment, a promise to pay, a dispute.",
        no_args_is_help=True,
    )
    app.add_typer(record_app, name="record")

    @record_app.command("payment")
    def record_payment(
        ctx: typer.Context,
        customer: Annotated[str, typer.Argument(help="The customer's id.")],
        amount: Annotated[str, typer.Option("--amount", help="e.g. 120.00 or 120,00.")],
        invoice: Annotated[
            str | None, typer.Option("--invoice", help="The invoice paid (else: on account).")
        ] = None,
        method: Annotated[str | None, typer.Option("--method", help="e.g. bank_transfer.")] = None,
        when: WhenOption = None,
        event_id: EventIdOption = None,
    ) -> None:
        """A payment received: it lowers the open balance at once."""
        data = {"amount": _amount(amount), **({"method": method} if method else {})}
        _record(ctx, "paid", customer, data, invoice, when, event_id)

    @record_app.command("promise")
    def record_promise(
        ctx: typer.Context,
        customer: Annotated[str, typer.Argument(help="The customer's id.")],
        amount: Annotated[str, typer.Option("--amount", help="The amount promised.")],
        until: Annotated[str, typer.Option("--until", help="Pay by this date (YYYY-MM-DD).")],
        invoice: Annotated[str | None, typer.Option("--invoice", help="The invoice.")] = None,
        when: WhenOption = None,
        event_id: EventIdOption = None,
    ) -> None:
        """A promise to pay by a date: the journey pauses until then."""
        from engine.store.cells import CellError, date

        try:
            day = date(until)
        except CellError as exc:
            raise typer.BadParameter(str(exc), param_hint="--until") from exc
        _record(
            ctx,
            "promised",
            customer,
            {"amount": _amount(amount), "until": day},
            invoice,
            when,
            event_id,
        )

    @record_app.command("dispute")
    def record_dispute(
        ctx: typer.Context,
        customer: Annotated[str, typer.Argument(help="The customer's id.")],
        reason: Annotated[
            str | None, typer.Option("--reason", help="What the debtor disputes.")
        ] = None,
        invoice: Annotated[str | None, typer.Option("--invoice", help="The invoice.")] = None,
        when: WhenOption = None,
        event_id: EventIdOption = None,
    ) -> None:
        """A dispute: the journey pauses until it is resolved."""
        _record(
            ctx, "disputed", customer, {"reason": reason} if reason else {}, invoice, when, event_id
        )


def _amount(text: str) -> str:
    from engine.store.cells import CellError, amount

    try:
        value = Decimal(amount(text))
    except CellError as exc:
        raise typer.BadParameter(str(exc), param_hint="--amount") from exc
    if value <= 0:
        raise typer.BadParameter(f"'{text}' must be more than 0", param_hint="--amount")
    return str(value)


def _record(
    ctx: typer.Context,
    kind: str,
    customer: str,
    data: dict[str, Any],
    invoice: str | None,
    when: str | None,
    event_id: str | None,
) -> None:
    """Store the event through the same code as the API, then settle this one debtor's journey."""
    from engine.store.events import record_event
    from engine.store.rows import EventRow

    now = dt.datetime.now(dt.UTC)
    occurred = now_option(ctx, when) if when else now
    event = EventRow.model_validate(
        {
            "id": event_id or f"cli-{uuid.uuid4().hex[:16]}",
            "customer_id": customer,
            "kind": kind,
            "invoice_id": invoice,
            "occurred_at": occurred,
            "data": data,
        }
    )
    with open_store(cli_context(ctx).db_url) as engine:
        sheet = record_event(engine, event, now=now)
        open_amount = sheet["balance.open_amount"]
        typer.echo(
            f"recorded {kind} {event.id} for {customer}: open balance"
            f" {euros(open_amount or Decimal(0))} {sheet['balance.currency'] or 'EUR'}"
            + (
                f", promised until {sheet['journey.promised_until']}"
                if sheet["journey.promised_until"]
                else ""
            )
            + (
                f", {sheet['behaviour.open_disputes']} open dispute(s)"
                if sheet["behaviour.open_disputes"]
                else ""
            )
        )
        _replan(ctx, engine, customer, max(now, occurred), event)


def _replan(ctx: typer.Context, engine: Any, customer: str, now: dt.datetime, event: Any) -> None:
    """The debtor's journey follows at once, through the daemon's life cycle (the same code
    the API and a running daemon use): paid in full ends it, a promise pauses it and
    schedules its confirmation, a dispute pauses it, anything else is planned again."""
    from engine.cli.rules_cmds import load_compiled
    from engine.daemon.jobs import refresh_customers
    from engine.daemon.settings import PROMISE_GRACE

    rules = load_compiled(cli_context(ctx).rules_dir)
    promises = {customer: event.id} if event.type == "promised" else None
    states = refresh_customers(
        engine, rules, [customer], now, grace=PROMISE_GRACE, promises=promises
    )
    typer.echo(f"journey of {customer}: {states.get(customer) or 'none'}")


def _table(title: str, items: list[Any], zone: str) -> Table:
    tz = timing.zone(zone)
    table = Table(title=title, title_justify="left")
    for column in ("send at", "customer", "persona", "step", "action", "channel", "template"):
        table.add_column(column, overflow="fold")
    table.add_column("EUR", justify="right")
    table.add_column("to", overflow="fold")
    for i in items:
        amount = (
            euros(i.amount)
            if i.amount is not None and i.currency == "EUR"
            else (f"{i.amount} {i.currency}" if i.amount is not None else "")
        )
        table.add_row(
            i.send_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            Text(f"{i.customer_id} {i.name or ''}".strip()),
            i.persona,
            f"{i.step}/{i.steps}",
            i.action,
            i.channel or "-",
            i.template or "-",
            amount,
            Text(i.contact()),
        )
    return table


def _write_csv(items: list[Any], zone: str) -> None:
    tz = timing.zone(zone)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i in items:
        writer.writerow(
            [
                i.send_at.astimezone(tz).isoformat(),
                i.customer_id,
                i.name or "",
                i.persona,
                i.step,
                i.steps,
                i.action,
                i.channel or "",
                i.template or "",
                i.locale or "",
                i.tone or "",
                "" if i.amount is None else f"{i.amount:.2f}",
                i.currency or "",
                i.email or "",
                i.phone or "",
                i.address or "",
            ]
        )

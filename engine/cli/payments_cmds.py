"""CLI commands for payments in: import-statement FILE..., payments --unmatched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.context import cli_context, now_option
from engine.cli.store_cmds import NowOption, _store


def register(app: typer.Typer) -> None:
    """Add the payments-in commands to the app."""

    @app.command("import-statement")
    def import_statement(
        ctx: typer.Context,
        files: Annotated[
            list[Path], typer.Argument(help="CAMT.053 (.xml) or MT940 (.sta, .940) files.")
        ],
        now: NowOption = None,
    ) -> None:
        """Import bank statements: credits become payments matched to open invoices (each with
        its rule and reason), returned direct debits reopen what they undid, and what cannot be
        matched with certainty waits in `payjourney payments --unmatched`. Importing the same
        statement again changes nothing; a file with a broken entry loads nothing. The debtors
        paid are settled through the daemon's journey life cycle, with the rules of --rules."""
        from engine.banking.book import import_statements
        from engine.cli.rules_cmds import load_compiled

        rules = load_compiled(cli_context(ctx).rules_dir)
        with _store(ctx) as engine:
            report = import_statements(
                engine, files, rules=rules, now=now_option(ctx, now) if now else None
            )
        by_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(report.matched.items()))
        typer.echo(
            f"{report.entries} entr{'y' if report.entries == 1 else 'ies'},"
            f" {report.already_imported} already imported;"
            f" matched {sum(report.matched.values())} ({by_rule or 'none'});"
            f" unmatched {report.unmatched}; returns {report.returns}"
            f" ({report.returns_unlinked} not linked); other debits {report.other_debits}"
        )
        typer.echo(
            f"{report.steps_cancelled} scheduled step(s) cancelled,"
            f" {report.journeys_done} journey(s) done"
        )

    @app.command("assign-payment")
    def assign_payment(
        ctx: typer.Context,
        entry_id: Annotated[int, typer.Argument(help="The id `payments --unmatched` shows.")],
        customer_id: Annotated[str, typer.Argument(help="The customer who paid.")],
        invoice: Annotated[
            list[str] | None,
            typer.Option("--invoice", help="An invoice it pays (repeat; default: oldest first)."),
        ] = None,
        reverses: Annotated[
            int | None,
            typer.Option("--reverses", help="For a return: the credit entry it undoes."),
        ] = None,
        by: Annotated[str, typer.Option("--by", help="Who decided, for the audit.")] = "a person",
        now: NowOption = None,
    ) -> None:
        """Assign an entry of the unmatched list to the customer it belongs to. A credit is
        booked on their invoices (the rest on account) and the payer's account remembered; a
        return undoes the customer's credit it reverses (--reverses, or the one credit of the
        same amount) and reopens the invoice. Either way the debtor is settled like a matched
        payment."""
        from engine.banking.assign import assign_entry
        from engine.cli.rules_cmds import load_compiled

        rules = load_compiled(cli_context(ctx).rules_dir)
        with _store(ctx) as engine:
            done = assign_entry(
                engine,
                entry_id,
                customer_id,
                invoice or (),
                rules=rules,
                by=by,
                reverses=reverses,
                now=now_option(ctx, now) if now else None,
            )
        typer.echo(done.reason)
        typer.echo(f"journey of {customer_id}: {done.journey or 'none'}")

    @app.command("generate-statement")
    def generate_statement(
        ctx: typer.Context,
        out: Annotated[Path, typer.Argument(help="The CAMT.053 file to write.")],
        entries: Annotated[int, typer.Option("--entries", min=1, help="How many lines.")] = 100,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same statement.")] = 1,
        today: Annotated[
            str | None, typer.Option("--today", help="Booking date (YYYY-MM-DD).")
        ] = None,
    ) -> None:
        """Write a CAMT.053 statement paying the stored portfolio's open invoices the ways
        payers do (RF reference, invoice number in the text, direct debit, known account,
        partial, unplaceable): to try `import-statement` and the matching rules."""
        import datetime as dt

        from engine.banking.book import known_payers, open_invoices
        from engine.banking.generate import statement_entries, write_camt053

        day = dt.date.fromisoformat(today) if today else dt.date.today()
        with _store(ctx) as engine, engine.connect() as conn:
            invoices = open_invoices(conn)
            payers = {c: iban for iban, cids in known_payers(conn).items() for c in cids}
        if not invoices:
            typer.echo("no open invoices to pay; load or generate a portfolio first", err=True)
            raise typer.Exit(1)
        statement_id = f"GEN-{day.isoformat()}-{seed}"
        drawn = statement_entries(
            sorted(invoices, key=lambda i: i.id),
            payers,
            count=entries,
            seed=seed,
            booked_on=day,
            statement_id=statement_id,
        )
        out.write_bytes(
            write_camt053(
                [e for _, e in drawn], statement_id=statement_id, account_iban="NL91ABNA0417164300"
            )
        )
        typer.echo(f"wrote {len(drawn)} entries to {out}")

    @app.command("payments")
    def payments(
        ctx: typer.Context,
        unmatched: Annotated[
            bool, typer.Option("--unmatched", help="Entries a person must assign.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    ) -> None:
        """Statement entries and what became of them; with --unmatched, what a person must
        assign (the account holder's name from the statement beside each line)."""
        from engine.banking.listing import statement_entries

        with _store(ctx) as engine:
            rows = statement_entries(engine, unmatched_only=unmatched)
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row, ensure_ascii=False, default=str))
            return
        table = Table(
            title="Unmatched statement entries" if unmatched else "Statement entries",
            title_justify="left",
        )
        for column in ("id", "booked", "amount", "account holder", "IBAN", "text", "status", "why"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                str(row["id"]),
                str(row["booked_on"]),
                f"{row['amount']} {row['currency']}",
                row["payer_name"] or "—",
                row["payer_iban"] or "—",
                (row["remittance"] or "").replace("\n", " ")[:60],
                row["status"],
                row["reason"] or "",
            )
        Console(width=200).print(table)
        if not rows and unmatched:
            typer.echo("nothing to assign")

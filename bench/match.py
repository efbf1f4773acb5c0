"""Bench matching: 100,000 statement entries against 300,000 open invoices.

    .venv/bin/python bench/match.py                    # 100k entries, 300k invoices
    .venv/bin/python bench/match.py --entries 20000 --invoices 60000

Builds a generated portfolio in memory (100,000 debtors with three open invoices each, NL and DE
invoice numbers, each debtor's account known), generates the entries payers make
(engine.banking.generate), writes them as one CAMT.053 file and reads it back, then matches.
Prints entries/s for reading and matching, and the share of entries matched per rule, against
the share each payer style was drawn with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.banking.camt053 import read_camt053  # noqa: E402
from engine.banking.generate import statement_entries, write_camt053  # noqa: E402
from engine.banking.match import Matcher, OpenInvoice  # noqa: E402
from engine.store.generate import debtor_iban  # noqa: E402

TODAY = dt.date(2026, 11, 23)


def portfolio(invoices: int, seed: int) -> tuple[list[OpenInvoice], dict[str, str]]:
    rng = random.Random(seed)
    debtors = max(1, invoices // 3)
    out = []
    for k in range(invoices):
        number = k % debtors + 1
        cid = f"C-{number:06d}"
        country = "NL" if number % 5 < 3 else "DE"
        year = 2026 if k % 4 else 2025
        out.append(
            OpenInvoice(
                id=f"I-{k + 1:07d}",
                customer_id=cid,
                number=f"{year}-{k + 1:06d}" if country == "NL" else f"RE-{year}-{k + 1:06d}",
                open_amount=Decimal(rng.randint(1500, 250000)) / 100,
                currency="EUR",
                due_date=TODAY - dt.timedelta(days=rng.randint(-20, 90)),
            )
        )
    payers = {
        f"C-{n:06d}": debtor_iban("NL" if n % 5 < 3 else "DE", n) for n in range(1, debtors + 1)
    }
    return out, payers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    invoices, payers = portfolio(args.invoices, args.seed)
    drawn = statement_entries(invoices, payers, count=args.entries, seed=args.seed, booked_on=TODAY)
    styles = Counter(style for style, _ in drawn)
    entries = [entry for _, entry in drawn]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "statement.xml"
        path.write_bytes(
            write_camt053(entries, statement_id="GEN-STMT-1", account_iban="NL91ABNA0417164300")
        )
        size = path.stat().st_size
        started, cpu = time.perf_counter(), time.process_time()
        read = read_camt053(path)
        read_s, read_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(read) == len(entries)

    started, cpu = time.perf_counter(), time.process_time()
    matcher = Matcher(invoices, {iban: {cid} for cid, iban in payers.items()})
    index_s, index_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    results = [matcher.match(entry) for entry in read]
    match_s, match_cpu = time.perf_counter() - started, time.process_time() - cpu

    rules = Counter(m.rule or "unmatched" for m in results)
    split = sum(1 for m in results if sum(1 for a in m.allocations if a.invoice_id) > 1)
    on_account = sum(1 for m in results if m.matched and m.on_account > 0)
    n = len(results)
    print(f"{n:,} entries against {len(invoices):,} open invoices ({len(payers):,} payers)")
    # wall and CPU time both: on a shared machine the CPU figure is the one that repeats
    print(
        f"read CAMT.053 ({size / 1e6:.0f} MB): {read_s:.1f} s wall, {read_cpu:.1f} s CPU,"
        f" {n / read_cpu:,.0f} entries/s (CPU)"
    )
    print(f"index open invoices: {index_s:.1f} s wall, {index_cpu:.1f} s CPU")
    print(
        f"match: {match_s:.1f} s wall, {match_cpu:.1f} s CPU,"
        f" {n / match_cpu:,.0f} entries/s (CPU), {n / match_s:,.0f} entries/s (wall)"
    )
    print("\nmatched per rule (share of entries):")
    for rule in (
        "rf_reference",
        "end_to_end_id",
        "invoice_number",
        "payer_iban_amount",
        "unmatched",
    ):
        print(f"  {rule:<18} {rules[rule] / n:6.1%}")
    print(
        f"  split over several invoices {split / n:.1%}, with credit on account {on_account / n:.1%}"
    )
    print("\npayer styles drawn:")
    for style, count in styles.most_common():
        print(f"  {style:<18} {count / n:6.1%}")


if __name__ == "__main__":
    main()

"""Matching statement entries to open invoices, most certain rule first, each with its reason.

Pure: no database, no clock. A `Matcher` is built from the open invoices and the payer accounts
known per customer; `match(entry)` books the entry against what is still open (so two entries
never pay the same euro twice) and says which rule matched and why, or why nothing did.

Rules, in order:
1. `rf_reference`: a structured ISO 11649 creditor reference (checksum verified; also found in
   the free text) that we printed for one invoice or one customer.
2. `end_to_end_id`: the end-to-end id we issued (our invoice id or RF reference).
3. `invoice_number`: open invoice numbers in the remittance text, tolerant of spaces, prefixes
   (`RE-`, `Nr.`, `INV`) and line breaks, all of one customer.
4. `payer_iban_amount`: the payer's IBAN is known for exactly one customer, and the amount equals
   one open invoice of theirs or the sum of exactly one set of them.
Anything else is unmatched, never guessed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from engine.banking.entry import StatementEntry
from engine.messages.iban import mod97
from engine.messages.payments.options import payment_reference

#: The rules in the order they are tried; a match names one of them.
RULES = ("rf_reference", "end_to_end_id", "invoice_number", "payer_iban_amount")
#: Up to this many open invoices of one payer, every subset's sum is tried; above, one or all.
SUBSET_LIMIT = 12
#: A number of digits only is looked for in free text from this length on.
MIN_DIGITS = 5
_ZERO = Decimal(0)
_TOKEN = re.compile(r"[A-Z0-9]+")
_RF_IN_TEXT = re.compile(r"RF[0-9]{2}")
_LEADING_LETTERS = re.compile(r"^[A-Z]+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def compact(text: str) -> str:
    """Letters and digits only, upper case: the form references and numbers are compared in."""
    return _NOT_ALNUM.sub("", text.upper())


def _distinctive(key: str) -> bool:
    """Whether a compact invoice number is safe to look for in free text: it has a digit, and
    if it is digits only, at least MIN_DIGITS of them (so an amount like 1001,00 is no match)."""
    if not any(c.isdigit() for c in key):
        return False
    return len(key) >= (MIN_DIGITS if key.isdigit() else 4)


def valid_rf(text: str) -> bool:
    """Whether a compact text is an ISO 11649 creditor reference with correct check digits."""
    return (
        5 <= len(text) <= 25
        and text.startswith("RF")
        and text[2:4].isdigit()
        and text[4:].isalnum()
        and mod97(text[4:] + text[:4]) == 1
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenInvoice:
    """An invoice with something still to pay."""

    id: str
    customer_id: str
    number: str | None
    open_amount: Decimal
    currency: str
    due_date: dt.date


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """Part of an entry booked on one invoice, or (invoice_id None) as credit on account."""

    invoice_id: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """What became of one entry: the rule and customer, how it was split, and why."""

    entry: StatementEntry
    rule: str | None  # None: unmatched
    reason: str
    customer_id: str | None = None
    allocations: tuple[Allocation, ...] = ()

    @property
    def matched(self) -> bool:
        return self.rule is not None

    @property
    def on_account(self) -> Decimal:
        return sum((a.amount for a in self.allocations if a.invoice_id is None), _ZERO)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookedCredit:
    """An earlier matched credit a returned collection may undo."""

    key: str  # the stored entry's identity
    customer_id: str
    amount: Decimal
    payer_iban: str | None
    end_to_end_id: str | None


def link_return(entry: StatementEntry, credits: Sequence[BookedCredit]) -> BookedCredit | None:
    """The one earlier credit a returned collection undoes: the same end-to-end id, else the one
    credit of that amount from that account. None when it is not certain."""
    if entry.end_to_end_id:
        same = [c for c in credits if c.end_to_end_id == entry.end_to_end_id]
        if len(same) == 1:
            return same[0]
    if entry.payer_iban:
        same = [c for c in credits if c.payer_iban == entry.payer_iban and c.amount == entry.amount]
        if len(same) == 1:
            return same[0]
    return None


class Matcher:
    """Matches entries against open invoices; keeps what each match leaves open."""

    def __init__(
        self, invoices: Iterable[OpenInvoice], payers: Mapping[str, Collection[str]]
    ) -> None:
        self._invoices: dict[str, OpenInvoice] = {}
        self._open: dict[str, Decimal] = {}
        by_customer: dict[str, list[OpenInvoice]] = defaultdict(list)
        # RF references are looked up by their body (our id, compact), not computed for every
        # invoice; only ids too long for an RF body are hashed ahead (payment_reference)
        self._long_ids: dict[str, tuple[str, str]] = {}
        self._by_number: dict[str, set[str]] = defaultdict(set)
        self._by_bare_number: dict[str, set[str]] = defaultdict(set)
        self._by_id: dict[str, str] = {}
        for invoice in invoices:
            if invoice.open_amount <= 0:
                continue
            self._invoices[invoice.id] = invoice
            self._open[invoice.id] = invoice.open_amount
            by_customer[invoice.customer_id].append(invoice)
            self._by_id[compact(invoice.id)] = invoice.id
            if len(compact(invoice.id)) > 21:
                self._long_ids[payment_reference(None, [invoice.id])] = ("invoice", invoice.id)
            for number in {invoice.number or invoice.id, invoice.id}:
                key = compact(number)
                if _distinctive(key):
                    self._by_number[key].add(invoice.id)
                    bare = _LEADING_LETTERS.sub("", key)
                    if bare != key and _distinctive(bare):
                        self._by_bare_number[bare].add(invoice.id)
        self._by_customer = {
            cid: tuple(i.id for i in sorted(items, key=lambda i: (i.due_date, i.id)))
            for cid, items in by_customer.items()
        }
        self._customers = {compact(cid): cid for cid in self._by_customer}
        for cid in self._by_customer:
            if len(compact(cid)) > 21:
                self._long_ids.setdefault(payment_reference(cid), ("customer", cid))
        self._payers = {iban: frozenset(cids) for iban, cids in payers.items()}

    def reference_target(self, reference: str) -> tuple[str, str] | None:
        """("invoice", id) or ("customer", id) whose RF reference this is (compact, valid)."""
        if reference in self._long_ids:
            return self._long_ids[reference]
        body = reference[4:]
        invoice_id = self._by_id.get(body)
        if invoice_id is not None and payment_reference(None, [invoice_id]) == reference:
            return ("invoice", invoice_id)
        customer_id = self._customers.get(body)
        if customer_id is not None and payment_reference(customer_id) == reference:
            return ("customer", customer_id)
        return None

    def open_amount(self, invoice_id: str) -> Decimal:
        """What is still open on an invoice after the entries matched so far."""
        return self._open.get(invoice_id, _ZERO)

    # --- the rules ----------------------------------------------------------------------

    def match(self, entry: StatementEntry) -> Match:
        """Match one credit (other directions are not matched here: see `link_return`)."""
        if entry.direction != "credit":
            return Match(entry=entry, rule=None, reason=f"a {entry.direction}, not a payment")
        notes: list[str] = []
        for rule in (self._rf, self._end_to_end, self._numbers, self._payer):
            found = rule(entry, notes)
            if found is not None:
                return found
        reason = "; ".join(notes) if notes else "no reference, no invoice number, unknown payer"
        return Match(entry=entry, rule=None, reason=reason)

    def _rf(self, entry: StatementEntry, notes: list[str]) -> Match | None:
        candidates: list[str] = []
        if entry.creditor_reference:
            candidates.append(compact(entry.creditor_reference))
        text = compact(entry.remittance)
        for found in _RF_IN_TEXT.finditer(text):
            tail = text[found.start() : found.start() + 25]
            candidates.extend(tail[:n] for n in range(len(tail), 4, -1))
        for reference in dict.fromkeys(candidates):
            if not valid_rf(reference):
                continue
            target = self.reference_target(reference)
            if target is None:
                if reference == candidates[0] or entry.creditor_reference is None:
                    notes.append(f"RF reference {reference} names no open invoice or customer")
                continue
            kind, key = target
            return self._book(entry, "rf_reference", f"RF reference {reference}", kind, key)
        if entry.creditor_reference and not valid_rf(compact(entry.creditor_reference)):
            notes.append(f"creditor reference {entry.creditor_reference!r} fails its checksum")
        return None

    def _end_to_end(self, entry: StatementEntry, notes: list[str]) -> Match | None:
        if not entry.end_to_end_id:
            return None
        key = compact(entry.end_to_end_id)
        if key in self._by_id:
            why = f"end-to-end id {entry.end_to_end_id}"
            return self._book(entry, "end_to_end_id", why, "invoice", self._by_id[key])
        target = self.reference_target(key) if valid_rf(key) else None
        if target is not None:
            why = f"end-to-end id {entry.end_to_end_id}"
            return self._book(entry, "end_to_end_id", why, *target)
        return None

    def _numbers(self, entry: StatementEntry, notes: list[str]) -> Match | None:
        found = self.invoices_named_in(entry.remittance)
        found = [i for i in found if self._open[i] > 0]
        if not found:
            return None
        customers = {self._invoices[i].customer_id for i in found}
        if len(customers) > 1:
            notes.append(
                "the text names invoices of several customers: " + ", ".join(sorted(customers))
            )
            return None
        numbers = ", ".join(self._invoices[i].number or i for i in found)
        why = f"invoice number{'s' if len(found) > 1 else ''} {numbers} in the text"
        return self._allocate(entry, "invoice_number", why, customers.pop(), found)

    def _payer(self, entry: StatementEntry, notes: list[str]) -> Match | None:
        if not entry.payer_iban:
            return None
        customers = self._payers.get(entry.payer_iban, frozenset())
        if len(customers) > 1:
            notes.append(
                f"account {entry.payer_iban} is known for several customers: "
                + ", ".join(sorted(customers))
            )
            return None
        if not customers:
            return None
        (customer,) = customers
        open_ids = [
            i
            for i in self._by_customer.get(customer, ())
            if self._open[i] > 0 and self._invoices[i].currency == entry.currency
        ]
        fit = _exact_fit(entry.amount, [(i, self._open[i]) for i in open_ids])
        if fit is None:
            notes.append(
                f"account {entry.payer_iban} is customer {customer}'s, but {entry.amount}"
                " equals no open invoice nor one set of them"
            )
            return None
        why = f"account {entry.payer_iban} of {customer}, amount equals " + (
            f"invoice {fit[0]}" if len(fit) == 1 else f"the sum of {', '.join(fit)}"
        )
        return self._allocate(entry, "payer_iban_amount", why, customer, fit)

    def assign(
        self, entry: StatementEntry, customer_id: str, invoice_ids: Sequence[str] = (), *, by: str
    ) -> Match:
        """A person's decision for an unmatched entry: it pays these invoices of the customer
        (default: all their open invoices, oldest first); what is left is credit on account."""
        targets = list(invoice_ids) or list(self._by_customer.get(customer_id, ()))
        foreign = [
            i
            for i in targets
            if i not in self._invoices or self._invoices[i].customer_id != customer_id
        ]
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} is no open invoice of {customer_id}; leave --invoice out"
                " to pay their open invoices oldest first, or book it on account"
            )
        return self._allocate(entry, "manual", f"assigned by {by}", customer_id, targets)

    # --- booking ------------------------------------------------------------------------

    def invoices_named_in(self, text: str) -> list[str]:
        """Open invoices whose number appears in the text, whole, in due-date order."""
        tokens = _TOKEN.findall(text.upper())
        found: dict[str, None] = {}
        for start in range(len(tokens)):
            joined = ""
            for token in tokens[start : start + 4]:
                joined += token
                hits = self._by_number.get(joined)
                if not hits:
                    hits = self._by_bare_number.get(_LEADING_LETTERS.sub("", joined) or joined)
                if hits and len(hits) == 1:
                    found.update(dict.fromkeys(hits))
        return sorted(found, key=lambda i: (self._invoices[i].due_date, i))

    def _book(self, entry: StatementEntry, rule: str, why: str, kind: str, key: str) -> Match:
        if kind == "invoice":
            invoice = self._invoices[key]
            return self._allocate(entry, rule, why, invoice.customer_id, [key])
        return self._allocate(entry, rule, why, key, list(self._by_customer.get(key, ())))

    def _allocate(
        self, entry: StatementEntry, rule: str, why: str, customer: str, invoices: Sequence[str]
    ) -> Match:
        rest = entry.amount
        allocations: list[Allocation] = []
        left_open: list[str] = []
        for invoice_id in invoices:
            if self._invoices[invoice_id].currency != entry.currency:
                continue
            take = min(rest, self._open[invoice_id])
            if take > 0:
                allocations.append(Allocation(invoice_id=invoice_id, amount=take))
                self._open[invoice_id] -= take
                rest -= take
            if self._open[invoice_id] > 0 and take > 0:
                left_open.append(f"{self._open[invoice_id]} left open on {invoice_id}")
        if rest > 0:
            allocations.append(Allocation(invoice_id=None, amount=rest))
        parts = [why]
        paid = [a for a in allocations if a.invoice_id]
        if len(paid) > 1:
            parts.append(f"split over {len(paid)} invoices")
        parts.extend(f"partial: {text}" for text in left_open)
        if rest > 0:
            parts.append(f"overpaid: {rest} kept as credit on account")
        return Match(
            entry=entry,
            rule=rule,
            reason="; ".join(parts),
            customer_id=customer,
            allocations=tuple(allocations),
        )


def _exact_fit(amount: Decimal, open_: Sequence[tuple[str, Decimal]]) -> list[str] | None:
    """The invoices whose open amounts add up to `amount`: the oldest single one that equals it,
    else the only subset that does. None when none or several subsets fit."""
    singles = [i for i, value in open_ if value == amount]
    if singles:
        return singles[:1]
    if sum((value for _, value in open_), _ZERO) == amount and len(open_) > 1:
        if len(open_) > SUBSET_LIMIT:
            return [i for i, _ in open_]
    elif len(open_) > SUBSET_LIMIT:
        return None
    fits: list[list[str]] = []
    for size in range(2, len(open_) + 1):
        for combo in itertools.combinations(open_, size):
            if sum((value for _, value in combo), _ZERO) == amount:
                fits.append([i for i, _ in combo])
                if len(fits) > 1:
                    return None
    return fits[0] if fits else None

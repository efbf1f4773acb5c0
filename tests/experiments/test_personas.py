"""Personas from the data on a generated portfolio: suggestions recover the hidden behaviour
types and validate as rules; cards match the store; drift counts the debtors that moved."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import Engine, func, select

from engine.decision.decide import decide
from engine.personas.cards import card_html, cards, classify_all, drift
from engine.personas.suggest import suggest
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulebook import validate_dir
from engine.rules.rulespec import load_rules
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.generate import GeneratedPortfolio, generate
from engine.store.migrate import upgrade
from engine.store.planner import plan
from tests.conftest import ROOT

TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
#: The adjusted Rand index `personas suggest` must reach against the generator's hidden types.
ARI_FLOOR = 0.6


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, GeneratedPortfolio]:
    path = tmp_path_factory.mktemp("personas") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    made = generate(engine, debtors=1500, seed=3, today=TODAY)
    yield engine, made
    engine.dispose()


@functools.cache
def default_rules() -> CompiledRules:
    return compile_rules(load_rules(ROOT / "rules"))


def test_suggested_personas_recover_the_hidden_behaviour_types_and_validate(
    portfolio: tuple[Engine, GeneratedPortfolio], tmp_path: Path
) -> None:
    engine, made = portfolio
    rules = default_rules()
    sheets, _ = classify_all(engine, rules, NOW)
    found = suggest(sheets, rules, max_personas=6)
    ids = sorted(found.assignment)
    ari = adjusted_rand_score(
        [made.behaviour_types[i] for i in ids], [found.assignment[i] for i in ids]
    )
    print(f"adjusted Rand index against the hidden types: {ari:.3f}")
    assert ari >= ARI_FLOOR
    assert 2 <= len(found.personas) <= 6
    assert sum(p.debtors for p in found.personas) == len(sheets)
    # the YAML, as printed, next to the other rule files, passes validation with the templates
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("channels.yaml", "payment_options.yaml", "settings.yaml"):
        shutil.copy(ROOT / "rules" / name, folder / name)
    (folder / "personas.yaml").write_text(found.yaml, encoding="utf-8")
    from engine.messages.render import template_checks

    spec, problems = validate_dir(folder, template_checks(ROOT / "templates"))
    assert spec is not None, "\n".join(map(str, problems))
    # and the rules put every debtor where the suggestion's figures say
    suggested = compile_rules(spec)
    for sheet in sheets:
        assert suggested.classify(sheet.values).persona.id == found.assignment[sheet["customer.id"]]


def test_too_few_debtors_is_a_clear_error(portfolio: tuple[Engine, GeneratedPortfolio]) -> None:
    engine, _ = portfolio
    sheets, _ = classify_all(engine, default_rules(), NOW)
    with pytest.raises(ValueError, match="too few to suggest 6 personas"):
        suggest(sheets[:20], default_rules(), max_personas=6)


def _open_by_customer(engine: Engine) -> dict[str, Decimal]:
    """Open amount per customer straight from invoices and payments (no credit notes here)."""
    i, p = t.Invoice.__table__, t.Payment.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        billed = conn.execute(select(i.c.id, i.c.customer_id, i.c.amount)).all()
        paid = dict(
            conn.execute(
                select(p.c.invoice_id, func.sum(p.c.amount)).group_by(p.c.invoice_id)
            ).all()
        )
    out: dict[str, Decimal] = {}
    for invoice_id, customer_id, amount in billed:
        rest = Decimal(str(amount)) - Decimal(str(paid.get(invoice_id) or 0))
        if rest > 0:
            out[customer_id] = out.get(customer_id, Decimal(0)) + rest
    return out


def test_a_cards_figures_match_the_store(portfolio: tuple[Engine, GeneratedPortfolio]) -> None:
    """Debtors, euros open, countries, kinds and the typical payer role, checked against the
    customer, contact, invoice and payment tables directly."""
    engine, _ = portfolio
    rules = default_rules()
    found = cards(engine, rules, NOW)
    assert [c.id for c in found] == [p.id for p in rules.spec.personas]
    open_amounts = _open_by_customer(engine)
    c_t, k_t = t.Customer.__table__, t.Contact.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        customers = {r.id: r for r in conn.execute(select(c_t))}
        roles = {r.customer_id: r.role for r in conn.execute(select(k_t))}
    assert sum(c.debtors for c in found) == len(customers)
    for c in found:
        members = set(c.members)
        assert c.debtors == len(members)
        assert c.open_eur == sum((open_amounts.get(m, Decimal(0)) for m in members), Decimal(0))
        assert c.open_debtors == sum(1 for m in members if open_amounts.get(m, 0) > 0)
        assert dict(c.countries) == dict(Counter(customers[m].country for m in members))
        assert dict(c.kinds) == dict(Counter(customers[m].kind for m in members))
        if members:
            _, share = Counter(roles[m] for m in members).most_common(1)[0]
            assert c.payer_role is not None and c.payer_role[1] == pytest.approx(
                share / len(members)
            )
            assert Counter(roles[m] for m in members)[c.payer_role[0]] == share
        html = card_html(c)
        assert c.id in html and "<script" not in html


def test_drift_counts_the_debtors_a_rule_change_moved(
    portfolio: tuple[Engine, GeneratedPortfolio], tmp_path: Path
) -> None:
    """Plan with the default rules, then put a persona for Dutch consumers first: exactly the
    Dutch consumers the plan gave a journey move, all of them into the new persona."""
    engine, _ = portfolio
    rules = default_rules()
    plan(engine, functools.partial(decide, rules), NOW)
    assert drift(engine, rules, NOW).changed == 0
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    personas = folder / "personas.yaml"
    personas.write_text(
        personas.read_text(encoding="utf-8").replace(
            "personas:\n",
            "personas:\n  - id: dutch-consumers\n"
            '    when: customer.kind == "consumer" and customer.country == "NL"\n',
            1,
        ),
        encoding="utf-8",
    )
    journeys = folder / "journeys.yaml"
    journeys.write_text(
        journeys.read_text(encoding="utf-8")
        + "  - persona: dutch-consumers\n    locale: nl_NL\n    tone: jij\n    steps:\n"
        "      - {at: due + 7d, channel: email, template: reminder-1}\n",
        encoding="utf-8",
    )
    changed = compile_rules(load_rules(folder))
    j, c = t.Journey.__table__, t.Customer.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        expected = conn.execute(
            select(func.count())
            .select_from(j.join(c, c.c.id == j.c.customer_id))
            .where(c.c.kind == "consumer", c.c.country == "NL")
        ).scalar()
    moved = drift(engine, changed, NOW)
    assert expected and moved.changed == expected
    assert all(to == "dutch-consumers" for (_, to) in moved.moves)

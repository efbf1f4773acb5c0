"""The preview: a decision rendered into message, payment options and amount; the template check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.decision.model import Action, Decision, FactSheet, Money
from engine.messages.render import check_templates, render_preview
from engine.messages.sandbox import TemplateProblem
from engine.rules.rulespec import load_rules
from engine.rules.spec import RuleSpec

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
SEND_AT = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC)


def _facts(**overrides: Any) -> FactSheet:
    values: dict[str, Any] = {
        "customer.id": "C-1001",
        "customer.name": "Jansen Installatietechniek B.V.",
        "customer.kind": "business",
        "customer.country": "NL",
        "balance.open_amount": Decimal("1234.50"),
        "balance.open_invoices": 1,
        "balance.oldest_due_date": dt.date(2026, 11, 1),
    }
    values.update(overrides)
    return FactSheet.build(values)


def _decision(**overrides: Any) -> Decision:
    values: dict[str, Any] = {
        "customer_id": "C-1001",
        "action": Action.SEND,
        "reason": "test",
        "template": "reminder-1",
        "channel": "email",
        "locale": "nl_NL",
        "tone": "u",
        "send_at": SEND_AT,
        "payment_options": ("ideal", "bank_transfer"),
        "amount_due": Money(amount=Decimal("1234.50"), currency="EUR"),
    }
    values.update(overrides)
    return Decision(**values)


def test_the_preview_has_message_payment_options_and_the_formatted_amount() -> None:
    answer = render_preview(_decision(), _facts(), templates_dir=TEMPLATES)
    assert answer["amount_due"] == {
        "amount": "1234.50",
        "currency": "EUR",
        "formatted": "€ 1.234,50",
    }
    assert [o["method"] for o in answer["payment_options"]] == ["ideal", "bank_transfer"]
    ideal, bank = answer["payment_options"]
    assert ideal["url"] is None and ideal["created"] is False
    assert bank["qr"].startswith("data:image/png;base64,")
    assert bank["epc_payload"].startswith("BCD\n002\n1\nSCT\n")
    message = answer["message"]
    assert message["subject"].startswith("Betalingsherinnering: € 1.234,50")
    assert "Geachte heer, mevrouw," in message["text"]
    assert message["html"].startswith("<!DOCTYPE html>")
    assert message["pdf"] is None


def test_german_amounts_put_the_euro_sign_after() -> None:
    decision = _decision(template="zahlungserinnerung", locale="de_DE", tone="Sie")
    answer = render_preview(decision, _facts(**{"customer.country": "DE"}), templates_dir=TEMPLATES)
    assert answer["amount_due"]["formatted"] == "1.234,50 €"
    assert "Sehr geehrte Damen und Herren," in answer["message"]["text"]


def test_a_name_with_markup_is_escaped_in_html_and_kept_in_text() -> None:
    facts = _facts(**{"customer.kind": "consumer", "customer.name": "Jan <script>x</script> & Zn"})
    message = render_preview(_decision(), facts, templates_dir=TEMPLATES)["message"]
    assert "<script>" not in message["html"]
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Zn" in message["html"]
    assert "Geachte heer/mevrouw <script>x</script> & Zn," in message["text"]


def test_a_letter_comes_with_a_pdf_carrying_the_reference(tmp_path: Path) -> None:
    decision = _decision(template="wik-14-day-letter", channel="letter", tone="jij")
    facts = _facts(**{"customer.kind": "consumer", "customer.name": "Sanne Bakker"})
    answer = render_preview(
        decision,
        facts,
        templates_dir=TEMPLATES,
        pdf_dir=tmp_path,
        address=["Dorpsstraat 1", "1234 AB Ergens"],
    )
    pdf = Path(answer["message"]["pdf"])
    assert pdf.parent == tmp_path
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"/Subtype /Image" in data  # the EPC QR code
    assert answer["message"]["html"] is None


def test_the_letter_puts_the_address_in_the_din_5008_window() -> None:
    """Form B: the recipient lines sit 20-105 mm from the left, 62.7-90 mm from the top."""
    from engine.messages.creditor import Creditor
    from engine.messages.letter_pdf import LetterParts, build_letter

    pdf = build_letter(
        LetterParts(
            creditor=Creditor.example("DE"),
            recipient=["Lena Weber", "Hauptstraße 5", "80331 München"],
            date="24. November 2026",
            subject="1. Mahnung",
            body="Text",
            reference="RF34C1001",
            reference_label="Verwendungszweck",
            epc_payload=None,
            language="de",
        )
    )
    assert pdf.pages_count == 1
    pdf.compress = False
    data = bytes(pdf.output())
    mm = 72 / 25.4
    for line in (b"Lena Weber", b"80331 M\xfcnchen"):
        found = re.search(rb"BT ([\d.]+) ([\d.]+) Td \(" + line + rb"\) Tj", data)
        assert found, line
        x, y = float(found[1]) / mm, (pdf.h_pt - float(found[2])) / mm
        assert 20 <= x <= 105 and 62.7 <= y <= 90, (line, x, y)
    assert b"Verwendungszweck: RF34C1001" in data


def test_a_decision_that_sends_nothing_has_no_message() -> None:
    decision = _decision(action=Action.WAIT, template=None, channel=None)
    answer = render_preview(decision, _facts(), templates_dir=TEMPLATES)
    assert answer["message"] is None and answer["payment_options"] == []
    assert answer["amount_due"]["formatted"] == "€ 1.234,50"


def test_a_template_missing_when_a_message_is_rendered_names_the_file_to_create(
    tmp_path: Path,
) -> None:
    """A decision naming a template the folder lacks: the error says which file to create."""
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    (folder / "nl" / "reminder-1.u.j2").unlink()
    with pytest.raises(TemplateProblem, match=r"no template nl/reminder-1\.u\.j2 in .*create it"):
        render_preview(_decision(), _facts(), templates_dir=folder)


def test_a_configured_handoff_party_is_named_and_our_payment_details_left_out() -> None:
    from engine.rules.spec import Settings

    settings = Settings(extra={"legal": {"handoff_to": "Incassobureau Noord"}})
    decision = _decision(template="handoff-notice")
    message = render_preview(decision, _facts(), templates_dir=TEMPLATES, settings=settings)[
        "message"
    ]
    assert "overgedragen aan Incassobureau Noord" in message["text"]
    assert "IBAN" not in message["text"]


# --- check_templates -------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> RuleSpec:
    return load_rules(ROOT / "rules")


def test_the_default_pack_and_templates_check_clean(spec: RuleSpec) -> None:
    assert check_templates(spec, TEMPLATES) == []


def test_a_missing_template_points_at_the_step_that_names_it(
    spec: RuleSpec, tmp_path: Path
) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    (copy / "nl" / "wik-14-day-letter.jij.j2").unlink()
    problems = check_templates(spec, copy)
    assert problems, "the missing jij letter must be reported"
    first = problems[0]
    assert first.severity == "error"
    assert first.path.endswith("journeys.yaml") and first.line > 1
    assert "unknown template 'wik-14-day-letter' for nl/jij" in first.problem
    assert "reminder-1" in first.hint  # it lists the templates that do exist


def test_a_template_that_fails_to_render_is_an_error(spec: RuleSpec, tmp_path: Path) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    target = copy / "de" / "mahnung-1.Sie.j2"
    target.write_text(
        target.read_text(encoding="utf-8").replace("{{ amount }}", "{{ amonut }}", 1),
        encoding="utf-8",
    )
    problems = check_templates(spec, copy)
    assert any("'amonut' is undefined" in p.problem for p in problems)
    assert all(p.severity == "error" for p in problems)


def test_an_sms_over_its_segment_budget_is_a_warning_with_its_length(spec: RuleSpec) -> None:
    tight = dataclasses.replace(spec, channels=dataclasses.replace(spec.channels, sms_segments=1))
    problems = check_templates(tight, TEMPLATES)
    assert problems and all(p.severity == "warning" for p in problems)
    assert any("characters, 2 GSM-7 segments; the budget is 1" in p.problem for p in problems)


def test_an_absent_templates_directory_is_one_clear_error(spec: RuleSpec, tmp_path: Path) -> None:
    problems = check_templates(spec, tmp_path / "nope")
    assert len(problems) == 1 and "does not exist" in problems[0].problem


def test_a_bad_legal_setting_is_a_problem_not_a_crash(spec: RuleSpec) -> None:
    from engine.rules.spec import Settings

    bad = dataclasses.replace(spec, settings=Settings(extra={"legal": {"recieve_days": 2}}))
    problems = check_templates(bad, TEMPLATES)
    assert len(problems) == 1 and "unknown key(s) recieve_days" in problems[0].problem


def test_the_check_renders_both_the_business_and_the_consumer_branch(
    spec: RuleSpec, tmp_path: Path
) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    target = copy / "nl" / "reminder-1.u.j2"
    text = target.read_text(encoding="utf-8")
    target.write_text(
        text.replace(
            "{% block body %}\n",
            "{% block body %}\n{% if customer.is_consumer %}{{ oops }}{% endif %}",
        ),
        encoding="utf-8",
    )
    problems = check_templates(spec, copy)
    assert problems and all("consumer) fails" in p.problem for p in problems)
    assert any("'oops' is undefined" in p.problem for p in problems)


def test_a_dutch_business_is_asked_to_pay_in_one_click_not_to_sign_a_mandate() -> None:
    """Options [direct debit, iDEAL, bank transfer]: the call to action is iDEAL; the
    direct debit, collected only after its 14-day pre-notification, cannot meet the 7-day
    deadline and is left out rather than contradict it."""
    decision = _decision(payment_options=("sepa_direct_debit", "ideal", "bank_transfer"))
    answer = render_preview(decision, _facts(), templates_dir=TEMPLATES)
    text = answer["message"]["text"]
    assert "Te betalen: € 1.234,50, uiterlijk 1 december 2026" in text
    assert "Direct betalen met iDEAL | Wero" in text
    assert "incasso" not in text
    assert [o["method"] for o in answer["payment_options"]] == ["ideal", "bank_transfer"]


def test_the_deadline_and_amount_follow_the_invoices_on_the_send_date() -> None:
    """39.95 overdue and 500.00 falling due in December: the message asks for 39.95, lists the
    December invoice as not yet due, and its QR code asks for 39.95; a deadline that would fall
    on Saturday 5 December runs to Monday 7 December."""
    invoices = [
        {"id": "F-1", "amount": "39.95", "currency": "EUR", "due_date": "2026-11-01"},
        {"id": "F-2", "amount": "500.00", "currency": "EUR", "due_date": "2026-12-18"},
    ]
    saturday = dt.datetime(2026, 11, 28, 9, tzinfo=dt.UTC)
    decision = _decision(send_at=saturday, template="reminder-2")
    answer = render_preview(decision, _facts(), templates_dir=TEMPLATES, invoices=invoices)
    assert answer["amount_due"]["amount"] == "39.95"
    text = answer["message"]["text"]
    assert "Te betalen: € 39,95, uiterlijk 7 december 2026" in text
    assert text.index("factuur F-2") > text.index("Nog niet te betalen")
    bank = next(o for o in answer["payment_options"] if o["method"] == "bank_transfer")
    assert "EUR39.95" in bank["epc_payload"].split("\n")


def test_a_14_day_letter_posted_on_a_thursday_ends_its_term_on_the_next_working_day() -> None:
    """Posted Thursday 5 November 2026, received Saturday 7 November: the 14 days end on
    Saturday 21 November, so the letter names Monday 23 November (Atw art. 1)."""
    consumer = _facts(**{"customer.kind": "consumer", "customer.name": "Jan de Vries"})
    decision = _decision(
        template="wik-14-day-letter",
        channel="letter",
        send_at=dt.datetime(2026, 11, 5, 9, tzinfo=dt.UTC),
    )
    text = render_preview(decision, consumer, templates_dir=TEMPLATES)["message"]["text"]
    assert "Betaal dan uiterlijk op 23 november 2026." in text
    assert "uiterlijk 23 november 2026" in text  # the call to action names the same day
    assert "21 november" not in text


@pytest.mark.parametrize(
    ("template", "deadline"),
    [("wik-14-day-letter", "10 december 2026"), ("reminder-2", "27 november 2026")],
)
def test_a_message_names_one_deadline_even_while_a_promise_runs(
    template: str, deadline: str
) -> None:
    """Promised until 27 November: a reminder asks for that date throughout; the 14-day letter
    keeps its statutory term (never shorter), in the call to action and the text alike."""
    facts = _facts(
        **{
            "customer.kind": "consumer",
            "customer.name": "Jan de Vries",
            "journey.promised_until": dt.date(2026, 11, 27),
        }
    )
    text = render_preview(_decision(template=template), facts, templates_dir=TEMPLATES)["message"][
        "text"
    ]
    said = set(re.findall(r"uiterlijk (?:op )?(\d+ \w+ 2026)(?! (?:heeft|hebt))", text))
    assert said == {deadline}

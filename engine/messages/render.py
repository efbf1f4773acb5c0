"""Render a decision's message: its template in the debtor's language, tone and channel.

Templates live in `templates/<language>/<template>.<tone>.j2` and extend the tone file
(`_<tone>.j2`), the language file (`_base.j2`) and a channel layout (`layout/<part>`), so a
wording change is made once. Each channel has parts: email (subject, text, html), sms (text),
whatsapp (text), letter (subject, text; plus a PDF), phone (text: a call script).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateNotFound, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from engine.decision.model import Decision, FactSheet
from engine.errors import PayjourneyError, RuleProblem
from engine.messages.claim import claim_on
from engine.messages.creditor import ENV_VAR as CREDITOR_VAR
from engine.messages.creditor import Creditor, load_creditor
from engine.messages.formatting import LocaleFormat
from engine.messages.legal import LegalSettings, RateTable
from engine.messages.message_context import build_context, send_date
from engine.messages.payments.base import PaymentProvider
from engine.messages.payments.offline import NotConfiguredProvider
from engine.messages.payments.options import build_payment_options, payment_reference
from engine.messages.sandbox import (
    HTML_SUFFIX,
    MessageEnvironment,
    TemplateProblem,
    TemplateRefused,
    paragraphs,
    render_limited,
)
from engine.messages.sms import sms_segments
from engine.rules.experiments import variant_journeys
from engine.rules.facts import CHANNELS

if TYPE_CHECKING:
    from engine.rules.rulebook import SpecCheck
    from engine.rules.spec import Journey, RuleSpec, Settings, Step

#: Which parts each channel has, and the layout each part renders through.
CHANNEL_PARTS: Mapping[str, Mapping[str, str]] = {
    "email": {
        "subject": "layout/subject.txt",
        "text": "layout/email.txt",
        "html": "layout/email.html",
    },
    "sms": {"text": "layout/sms.txt"},
    "whatsapp": {"text": "layout/whatsapp.txt"},
    "letter": {"subject": "layout/subject.txt", "text": "layout/letter.txt"},
    "phone": {"text": "layout/phone.txt"},
}
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedMessage:
    """One message, ready for a channel. `html` only for email, `pdf` only for letters."""

    channel: str
    subject: str | None
    text: str
    html: str | None = None
    pdf: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "pdf": str(self.pdf) if self.pdf else None,
        }


class Renderer:
    """Renders message templates from one templates directory; reuse it, it caches."""

    def __init__(self, templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> None:
        if not templates_dir.is_dir():
            raise TemplateProblem(
                f"templates directory {templates_dir} does not exist (relative paths are read"
                f" from {Path.cwd()}); pass --templates DIR or set PAYJOURNEY_TEMPLATES"
            )
        self.root = templates_dir
        self.env = MessageEnvironment(templates_dir)
        self.env.filters["paragraphs"] = paragraphs

    def template_name(self, template: str, language: str, tone: str) -> str:
        return f"{language}/{template}.{tone}.j2"

    def exists(self, template: str, language: str, tone: str) -> bool:
        return (self.root / self.template_name(template, language, tone)).is_file()

    def render(
        self, *, template: str, language: str, tone: str, channel: str, context: Mapping[str, Any]
    ) -> RenderedMessage:
        """Render every part of `channel`; TemplateProblem says which file and what to fix."""
        if channel not in CHANNEL_PARTS:
            raise TemplateProblem(
                f"unknown channel {channel!r}; expected one of {', '.join(CHANNEL_PARTS)}"
            )
        name = self.template_name(template, language, tone)
        parts: dict[str, str] = {}
        for part, layout in CHANNEL_PARTS[channel].items():
            html = part == "html"
            load = name + (HTML_SUFFIX if html else "")
            values = {**context, "channel": channel, "part": part, "layout": layout}
            try:
                rendered = self._render_one(load, values).strip()
            except TemplateProblem:
                # looked for only when rendering failed: a stat per message cost more than
                # the check is worth on the way that works (Jinja's loader notices deletions)
                if not self.exists(template, language, tone):
                    raise TemplateProblem(
                        f"no template {name} in {self.root}; create it (copy a sibling such as "
                        f"{language}/reminder-1.{tone}.j2) or fix the template name in the journey"
                    ) from None
                raise
            # an empty optional block leaves a gap: never more than one blank line in text
            parts[part] = rendered if html else _BLANK_LINES.sub("\n\n", rendered)
            if not parts[part]:
                raise TemplateProblem(
                    f"{name}: the {channel} {part} is empty; define its block "
                    f"(see docs/templates.md#blocks)"
                )
        return RenderedMessage(
            channel=channel,
            subject=_one_line(parts["subject"]) if "subject" in parts else None,
            text=parts["text"],
            html=parts.get("html"),
        )

    def _render_one(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            template = self.env.get_template(name)
            return render_limited(template.generate(values), name)
        except SecurityError as exc:
            raise TemplateRefused(
                f"{name}: refused: {str(exc).rstrip('.')}. Templates may only use the "
                "variables and helpers of docs/templates.md; Python internals are out of reach"
            ) from exc
        except TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"{exc.filename or exc.name or name}:{exc.lineno}: template syntax error: "
                f"{exc.message}"
            ) from exc
        except UndefinedError as exc:
            raise TemplateProblem(
                f"{name}: {exc.message}; use a variable of docs/templates.md or give it a "
                "default with |default(...)"
            ) from exc
        except TemplateNotFound as exc:
            raise TemplateProblem(
                f"{name}: it extends or imports {exc.name!r}, which does not exist"
            ) from exc
        except RecursionError as exc:
            raise TemplateRefused(
                f"{name}: refused: macros or blocks call themselves too deeply"
            ) from exc
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateProblem(f"{name}: rendering failed: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _cached_renderer(root: Path) -> Renderer:
    return Renderer(root)


def renderer_for(templates_dir: Path) -> Renderer:
    """A shared Renderer per templates directory (it recompiles files that changed on disk)."""
    if templates_dir.is_absolute():  # resolving a path per message cost more than its render
        return _absolute_renderer(templates_dir)
    return _cached_renderer(templates_dir.resolve())  # relative: to the working folder of now


@functools.lru_cache(maxsize=8)
def _absolute_renderer(templates_dir: Path) -> Renderer:
    return _cached_renderer(templates_dir.resolve())


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the preview answer ---------------------------------------------------------------


def render_preview(
    decision: Decision,
    facts: FactSheet,
    *,
    templates_dir: Path = DEFAULT_TEMPLATES_DIR,
    invoices: Sequence[Mapping[str, Any]] = (),
    payments: PaymentProvider | None = None,
    creditor: Creditor | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
    pdf_dir: Path | None = None,
    address: Sequence[str] = (),
    letter_pdf: bool = True,
    page_url: str | None = None,
    idempotency_key: str | None = None,
    demand: Decimal | None = None,
) -> dict[str, Any]:
    """The rendered parts of the preview answer (shared/design/surfaces.md): `amount_due` with
    `formatted`, `payment_options` with links, references and QR, and `message`.

    Without `payments` no link is created (NotConfiguredProvider: `url` null, `created`
    false, a `note` saying why). Without `creditor` it comes from configuration
    (engine.messages.creditor.load_creditor, reading `settings.creditor`). A letter also gets a PDF in
    `pdf_dir` (default: a temporary directory) with the recipient `address` lines, unless
    `letter_pdf` is false (an answer that only links to the PDF need not build it). `page_url`
    is the debtor's personal link (docs/self-service.md); without it no message mentions one.
    Decisions that send nothing get `message: null`. `idempotency_key` (the message's, when
    it is sent) goes with each payment link request. `demand` is what the message asks to pay
    when that is less than the claim (a payment plan's instalment): the payment options, links
    and QR code are for it, and `amount_due` is it; `amount` in the text stays the claim.
    """
    extra: Mapping[str, Any] = settings.extra if settings is not None else {}
    locale = decision.locale or (settings.default_locale if settings else "nl_NL")
    fmt = LocaleFormat(locale)
    country = str(facts["customer.country"] or "NL")
    configured, legal = _configuration(extra, country)
    creditor = creditor or configured
    if decision.amount_due is not None:
        amount, currency = decision.amount_due.amount, decision.amount_due.currency
    else:
        amount = Decimal(str(facts["balance.open_amount"] or 0))
        currency = str(facts["balance.currency"] or "EUR")
    on = send_date(decision.send_at, facts, today)
    # what the message demands is decided on its send date from the open invoices: the
    # overdue ones, not those falling due later (the decision's amount without invoices)
    claim = claim_on(
        invoices,
        on=on,
        fallback_amount=amount,
        currency=currency,
        fallback_due_date=facts["balance.oldest_due_date"],
    )
    amount = claim.amount
    asked = amount if demand is None else min(demand, amount)
    answer: dict[str, Any] = {
        "amount_due": {
            "amount": str(asked),
            "currency": currency,
            "formatted": fmt.money(asked, currency),
        },
        "payment_options": [],
        "message": None,
    }
    if decision.template is None or decision.channel is None or asked <= 0:
        return answer
    moment = decision.send_at or dt.datetime.combine(on, dt.time(9), dt.UTC)
    reference = payment_reference(
        decision.customer_id or facts["customer.id"], [line.id for line in claim.demanded]
    )
    provider = payments or NotConfiguredProvider()
    options = build_payment_options(
        decision.payment_options,
        amount=asked,
        currency=currency,
        reference=reference,
        description=f"{creditor.name}",
        creditor=creditor,
        provider=provider,
        send_at=moment,
        customer_id=decision.customer_id,
        locale=locale,
        idempotency_key=idempotency_key,
    )
    context = build_context(
        facts=facts,
        template=decision.template,
        channel=decision.channel,
        locale=locale,
        tone=decision.tone or "",
        claim=claim,
        on=on,
        options=options,
        reference=reference,
        creditor=creditor,
        legal=legal,
        rates=legal.rates(),
        step=decision.journey_step,
        page_url=page_url,
        pay_amount=None if demand is None else asked,
    )
    offered = {o["method"] for o in context["options"]}
    answer["payment_options"] = [o for o in options if o["method"] in offered]
    message = renderer_for(templates_dir).render(
        template=decision.template,
        language=fmt.language,
        tone=decision.tone or "",
        channel=decision.channel,
        context=context,
    )
    if message.channel == "letter" and letter_pdf:
        from engine.messages.letter_pdf import LetterParts, write_letter

        folder = pdf_dir or Path(tempfile.mkdtemp(prefix="payjourney-letter-"))
        bank = context["bank"]
        pdf = write_letter(
            LetterParts(
                creditor=creditor,
                recipient=[str(facts["customer.name"] or ""), *address],
                date=fmt.date(on, "long"),
                subject=message.subject or "",
                body=message.text,
                reference=reference,
                reference_label="Kenmerk" if fmt.language == "nl" else "Verwendungszweck",
                epc_payload=bank["epc_payload"] if bank else None,
                language=fmt.language,
                amount=context["pay_amount"],
                pay_by=fmt.date(context["pay_by"], "long"),
            ),
            folder / f"{decision.customer_id or 'letter'}-{decision.template}.pdf",
        )
        message = dataclasses.replace(message, pdf=pdf)
    answer["message"] = message.to_json()
    return answer


#: (id of settings.extra, country, PAYJOURNEY_CREDITOR) -> (that extra, creditor, legal).
_CONFIGURED: dict[tuple[int, str, str | None], tuple[Mapping[str, Any], Creditor, LegalSettings]]
_CONFIGURED = {}


def _configuration(extra: Mapping[str, Any], country: str) -> tuple[Creditor, LegalSettings]:
    """The creditor and legal settings of one rule set, built once rather than per message
    (they were a twentieth of a daemon's pass). Reloaded rules are a new `extra`; a changed
    PAYJOURNEY_CREDITOR file is read again with them."""
    key = (id(extra), country, os.environ.get(CREDITOR_VAR))
    found = _CONFIGURED.get(key)
    if found is not None and found[0] is extra:
        return found[1], found[2]
    creditor = load_creditor(extra, country=country)
    legal = LegalSettings.from_mapping(_mapping(extra.get("legal")))
    if len(_CONFIGURED) > 64:
        _CONFIGURED.clear()
    _CONFIGURED[key] = (extra, creditor, legal)
    return creditor, legal


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


# --- checking the templates a rule pack names -------------------------------------------


def sample_facts(journey: Journey, kind: str = "business") -> FactSheet:
    """A plausible fact sheet for a journey's language, to render its templates with: a
    business in default, or a consumer who is not (so both branches of a template run)."""
    country = journey.locale.split("_", 1)[-1].upper() if "_" in journey.locale else "NL"
    business = kind == "business"
    if country == "DE":
        name = "Müller GmbH" if business else "Lena Weber"
    else:
        name = "Jansen Installatietechniek B.V." if business else "Jan de Vries"
    return FactSheet.build(
        {
            "customer.id": "C-SAMPLE",
            "customer.name": name,
            "customer.kind": kind,
            "customer.country": country,
            "balance.open_amount": Decimal("1234.50"),
            "balance.open_invoices": 2 if business else 1,
            "balance.oldest_due_date": dt.date(2026, 11, 1),
            "balance.in_default": business,
        }
    )


def template_checks(templates_dir: Path) -> list[SpecCheck]:
    """The template check for `validate_dir` and `RuleBook`; none when the folder is missing."""
    if not templates_dir.is_dir():
        return []
    return [functools.partial(check_templates, templates_dir=templates_dir)]


def check_templates(spec: RuleSpec, templates_dir: Path) -> list[RuleProblem]:
    """Every template a journey step names exists for its language and tone and each channel
    the step can be sent on (`preferred` means any), and renders with a sample fact sheet.
    An SMS over `spec.channels.sms_segments` segments is a warning with its length."""
    problems: list[RuleProblem] = []
    try:
        renderer = Renderer(templates_dir)
    except TemplateProblem as exc:
        return [
            RuleProblem(path=str(templates_dir), line=1, column=1, key_path="", problem=str(exc))
        ]
    try:
        creditor = load_creditor(spec.settings.extra)
        legal = LegalSettings.from_mapping(_mapping(spec.settings.extra.get("legal")))
        rates = legal.rates()
    except PayjourneyError as exc:
        where = spec.files[0] if spec.files else "settings"
        return [RuleProblem(path=where, line=1, column=1, key_path="settings", problem=str(exc))]
    seen: set[tuple[str, str, str, str]] = set()
    # an experiment's variants make journeys of their own (another tone, template or channel)
    variants = [journey for _, _, journey in variant_journeys(spec)]
    for journey in [*spec.all_journeys(), *variants]:
        language = journey.language
        for step in journey.steps:
            if step.template is None:
                continue
            channels = CHANNELS if "preferred" in step.channels else step.channels
            for channel in channels:
                key = (language, journey.tone, step.template, channel)
                if key in seen:
                    continue
                seen.add(key)
                problems.extend(
                    _check_one(renderer, spec, journey, step, channel, creditor, legal, rates)
                )
    problems.extend(_plan_reminders(spec, renderer))
    return problems


def _plan_reminders(spec: RuleSpec, renderer: Renderer) -> list[RuleProblem]:
    """A persona whose page offers payment plans needs the instalment reminder in its journeys'
    language and tone (docs/self-service.md)."""
    out: list[RuleProblem] = []
    for journey in spec.all_journeys():
        offered = "plan" in spec.self_service_for(journey.persona).actions
        if offered and not renderer.exists("instalment-reminder", journey.language, journey.tone):
            name = renderer.template_name("instalment-reminder", journey.language, journey.tone)
            out.append(
                RuleProblem(
                    path=journey.source.path,
                    line=journey.source.line,
                    column=journey.source.column,
                    key_path=f"self_service[persona={journey.persona}]",
                    problem=f"persona '{journey.persona}' offers payment plans, but {name} is missing",
                    hint=f"create it (copy a sibling such as {journey.language}/instalment-reminder"
                    f".{'u' if journey.language == 'nl' else 'Sie'}.j2), or drop `plan` from `offer`",
                )
            )
    return out


def _check_one(
    renderer: Renderer,
    spec: RuleSpec,
    journey: Journey,
    step: Step,
    channel: str,
    creditor: Creditor,
    legal: LegalSettings,
    rates: RateTable,
) -> list[RuleProblem]:
    language, tone, template = journey.language, journey.tone, step.template
    assert template is not None

    def problem(text: str, hint: str = "", severity: str = "error") -> RuleProblem:
        return RuleProblem(
            path=step.source.path,
            line=step.source.line,
            column=step.source.column,
            key_path=f"journeys[{journey.persona}].steps[{step.index}].template",
            problem=text,
            hint=hint,
            severity=severity,
        )

    name = renderer.template_name(template, language, tone)
    if not renderer.exists(template, language, tone):
        return [
            problem(
                f"unknown template '{template}' for {language}/{tone} (no {name})",
                f"create {renderer.root / name} or use one of: "
                + ", ".join(_known(renderer.root / language, tone)),
            )
        ]
    methods = journey.payment_options or tuple(o.method for o in spec.payment_options)
    on = dt.date(2026, 11, 10)
    reference = payment_reference("C-SAMPLE")
    options = build_payment_options(
        methods,
        amount=Decimal("1234.50"),
        currency="EUR",
        reference=reference,
        description=creditor.name,
        creditor=creditor,
        provider=NotConfiguredProvider(),
        send_at=dt.datetime.combine(on, dt.time(9), dt.UTC),
        locale=journey.locale,
    )
    longest: RenderedMessage | None = None
    for kind in ("business", "consumer"):
        facts = sample_facts(journey, kind)
        context = build_context(
            facts=facts,
            template=template,
            channel=channel,
            locale=journey.locale,
            tone=tone,
            claim=claim_on(
                (),
                on=on,
                fallback_amount=Decimal("1234.50"),
                currency="EUR",
                fallback_due_date=facts["balance.oldest_due_date"],
            ),
            on=on,
            options=options,
            reference=reference,
            creditor=creditor,
            legal=legal,
            rates=rates,
            step=step.index + 1,
        )
        try:
            message = renderer.render(
                template=template, language=language, tone=tone, channel=channel, context=context
            )
        except PayjourneyError as exc:
            return [
                problem(
                    f"template '{template}' ({language}/{tone}, {channel}, {kind}) fails: {exc}"
                )
            ]
        if longest is None or len(message.text) > len(longest.text):
            longest = message
    if channel == "sms" and longest is not None:
        segments, encoding = sms_segments(longest.text)
        budget = spec.channels.sms_segments
        if segments > budget:
            return [
                problem(
                    f"the SMS of '{template}' ({language}/{tone}) is {len(longest.text)} "
                    f"characters, {segments} {encoding} segments; the budget is {budget}",
                    "shorten the sms block, or raise channels.sms_segments",
                    severity="warning",
                )
            ]
    return []


def _known(folder: Path, tone: str) -> list[str]:
    names = sorted(p.name.removesuffix(f".{tone}.j2") for p in folder.glob(f"*.{tone}.j2"))
    return names or ["(none)"]

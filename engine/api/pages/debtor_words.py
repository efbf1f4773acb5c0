"""The debtor page's words in Dutch and German, in the journey's tone (u/jij, Sie/du)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.decision.arrangements import Reason

#: key -> tone -> text; tones: u, jij (nl), Sie, du (de)
_WORDS: dict[str, dict[str, str]] = {
    "title": {
        "u": "Uw betaling aan {creditor}",
        "jij": "Je betaling aan {creditor}",
        "Sie": "Ihre Zahlung an {creditor}",
        "du": "Deine Zahlung an {creditor}",
    },
    "greeting": {
        "u": "Hier ziet u wat er openstaat en wat u zelf kunt regelen.",
        "jij": "Hier zie je wat er openstaat en wat je zelf kunt regelen.",
        "Sie": "Hier sehen Sie, was offen ist und was Sie selbst regeln können.",
        "du": "Hier siehst du, was offen ist und was du selbst regeln kannst.",
    },
    "open": {"u": "Openstaand", "jij": "Openstaand", "Sie": "Offen", "du": "Offen"},
    "invoice": {"u": "Factuur", "jij": "Factuur", "Sie": "Rechnung", "du": "Rechnung"},
    "amount": {"u": "Bedrag", "jij": "Bedrag", "Sie": "Betrag", "du": "Betrag"},
    "due": {"u": "Vervaldatum", "jij": "Vervaldatum", "Sie": "Fällig am", "du": "Fällig am"},
    "nothing_open": {
        "u": "Er staat niets meer open. Bedankt!",
        "jij": "Er staat niets meer open. Bedankt!",
        "Sie": "Es ist nichts mehr offen. Vielen Dank!",
        "du": "Es ist nichts mehr offen. Danke!",
    },
    "pay_now": {
        "u": "Nu betalen",
        "jij": "Nu betalen",
        "Sie": "Jetzt bezahlen",
        "du": "Jetzt bezahlen",
    },
    "pay_with": {
        "u": "Betaal {amount} met {method}",
        "jij": "Betaal {amount} met {method}",
        "Sie": "{amount} mit {method} bezahlen",
        "du": "{amount} mit {method} bezahlen",
    },
    "transfer": {
        "u": "Zelf overmaken",
        "jij": "Zelf overmaken",
        "Sie": "Selbst überweisen",
        "du": "Selbst überweisen",
    },
    "iban": {"u": "IBAN", "jij": "IBAN", "Sie": "IBAN", "du": "IBAN"},
    "to": {"u": "t.n.v.", "jij": "t.n.v.", "Sie": "Empfänger", "du": "Empfänger"},
    "reference": {
        "u": "Betalingskenmerk",
        "jij": "Betalingskenmerk",
        "Sie": "Verwendungszweck",
        "du": "Verwendungszweck",
    },
    "qr_alt": {
        "u": "QR-code om te betalen met de bank-app",
        "jij": "QR-code om te betalen met de bank-app",
        "Sie": "QR-Code zum Bezahlen mit der Banking-App",
        "du": "QR-Code zum Bezahlen mit der Banking-App",
    },
    "promise": {
        "u": "Later betalen",
        "jij": "Later betalen",
        "Sie": "Später zahlen",
        "du": "Später zahlen",
    },
    "promise_help": {
        "u": "Kies de datum waarop u het hele bedrag betaalt, uiterlijk {latest}.",
        "jij": "Kies de datum waarop je het hele bedrag betaalt, uiterlijk {latest}.",
        "Sie": "Wählen Sie den Tag, an dem Sie den ganzen Betrag zahlen, spätestens {latest}.",
        "du": "Wähle den Tag, an dem du den ganzen Betrag zahlst, spätestens {latest}.",
    },
    "promise_date": {
        "u": "Ik betaal op",
        "jij": "Ik betaal op",
        "Sie": "Ich zahle am",
        "du": "Ich zahle am",
    },
    "promise_submit": {
        "u": "Betaalafspraak maken",
        "jij": "Betaalafspraak maken",
        "Sie": "Zahlungsziel vereinbaren",
        "du": "Zahlungsziel vereinbaren",
    },
    "plan": {
        "u": "In termijnen betalen",
        "jij": "In termijnen betalen",
        "Sie": "In Raten zahlen",
        "du": "In Raten zahlen",
    },
    "plan_help": {
        "u": "Verdeel het bedrag over {min} tot {max} gelijke termijnen, elke {every} dagen één.",
        "jij": "Verdeel het bedrag over {min} tot {max} gelijke termijnen, elke {every} dagen één.",
        "Sie": "Teilen Sie den Betrag in {min} bis {max} gleiche Raten, alle {every} Tage eine.",
        "du": "Teile den Betrag in {min} bis {max} gleiche Raten, alle {every} Tage eine.",
    },
    "plan_count": {
        "u": "Aantal termijnen",
        "jij": "Aantal termijnen",
        "Sie": "Anzahl der Raten",
        "du": "Anzahl der Raten",
    },
    "plan_first": {
        "u": "Eerste termijn op",
        "jij": "Eerste termijn op",
        "Sie": "Erste Rate am",
        "du": "Erste Rate am",
    },
    "plan_submit": {
        "u": "Betalingsregeling aanvragen",
        "jij": "Betalingsregeling aanvragen",
        "Sie": "Ratenzahlung beantragen",
        "du": "Ratenzahlung beantragen",
    },
    "dispute": {
        "u": "Klopt er iets niet?",
        "jij": "Klopt er iets niet?",
        "Sie": "Stimmt etwas nicht?",
        "du": "Stimmt etwas nicht?",
    },
    "dispute_help": {
        "u": "Vertel ons wat er niet klopt. We sturen geen herinneringen zolang we het uitzoeken.",
        "jij": "Vertel ons wat er niet klopt. We sturen geen herinneringen zolang we het uitzoeken.",
        "Sie": "Sagen Sie uns, was nicht stimmt. Solange wir das klären, erinnern wir Sie nicht.",
        "du": "Sag uns, was nicht stimmt. Solange wir das klären, erinnern wir dich nicht.",
    },
    "dispute_reason": {
        "u": "Wat klopt er niet?",
        "jij": "Wat klopt er niet?",
        "Sie": "Was stimmt nicht?",
        "du": "Was stimmt nicht?",
    },
    "dispute_submit": {
        "u": "Doorgeven",
        "jij": "Doorgeven",
        "Sie": "Absenden",
        "du": "Absenden",
    },
    "question": {
        "u": "Een vraag stellen",
        "jij": "Een vraag stellen",
        "Sie": "Eine Frage stellen",
        "du": "Eine Frage stellen",
    },
    "question_text": {
        "u": "Uw vraag",
        "jij": "Je vraag",
        "Sie": "Ihre Frage",
        "du": "Deine Frage",
    },
    "question_submit": {
        "u": "Vraag versturen",
        "jij": "Vraag versturen",
        "Sie": "Frage senden",
        "du": "Frage senden",
    },
    "channel": {
        "u": "Hoe wilt u bericht krijgen?",
        "jij": "Hoe wil je bericht krijgen?",
        "Sie": "Wie möchten Sie Nachrichten erhalten?",
        "du": "Wie möchtest du Nachrichten erhalten?",
    },
    "channel_choice": {"u": "Kanaal", "jij": "Kanaal", "Sie": "Kanal", "du": "Kanal"},
    "channel_address": {
        "u": "E-mailadres of telefoonnummer (leeg laten om het bekende te houden)",
        "jij": "E-mailadres of telefoonnummer (leeg laten om het bekende te houden)",
        "Sie": "E-Mail-Adresse oder Telefonnummer (leer lassen, um die bekannte zu behalten)",
        "du": "E-Mail-Adresse oder Telefonnummer (leer lassen, um die bekannte zu behalten)",
    },
    "channel_submit": {"u": "Opslaan", "jij": "Opslaan", "Sie": "Speichern", "du": "Speichern"},
    "closed": {
        "u": "Niet mogelijk: {reason}",
        "jij": "Niet mogelijk: {reason}",
        "Sie": "Nicht möglich: {reason}",
        "du": "Nicht möglich: {reason}",
    },
    "done_promise": {
        "u": "Afgesproken: u betaalt uiterlijk {date}. Tot dan sturen we geen herinneringen; u krijgt een bevestiging.",
        "jij": "Afgesproken: je betaalt uiterlijk {date}. Tot dan sturen we geen herinneringen; je krijgt een bevestiging.",
        "Sie": "Vereinbart: Sie zahlen bis zum {date}. Bis dahin erinnern wir Sie nicht; Sie erhalten eine Bestätigung.",
        "du": "Vereinbart: Du zahlst bis zum {date}. Bis dahin erinnern wir dich nicht; du bekommst eine Bestätigung.",
    },
    "done_plan": {
        "u": "Uw betalingsregeling staat. Voor elke termijn krijgt u een herinnering.",
        "jij": "Je betalingsregeling staat. Voor elke termijn krijg je een herinnering.",
        "Sie": "Ihre Ratenzahlung ist vereinbart. Vor jeder Rate erinnern wir Sie.",
        "du": "Deine Ratenzahlung ist vereinbart. Vor jeder Rate erinnern wir dich.",
    },
    "queued": {
        "u": "Bedankt. Een medewerker bekijkt uw verzoek en laat u weten of het akkoord is.",
        "jij": "Bedankt. Een medewerker bekijkt je verzoek en laat je weten of het akkoord is.",
        "Sie": "Danke. Eine Mitarbeiterin oder ein Mitarbeiter prüft Ihre Anfrage und meldet sich.",
        "du": "Danke. Jemand aus unserem Team prüft deine Anfrage und meldet sich.",
    },
    "done_dispute": {
        "u": "Bedankt, we zoeken het uit en nemen contact met u op. Tot dan sturen we geen herinneringen.",
        "jij": "Bedankt, we zoeken het uit en nemen contact met je op. Tot dan sturen we geen herinneringen.",
        "Sie": "Danke, wir klären das und melden uns. Bis dahin erinnern wir Sie nicht.",
        "du": "Danke, wir klären das und melden uns. Bis dahin erinnern wir dich nicht.",
    },
    "done_question": {
        "u": "Bedankt voor uw vraag. We antwoorden zo snel mogelijk.",
        "jij": "Bedankt voor je vraag. We antwoorden zo snel mogelijk.",
        "Sie": "Danke für Ihre Frage. Wir antworten so bald wie möglich.",
        "du": "Danke für deine Frage. Wir antworten so bald wie möglich.",
    },
    "done_channel": {
        "u": "Opgeslagen: we sturen u voortaan bericht via {channel}.",
        "jij": "Opgeslagen: we sturen je voortaan bericht via {channel}.",
        "Sie": "Gespeichert: Wir schreiben Ihnen künftig per {channel}.",
        "du": "Gespeichert: Wir schreiben dir künftig per {channel}.",
    },
    "refused": {
        "u": "Dat kan helaas niet:",
        "jij": "Dat kan helaas niet:",
        "Sie": "Das ist leider nicht möglich:",
        "du": "Das ist leider nicht möglich:",
    },
    "plan_active": {
        "u": "Uw betalingsregeling",
        "jij": "Je betalingsregeling",
        "Sie": "Ihre Ratenzahlung",
        "du": "Deine Ratenzahlung",
    },
    "instalment": {"u": "Termijn", "jij": "Termijn", "Sie": "Rate", "du": "Rate"},
    "contact": {
        "u": "Liever persoonlijk contact? Bel {phone} of mail {email}.",
        "jij": "Liever persoonlijk contact? Bel {phone} of mail {email}.",
        "Sie": "Lieber persönlich? Rufen Sie {phone} an oder schreiben Sie an {email}.",
        "du": "Lieber persönlich? Ruf {phone} an oder schreib an {email}.",
    },
}

#: Why an option is closed or a request refused, in the debtor's words.
_REASONS: dict[str, dict[str, str]] = {
    "withdrawn": {
        "nl": "eerdere betaalafspraken zijn niet nagekomen",
        "de": "frühere Zahlungszusagen wurden nicht eingehalten",
    },
    "nothing_open": {"nl": "er staat niets open", "de": "es ist nichts offen"},
    "arranged": {
        "nl": "er loopt al een afspraak: betalen uiterlijk {until}",
        "de": "es läuft bereits eine Vereinbarung: zahlen bis {until}",
    },
    "paused": {
        "nl": "er loopt een vraag over de factuur; een medewerker bekijkt die eerst",
        "de": "zur Rechnung ist eine Klärung offen; die prüfen wir zuerst",
    },
    "latest_passed": {
        "nl": "de laatst mogelijke datum ({latest}) is voorbij",
        "de": "der späteste mögliche Tag ({latest}) ist vorbei",
    },
    "date_past": {"nl": "{date} ligt in het verleden", "de": "{date} liegt in der Vergangenheit"},
    "date_beyond": {
        "nl": "{date} is later dan de laatst mogelijke datum ({latest})",
        "de": "{date} ist später als der späteste mögliche Tag ({latest})",
    },
    "too_many": {
        "nl": "{count} termijnen is meer dan de {limit} die mogelijk zijn",
        "de": "{count} Raten sind mehr als die möglichen {limit}",
    },
    "too_few": {"nl": "een regeling heeft minstens 2 termijnen", "de": "mindestens 2 Raten"},
    "instalment_small": {
        "nl": "een termijn van {amount} is lager dan het minimum van {limit}",
        "de": "eine Rate von {amount} ist niedriger als das Minimum von {limit}",
    },
    "first_small": {
        "nl": "een eerste termijn van {amount} is lager dan het minimum van {limit}",
        "de": "eine erste Rate von {amount} ist niedriger als das Minimum von {limit}",
    },
    "plan_beyond": {
        "nl": "de laatste termijn ({date}) valt na de laatst mogelijke datum ({latest})",
        "de": "die letzte Rate ({date}) läge nach dem spätesten möglichen Tag ({latest})",
    },
    "not_offered": {"nl": "dat regelen we persoonlijk", "de": "das regeln wir persönlich"},
}


def words(tone: str, **values: Any) -> Mapping[str, str]:
    """Every page text in `tone`, with `values` filled in where a text names them."""
    out: dict[str, str] = {}
    for key, variants in _WORDS.items():
        text = variants.get(tone) or variants["u"]
        try:
            out[key] = text.format(**values)
        except KeyError:
            out[key] = text
    return out


def pay_label(tone: str, amount: str, method: str) -> str:
    """The pay button: "Betaal € 120,00 met iDEAL | Wero"."""
    variants = _WORDS["pay_with"]
    return (variants.get(tone) or variants["u"]).format(amount=amount, method=method)


def reason_text(reason: Reason, language: str, fmt_date: Any) -> str:
    """A reason in the debtor's language; dates in the local format."""
    template = _REASONS.get(reason.code, {}).get(language)
    if template is None:
        return reason.text
    values = {
        k: fmt_date(v)
        if k in ("date", "latest", "until") and isinstance(v, str) and len(v) == 10
        else v
        for k, v in reason.values.items()
    }
    return template.format(**values)

"""Who asks for the money: the creditor's name, address and bank details, from configuration.

Read once at start by `load_creditor`: the TOML file named by PAYJOURNEY_CREDITOR wins, then a
`creditor` block in the rule pack's `settings`, else the clearly marked example creditor that
previews and tests use (`is_example=True`; never send real messages with it).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from engine.errors import PayjourneyError
from engine.messages.iban import InvalidIban, normalise_iban

ENV_VAR = "PAYJOURNEY_CREDITOR"


class CreditorError(PayjourneyError):
    """The creditor configuration is missing a field or has a bad value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Creditor:
    """The creditor as messages and letters show it."""

    name: str
    iban: str
    street: str
    postcode: str
    city: str
    country: str = "NL"  # ISO 3166
    bic: str | None = None
    email: str | None = None
    phone: str | None = None
    website: str | None = None
    registration: str | None = None  # KvK / Handelsregister number, shown in letters
    vat_id: str | None = None
    sepa_creditor_id: str | None = None  # Gläubiger-ID / incassant-ID, for direct debits
    mandate_url: str | None = None  # the creditor's own page where a debtor signs a mandate
    agent_name: str = ""  # who signs the messages and makes the calls
    is_example: bool = False

    def __post_init__(self) -> None:
        for required in ("name", "iban", "street", "postcode", "city"):
            if not getattr(self, required):
                raise CreditorError(
                    f"the creditor configuration needs '{required}'; see docs/templates.md#creditor"
                )
        try:
            object.__setattr__(self, "iban", normalise_iban(self.iban))
        except InvalidIban as exc:
            raise CreditorError(f"the creditor's iban: {exc}") from exc

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "creditor") -> Creditor:
        known = {f.name for f in fields(cls)} - {"is_example"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CreditorError(
                f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {k: None if v is None else str(v) for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise CreditorError(f"{source}: {exc}") from exc

    @classmethod
    def example(cls, country: str = "NL") -> Creditor:
        """A fictitious creditor with a valid example IBAN, for previews and tests."""
        if country.upper() in ("DE", "AT"):
            return cls(
                name="Beispiel GmbH",
                iban="DE89370400440532013000",
                bic="COBADEFFXXX",
                street="Musterstraße 1",
                postcode="10115",
                city="Berlin",
                country="DE",
                email="buchhaltung@beispiel.example",
                phone="+49 30 1234567",
                website="beispiel.example",
                registration="HRB 123456 B",
                sepa_creditor_id="DE98ZZZ09999999999",
                agent_name="Anna Schmidt",
                is_example=True,
            )
        return cls(
            name="Voorbeeld B.V.",
            iban="NL91ABNA0417164300",
            bic="ABNANL2A",
            street="Voorbeeldstraat 1",
            postcode="1011 AB",
            city="Amsterdam",
            country="NL",
            email="debiteuren@voorbeeld.example",
            phone="+31 20 123 4567",
            website="voorbeeld.example",
            registration="KvK 12345678",
            sepa_creditor_id="NL00ZZZ123456780000",
            agent_name="Sanne de Vries",
            is_example=True,
        )


def load_creditor(
    settings: Mapping[str, Any] | None = None,
    *,
    country: str = "NL",
    environ: Mapping[str, str] | None = None,
) -> Creditor:
    """The configured creditor: PAYJOURNEY_CREDITOR (a TOML file), else `settings["creditor"]`,
    else the example creditor for `country`."""
    env = os.environ if environ is None else environ
    path = env.get(ENV_VAR)
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CreditorError(f"cannot read {ENV_VAR}={path}: {exc}") from exc
        block = data.get("creditor", data)
        return Creditor.from_mapping(block, source=path)
    if settings and isinstance(settings.get("creditor"), Mapping):
        return Creditor.from_mapping(settings["creditor"], source="settings.creditor")
    return Creditor.example(country)

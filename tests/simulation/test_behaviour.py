"""The behaviour model: the trial's magnitudes where they apply, sources for every number."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.simulation.behaviour import (
    DEFAULT_MODEL,
    BehaviourModel,
    BehaviourModelError,
    Received,
    load_params,
)
from engine.store.generate import HiddenTraits

AT = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)  # 07:00 in Amsterdam


def model(behaviour: str = "structurally_late") -> BehaviourModel:
    traits = HiddenTraits(
        behaviour=behaviour, kind="business", country="NL", responsive_channel="sms",
        lateness=5.0, pay_hour=21,
    )  # fmt: skip
    found = BehaviourModel(params=load_params(), traits={"C-1": traits}, seed=1)
    found.start([], {"C-1": ("Klant B.V.", "Anna de Vries")}, AT, AT)
    return found


def text_message(text: str, channel: str = "sms") -> Received:
    return Received(
        customer_id="C-1", channel=channel, step=1, tone="u", persona="x", text=text, at=AT
    )


def test_a_standard_text_and_a_named_text_work_as_in_the_trial() -> None:
    """The reference debtor: 23% after a standard text, 33% after one naming them (Haynes et
    al. 2013), when nothing else about the message moves the odds."""
    m = model()
    assert m.response_probability(text_message("Please pay.")) == pytest.approx(0.23)
    assert m.response_probability(text_message("Anna de Vries, please pay.")) == pytest.approx(0.33)


def test_the_hidden_type_and_the_channel_move_the_response() -> None:
    """A debtor who forgot reacts more than a chronic late payer; an email less than a text."""
    plain = text_message("Please pay.")
    assert model("slipped_once").response_probability(plain) > model().response_probability(plain)
    assert model("chronic_late").response_probability(plain) < model().response_probability(plain)
    email = text_message("Please pay.", channel="email")
    assert model().response_probability(email) < model().response_probability(plain)


def test_every_magnitude_says_where_it_comes_from(tmp_path: Path) -> None:
    """A number without a source is refused, naming it; the shipped file has one for each."""
    params = load_params()
    assert all(m.source.strip() for m in params.magnitudes.values())
    assert "Haynes" in params.magnitudes["reference.named_text"].source
    broken = tmp_path / "behaviour.yaml"
    broken.write_text(
        DEFAULT_MODEL.read_text(encoding="utf-8").replace(
            'fatigue:\n  value: 0.85\n  source: "assumption: each earlier',
            'fatigue:\n  value: 0.85\n  note: "assumption: each earlier',
        ),
        encoding="utf-8",
    )
    with pytest.raises(BehaviourModelError, match=r"fatigue: say where the number comes from"):
        load_params(broken)

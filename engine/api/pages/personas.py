"""GET /personas: the persona cards and the experiments' read-outs, for staff, from the data."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from engine.api.pages.staff import Staff, State, _page
from engine.experiments.readout import experiment_html, experiment_ids, read_experiment
from engine.personas.cards import card_html, cards

router = APIRouter(include_in_schema=False)


@router.get("/personas")
def personas_page(request: Request, state: State, _token: Staff) -> HTMLResponse:
    """A card per persona of the rules in force, then each experiment's read-out. Every stored
    debtor is classified for it: a page for a portfolio of thousands, not millions."""
    rules = state.rulebook.current
    now = dt.datetime.now(dt.UTC)
    found = cards(state.engine, rules, now)
    ids = experiment_ids(state.engine, rules.spec.experiments)
    results = [read_experiment(state.engine, i, now, rules.spec.experiments) for i in ids]
    return _page(
        request,
        "personas.html",
        {
            "cards": [card_html(c) for c in found],
            "experiments": [experiment_html(r) for r in results],
            "version": rules.version,
        },
    )

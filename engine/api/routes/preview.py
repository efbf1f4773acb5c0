"""POST /v1/preview: the same answer for data in the body (a what-if with `rules`), stored nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from engine.api.auth import ApiToken
from engine.api.deps import get_state, moment, require
from engine.api.models import PreviewAnswer, PreviewRequest
from engine.api.routes.customers import ERRORS
from engine.api.state import ApiState
from engine.preview.answer import pdf_data_uri
from engine.preview.posted import PostedPreview, preview_posted

router = APIRouter(tags=["preview"])

EXAMPLE = {
    "customer": {"id": "C-1", "kind": "consumer", "country": "NL", "name": "J. de Vries"},
    "invoices": [
        {
            "id": "INV-1",
            "amount": "120.00",
            "currency": "EUR",
            "issue_date": "2026-10-01",
            "due_date": "2026-10-31",
        }
    ],
    "now": "2026-11-24T10:00:00+01:00",
}


@router.post(
    "/v1/preview",
    response_model=PreviewAnswer,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
def preview(
    body: Annotated[PreviewRequest, Body(openapi_examples={"consumer": {"value": EXAMPLE}})],
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("preview"))],
) -> dict[str, Any]:
    """Decide and render for the customer, invoices, payments and events in the body. Facts
    come from the store's own SQL run on a private in-memory database; nothing is kept.
    `rules` (file name -> YAML) replaces the rule files for this call; invalid rules answer 422
    with the `file:line:col` problems of `payjourney validate`."""
    rules = state.what_if(body.rules) if body.rules is not None else state.rulebook.current
    rows = {
        kind: getattr(body, kind)
        for kind in (
            "contacts",
            "invoices",
            "payments",
            "promises",
            "disputes",
            "messages",
            "events",
        )
        if getattr(body, kind)
    }
    posted = PostedPreview(customer=body.customer, rows=rows, steps_sent=body.steps_sent)
    found = preview_posted(
        posted, rules, moment(body.now, rules.spec.settings.timezone), state.preview
    )
    answer = found.answer
    if found.pdf is not None and isinstance(answer.get("message"), dict):
        answer["message"]["pdf"] = pdf_data_uri(found.pdf)
    return answer

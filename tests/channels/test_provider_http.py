"""The HTTP edge shared by the providers: Retry-After and scrubbing personal data from errors."""

from __future__ import annotations

import datetime as dt
import email.utils

from channels.provider_http import retry_after, scrub


def test_retry_after_in_seconds() -> None:
    assert retry_after({"retry-after": "120"}) == dt.timedelta(seconds=120)


def test_retry_after_as_an_http_date() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    waited = retry_after({"retry-after": email.utils.format_datetime(later, usegmt=True)})
    assert waited is not None and dt.timedelta(minutes=4) < waited <= dt.timedelta(minutes=5)


def test_a_missing_or_garbled_retry_after_is_none() -> None:
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None


def test_the_recipient_is_scrubbed_from_provider_errors_with_or_without_plus() -> None:
    """Twilio says "+31612345678", MessageBird "31612345678": neither reaches a log."""
    assert (
        scrub("The 'To' number +31612345678 is not valid", "+31612345678")
        == "The 'To' number <recipient> is not valid"
    )
    assert scrub("recipient 31612345678 unknown", "+31612345678") == "recipient <recipient> unknown"

"""SMS adapters: Twilio's Messages API and MessageBird's (Bird's) REST API, with their receipts."""

from __future__ import annotations

from engine.messages.sms import sms_segments


def segment_cost(text: str) -> dict[str, str]:
    """Cost metadata for a receipt: how many segments the text costs, and in which encoding."""
    segments, encoding = sms_segments(text)
    return {"segments": str(segments), "encoding": encoding}

"""How many SMS segments a text costs: GSM 03.38 (160/153 characters) or UCS-2 (70/67)."""

from __future__ import annotations

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Characters of the GSM extension table; each costs two septets (an escape and itself).
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[int, str]:
    """(segments, encoding) for `text`: encoding is "GSM-7" or "UCS-2".

    One character outside the GSM alphabet (an ë, an emoji, a no-break space) switches the
    whole message to UCS-2, which more than halves what fits in a segment.
    """
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        septets = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        return (1 if septets <= 160 else -(-septets // 153)), "GSM-7"
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"

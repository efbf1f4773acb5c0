"""Payment options: Mollie links against a local server, EPC QR payloads, SEPA, Barzahlen."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from engine.messages.creditor import Creditor, CreditorError, load_creditor
from engine.messages.iban import InvalidIban, format_iban, mod97, normalise_iban
from engine.messages.payments.bank_transfer import (
    epc_payload,
    epc_qr,
    is_rf_reference,
    png_bytes,
    qr_data_uri,
    qr_png,
    rf_reference,
)
from engine.messages.payments.base import (
    PaymentError,
    PaymentProvider,
    PaymentRequest,
    ProviderError,
)
from engine.messages.payments.mollie import MollieProvider
from engine.messages.payments.offline import NotConfiguredProvider
from engine.messages.payments.options import build_payment_options, payment_reference
from engine.messages.payments.qr import EPC_QR_MASK, QrTooLong, epc_qr_matrix, version_for
from engine.messages.payments.sepa import earliest_collection

SEND_AT = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)


class FakeMollie(BaseHTTPRequestHandler):
    """Plays Mollie's POST /v2/payment-links; `answers` queues (status, body) to send back."""

    requests: ClassVar[list[dict[str, Any]]] = []
    answers: ClassVar[list[tuple[int, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        type(self).requests.append(
            {
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "body": body,
            }
        )
        if type(self).answers:
            status, answer = type(self).answers.pop(0)
        else:
            number = len(type(self).requests)
            status, answer = (
                201,
                {
                    "resource": "payment-link",
                    "id": f"pl_test{number}",
                    "mode": "test",
                    "description": body["description"],
                    "amount": body["amount"],
                    "expiresAt": body.get("expiresAt"),
                    "_links": {
                        "paymentLink": {
                            "href": f"https://paymentlink.mollie.com/payment/test{number}/",
                            "type": "text/html",
                        }
                    },
                },
            )
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/hal+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def mollie() -> Iterator[tuple[MollieProvider, type[FakeMollie]]]:
    FakeMollie.requests = []
    FakeMollie.answers = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMollie)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    provider = MollieProvider("test_abc", base_url=f"http://{host!s}:{port}/v2", timeout=5)
    try:
        yield provider, FakeMollie
    finally:
        provider.close()
        server.shutdown()
        server.server_close()
        thread.join()


def _request(method: str = "ideal", amount: str = "1234.50") -> PaymentRequest:
    return PaymentRequest(
        method=method,
        amount=Decimal(amount),
        currency="EUR",
        reference="RF34C1001",
        description="Voorbeeld B.V.",
        expires_at=SEND_AT + dt.timedelta(days=30),
    )


def test_mollie_creates_a_link_for_one_method_with_amount_reference_and_expiry(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    provider, server = mollie
    link = provider.create_link(_request())
    assert link.created and link.url == "https://paymentlink.mollie.com/payment/test1/"
    assert link.id == "pl_test1"
    sent = server.requests[0]
    assert sent["path"] == "/v2/payment-links"
    assert sent["auth"] == "Bearer test_abc"
    assert sent["body"]["amount"] == {"currency": "EUR", "value": "1234.50"}
    assert sent["body"]["allowedMethods"] == ["ideal"]
    assert "RF34C1001" in sent["body"]["description"]
    assert sent["body"]["expiresAt"] == "2026-12-24T09:00:00+00:00"


def test_a_link_request_carries_its_idempotency_key_to_mollie(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    """The message's key plus the method goes as Mollie's Idempotency-Key header, so a request
    repeated after a lost answer gets the first link; a preview's request sends none."""
    provider, server = mollie
    build_payment_options(
        ("ideal", "paypal", "bank_transfer"),
        amount=Decimal("250.00"),
        currency="EUR",
        reference="RF34C1001",
        description="Voorbeeld B.V.",
        creditor=Creditor.example("NL"),
        provider=provider,
        send_at=SEND_AT,
        idempotency_key="pj-17-email",
    )
    provider.create_link(_request())
    keys = [r["idempotency_key"] for r in server.requests]
    assert keys == ["pj-17-email-ideal", "pj-17-email-paypal", None]


def test_an_idempotency_key_longer_than_providers_take_is_refused() -> None:
    with pytest.raises(PaymentError, match="1-255 characters"):
        dataclasses.replace(_request(), idempotency_key="k" * 256)


def test_card_and_wero_map_to_mollie_method_names(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    provider, server = mollie
    provider.create_link(_request("card"))
    provider.create_link(_request("wero"))
    assert [r["body"]["allowedMethods"] for r in server.requests] == [["creditcard"], ["ideal"]]


def test_a_mollie_error_becomes_a_provider_error_with_its_detail(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    provider, server = mollie
    server.answers.append(
        (422, {"status": 422, "title": "Unprocessable Entity", "detail": "The amount is too low"})
    )
    with pytest.raises(ProviderError, match=r"HTTP 422.*amount is too low"):
        provider.create_link(_request())


def test_an_unreachable_provider_becomes_a_provider_error() -> None:
    provider = MollieProvider("test_abc", base_url="http://127.0.0.1:9/v2", timeout=1)
    with pytest.raises(ProviderError, match="request failed"):
        provider.create_link(_request())
    provider.close()


def test_a_provider_without_an_api_key_says_which_variable_to_set() -> None:
    with pytest.raises(ProviderError, match="PAYJOURNEY_MOLLIE_API_KEY"):
        MollieProvider("")


def test_providers_satisfy_the_protocol(mollie: tuple[MollieProvider, type[FakeMollie]]) -> None:
    assert isinstance(mollie[0], PaymentProvider)
    assert isinstance(NotConfiguredProvider(), PaymentProvider)


def test_a_link_request_needs_a_link_method_a_positive_amount_and_an_aware_expiry() -> None:
    with pytest.raises(PaymentError, match="not paid by link"):
        _request("bank_transfer")
    with pytest.raises(PaymentError, match="positive"):
        _request(amount="0")


def _lines(payload: str) -> list[str]:
    return payload.split("\n")


def test_the_epc_payload_follows_epc069_12() -> None:
    payload = epc_payload(
        name="Voorbeeld B.V.",
        iban="NL91 ABNA 0417 1643 00",
        bic="ABNANL2A",
        amount=Decimal("1234.5"),
        reference=rf_reference("INV-2026-0042"),
    )
    lines = _lines(payload)
    assert lines[:4] == ["BCD", "002", "1", "SCT"]  # service tag, version, UTF-8, SEPA transfer
    assert lines[4] == "ABNANL2A"
    assert lines[5] == "Voorbeeld B.V."
    assert lines[6] == "NL91ABNA0417164300"
    assert lines[7] == "EUR1234.50"
    assert lines[8] == ""  # purpose code
    assert lines[9] == "RF73INV20260042"  # structured creditor reference
    assert len(lines) == 10  # trailing empty fields are left out
    assert len(payload.encode()) <= 331


def test_an_unstructured_reference_goes_in_the_remittance_text_field() -> None:
    lines = _lines(
        epc_payload(
            name="Beispiel GmbH",
            iban="DE89370400440532013000",
            amount=Decimal(5),
            reference="Rechnung 17",
        )
    )
    assert lines[4] == "" and lines[9] == "" and lines[10] == "Rechnung 17"


def _decoded(png: bytes) -> list[str]:
    import io

    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.mark.parametrize(
    ("name", "amount", "reference"),
    [
        ("Voorbeeld Incasso B.V.", Decimal("250.00"), "RF18539007547034"),
        ("Bäcker & Söhne GmbH", Decimal("0.01"), "Rechnung 2026-000017 Kundennummer 4711"),
        ("Jansen Installatietechniek B.V.", Decimal("999999999.99"), payment_reference("C-9")),
        ("N", Decimal("1"), None),
    ],
)
def test_an_epc_qr_code_made_with_its_fixed_mask_reads_back_as_its_payload(
    name: str, amount: Decimal, reference: str | None
) -> None:
    """A reader we did not write (zxing-cpp) finds exactly the payload in the letter's PNG and
    the email's data URI, though the mask is fixed rather than chosen per code."""
    payload = epc_payload(
        name=name, iban="DE89370400440532013000", amount=amount, reference=reference
    )
    uri = qr_data_uri(payload)
    assert _decoded(qr_png(payload)) == [payload]
    assert _decoded(base64.b64decode(uri.split(",", 1)[1])) == [payload]


def test_the_epc_qr_png_has_the_pixels_of_segnos_own_writer() -> None:
    """Our own 1-bit PNG, read by Pillow: the same modules, scale and quiet zone as segno's
    writer drew, at the email's scale, the letter's and an odd one."""
    import io

    from PIL import Image, ImageChops

    payload = epc_payload(name="Bäcker", iban="NL91ABNA0417164300", amount=Decimal("12.34"))
    for scale in (4, 6, 5):
        ours = Image.open(io.BytesIO(qr_png(payload, scale=scale))).convert("L")
        buffer = io.BytesIO()
        _segno_code(payload).save(buffer, kind="png", scale=scale, border=4)
        theirs = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
        assert ours.size == theirs.size
        assert ImageChops.difference(ours, theirs).getbbox() is None


def test_the_qr_png_is_a_well_formed_1_bit_greyscale_png() -> None:
    """Signature, IHDR (width, height, 1 bit, greyscale, deflate, no filter method, no
    interlace), the image data, an empty IEND last, each chunk with its length and CRC: what a
    strict reader (a printer's, a mail client's) checks before it shows a pixel."""
    png = png_bytes(epc_qr_matrix(b"BCD"), scale=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        at += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    side = (21 + 2 * 4) * 2  # version 1, four modules of quiet zone each side, 2 pixels a module
    assert chunks[0][1] == struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    assert chunks[2][1] == b""
    assert png.endswith(b"\x00\x00\x00\x00IEND\xaeB`\x82")


def test_the_qr_png_is_compressed_at_zlibs_fastest_level() -> None:
    """Every email carries its own code, made while a chunk is sent: the image data is
    deflated at zlib's fastest level (its header's FLEVEL bits say 0), as bench/dispatch.py
    measured; a slower level saves a few bytes a message at a cost in every send."""
    png = png_bytes(epc_qr_matrix(b"BCD\n002\n1\nSCT"), scale=4)
    start = png.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", png[start - 8 : start - 4])
    stream = png[start : start + length]
    cmf, flg = stream[0], stream[1]
    assert cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0  # deflate, a valid zlib header
    assert flg >> 6 == 0  # FLEVEL 0: compressor used the fastest algorithm
    assert zlib.decompress(stream)


def test_the_epc_qr_is_a_png_data_uri() -> None:
    payload = epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1))
    uri = qr_data_uri(payload)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"iban": "NL91ABNA0417164301"}, "not a valid IBAN"),
        ({"amount": Decimal(0)}, "0.01"),
        ({"amount": Decimal("1000000000")}, "0.01"),
        ({"name": "x" * 71}, "1-70"),
        ({"bic": "NOPE"}, "valid BIC"),
        ({"currency": "USD"}, "euros only"),
    ],
)
def test_a_bad_epc_field_is_refused(kwargs: dict[str, Any], problem: str) -> None:
    args: dict[str, Any] = {"name": "X", "iban": "NL91ABNA0417164300", "amount": Decimal(1)}
    args.update(kwargs)
    with pytest.raises(PaymentError, match=problem):
        epc_payload(**args)


def test_rf_references_carry_valid_check_digits() -> None:
    assert is_rf_reference("RF18 5390 0754 7034")  # the ISO 11649 example
    assert is_rf_reference(rf_reference("C-1001"))
    assert not is_rf_reference("RF19539007547034")
    assert payment_reference("C-1001", ["INV-7"]) == rf_reference("INV7")
    assert payment_reference("C-1001", ["A", "B"]) == rf_reference("C1001")
    long_id = payment_reference("customer-with-a-very-long-external-identifier")
    assert is_rf_reference(long_id) and len(long_id) <= 25


def test_iban_is_normalised_and_grouped() -> None:
    assert normalise_iban("nl91 abna 0417 1643 00") == "NL91ABNA0417164300"
    assert format_iban("DE89370400440532013000") == "DE89 3704 0044 0532 0130 00"


def test_a_direct_debit_is_collected_after_14_days_on_a_target_business_day() -> None:
    assert earliest_collection(dt.date(2026, 11, 24)) == dt.date(2026, 12, 8)
    # 11 Dec + 14 = Fri 25 Dec (Christmas), 26 Dec is a TARGET holiday and a Saturday
    assert earliest_collection(dt.date(2026, 12, 11)) == dt.date(2026, 12, 28)


def _options(
    methods: tuple[str, ...], provider: PaymentProvider, amount: str = "250.00"
) -> list[dict[str, Any]]:
    return build_payment_options(
        methods,
        amount=Decimal(amount),
        currency="EUR",
        reference="RF34C1001",
        description="Beispiel GmbH",
        creditor=Creditor.example("DE"),
        provider=provider,
        send_at=SEND_AT,
    )


def test_options_keep_the_order_the_rules_give(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    methods = ("paypal", "sepa_direct_debit", "barzahlen", "card", "bank_transfer")
    options = _options(methods, mollie[0])
    assert [o["method"] for o in options] == list(methods)
    assert options[0]["url"].startswith("https://paymentlink.mollie.com/")
    sepa = options[1]
    assert sepa["earliest_collection"] == "2026-12-08" and sepa["pre_notification_days"] == 14
    assert options[2]["created"] is False  # Mollie makes no Barzahlen slips; no fake URL
    bank = options[4]
    assert bank["iban"] == "DE89370400440532013000" and bank["reference"] == "RF34C1001"
    assert bank["epc_payload"].split("\n")[7] == "EUR250.00"


def test_without_a_provider_no_link_pretends_to_exist() -> None:
    options = _options(("ideal", "bank_transfer"), NotConfiguredProvider())
    assert options[0]["url"] is None and options[0]["created"] is False
    assert "previews make no payment links" in options[0]["note"]


def test_barzahlen_above_the_slip_limit_is_not_available() -> None:
    options = _options(("barzahlen",), NotConfiguredProvider(), amount="1000.00")
    assert options[0]["available"] is False and "999.99" in options[0]["note"]


def test_a_provider_failure_leaves_the_option_without_a_link_and_says_why(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    mollie[1].answers.append((401, {"title": "Unauthorized Request", "detail": "Missing key"}))
    options = _options(("paypal", "bank_transfer"), mollie[0])
    assert options[0]["url"] is None and "Missing key" in options[0]["note"]
    assert options[1]["epc_payload"]


def test_the_creditor_comes_from_a_file_then_settings_then_the_example(tmp_path: Any) -> None:
    settings = {
        "creditor": {
            "name": "Jansen B.V.",
            "iban": "NL91ABNA0417164300",
            "street": "Dam 1",
            "postcode": "1012 JS",
            "city": "Amsterdam",
        }
    }
    assert load_creditor(settings, environ={}).name == "Jansen B.V."
    file = tmp_path / "creditor.toml"
    file.write_text(
        '[creditor]\nname = "Uit bestand"\niban = "NL91ABNA0417164300"\n'
        'street = "a"\npostcode = "b"\ncity = "c"\n',
        encoding="utf-8",
    )
    assert load_creditor(settings, environ={"PAYJOURNEY_CREDITOR": str(file)}).name == "Uit bestand"
    assert load_creditor(None, environ={}).is_example


def test_a_bad_creditor_setting_names_the_key() -> None:
    with pytest.raises(CreditorError, match="unknown key"):
        Creditor.from_mapping({"name": "x", "ibna": "y"})
    with pytest.raises(CreditorError, match="IBAN"):
        Creditor.from_mapping(
            {"name": "x", "iban": "NL00", "street": "a", "postcode": "b", "city": "c"}
        )


def test_the_provider_comes_from_the_environment_or_creates_nothing(
    mollie: tuple[MollieProvider, type[FakeMollie]],
) -> None:
    from engine.messages.payments.configured import provider_from_env

    assert isinstance(provider_from_env({}), NotConfiguredProvider)
    base = str(mollie[0]._client.base_url).rstrip("/")
    provider = provider_from_env(
        {"PAYJOURNEY_MOLLIE_API_KEY": "test_env", "PAYJOURNEY_MOLLIE_BASE_URL": base}
    )
    try:
        assert provider.name == "mollie"
        assert provider.create_link(_request()).url
        assert mollie[1].requests[-1]["auth"] == "Bearer test_env"
    finally:
        provider.close()


def test_barzahlen_slips_come_from_the_environment_beside_mollie() -> None:
    """With Mollie and Barzahlen both configured, iDEAL goes to Mollie and cash slips to
    Barzahlen; Barzahlen set only in part is refused at start, naming what is missing."""
    from engine.messages.payments.configured import PaymentConfigError, provider_from_env

    barzahlen = {
        "PAYJOURNEY_BARZAHLEN_DIVISION_ID": "12345",
        "PAYJOURNEY_BARZAHLEN_PAYMENT_KEY": "key",
        "PAYJOURNEY_BARZAHLEN_SLIP_URL": "https://pay.example/slip/{id}",
    }
    alone = provider_from_env(barzahlen)
    both = provider_from_env({**barzahlen, "PAYJOURNEY_MOLLIE_API_KEY": "test_env"})
    try:
        assert alone.name == "barzahlen" and alone.supports("barzahlen")
        assert not alone.supports("ideal")
        assert both.name == "chain" and both.supports("ideal") and both.supports("barzahlen")
    finally:
        alone.close()
        both.close()
    with pytest.raises(PaymentConfigError, match="PAYJOURNEY_BARZAHLEN_SLIP_URL"):
        provider_from_env({k: v for k, v in barzahlen.items() if "SLIP" not in k})


@given(
    name=st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=255, blacklist_categories=("Cc",)),
        min_size=1,
        max_size=70,
    ).filter(lambda n: n.strip() == n and n != ""),
    cents=st.integers(min_value=1, max_value=99_999_999_999),
    reference=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=21),
)
def test_any_valid_input_gives_an_epc_payload_that_reads_back(
    name: str, cents: int, reference: str
) -> None:
    amount = Decimal(cents) / 100
    rf = rf_reference(reference)
    payload = epc_payload(name=name, iban="DE89370400440532013000", amount=amount, reference=rf)
    lines = payload.split("\n")
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert lines[5] == name and lines[6] == "DE89370400440532013000"
    assert Decimal(lines[7].removeprefix("EUR")) == amount
    assert lines[9] == rf and is_rf_reference(lines[9])
    assert len(payload.encode("utf-8")) <= 331


# ------------------------------------------------------------------ edges a slip would cross


def test_an_rf_reference_takes_1_to_21_letters_or_digits() -> None:
    """21 characters make a 25-character reference; 22, or none left after cleaning, are refused."""
    assert rf_reference("A") == "RF" + f"{98 - int('10271500') % 97:02d}" + "A"
    longest = rf_reference("x" * 21)
    assert len(longest) == 25 and longest.endswith("X" * 21) and is_rf_reference(longest)
    for bad in ("x" * 22, "--- ///", ""):
        with pytest.raises(PaymentError, match="1-21 letters or digits"):
            rf_reference(bad)


def test_rf_check_digits_below_ten_keep_their_leading_zero() -> None:
    """The ISO 11649 check digits are always two: RF04..., never RF4...."""
    references = {body: rf_reference(body) for body in map(str, range(300))}
    assert all(r[2:4].isdigit() and r[4:] == body for body, r in references.items())
    assert any(r[2] == "0" for r in references.values())
    assert all(is_rf_reference(r) for r in references.values())


def test_only_a_real_rf_reference_is_recognised() -> None:
    """Spaces and case do not matter; wrong digits, another prefix or over 25 characters do."""
    good = rf_reference("INV-2026-0042")
    assert is_rf_reference(good.lower())
    assert is_rf_reference(" ".join(good[i : i + 4] for i in range(0, len(good), 4)))
    assert not is_rf_reference("XX" + good[2:])
    assert not is_rf_reference(good[:2] + f"{(int(good[2:4]) + 1) % 100:02d}" + good[4:])
    body = "1" * 22  # one character more than ISO 11649 allows, with correct check digits
    too_long = f"RF{98 - mod97(body + 'RF00'):02d}{body}"
    assert mod97(too_long[4:] + too_long[:4]) == 1
    assert not is_rf_reference(too_long)


def test_a_non_rf_reference_and_a_text_go_together_in_the_remittance_text_cut_at_140() -> None:
    """Unstructured: "reference text" in field 11, at most 140 characters, field 10 empty."""
    both = _lines(
        epc_payload(
            name="X", iban="NL91ABNA0417164300", amount=Decimal(1), reference="R-7", text="Danke"
        )
    )
    assert both[9:] == ["", "R-7 Danke"]
    text_only = _lines(
        epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), text="t")
    )
    assert text_only[9:] == ["", "t"]
    long = _lines(
        epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), text="y" * 200)
    )
    assert long[10] == "y" * 140
    rf = rf_reference("C1")
    structured = _lines(
        epc_payload(
            name="X", iban="NL91ABNA0417164300", amount=Decimal(1), reference=rf.lower(), text="t"
        )
    )
    assert structured[9:] == [rf]  # an RF reference is structured; no text beside it


def test_the_epc_amount_range_includes_both_ends() -> None:
    """0.01 EUR and 999,999,999.99 EUR are payable; one cent outside either is not."""
    for amount, line in (
        (Decimal("0.01"), "EUR0.01"),
        (Decimal("999999999.99"), "EUR999999999.99"),
    ):
        assert _lines(epc_payload(name="X", iban="NL91ABNA0417164300", amount=amount))[7] == line
    for amount in (Decimal("0.009"), Decimal("1000000000.00")):
        with pytest.raises(PaymentError, match=r"0\.01-999999999\.99"):
            epc_payload(name="X", iban="NL91ABNA0417164300", amount=amount)


def test_the_beneficiary_name_is_trimmed_and_1_to_70_characters() -> None:
    """Spaces around the name go; 70 characters fit; a blank name is refused."""
    payload = epc_payload(name="  " + "n" * 70 + " ", iban="NL91ABNA0417164300", amount=Decimal(1))
    assert _lines(payload)[5] == "n" * 70
    with pytest.raises(PaymentError, match="1-70 characters"):
        epc_payload(name="   ", iban="NL91ABNA0417164300", amount=Decimal(1))


def test_a_bic_is_written_compact_in_capitals_and_may_have_a_branch_code() -> None:
    """'abna nl 2a' becomes ABNANL2A; an 11-character BIC with branch code is accepted."""
    lines = _lines(
        epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), bic="abna nl 2a")
    )
    assert lines[4] == "ABNANL2A"
    branch = epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), bic="DEUTDEFF500")
    assert _lines(branch)[4] == "DEUTDEFF500"
    for bad in ("ABNANL2", "ABNANL2AX", "1BNANL2A"):
        with pytest.raises(PaymentError, match="valid BIC"):
            epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), bic=bad)


def test_a_payload_over_331_bytes_is_refused_not_cut() -> None:
    """A 70-character name of 3-byte letters pushes the payload past 331 bytes: an error."""
    fits = epc_payload(name="é" * 70, iban="NL91ABNA0417164300", amount=Decimal(1), text="t" * 90)
    assert len(fits.encode("utf-8")) <= 331
    with pytest.raises(PaymentError, match="longer than 331 bytes"):
        epc_payload(name="€" * 70, iban="NL91ABNA0417164300", amount=Decimal(1), text="t" * 140)


def _segno_code(payload: str) -> segno.QRCode:
    """The reference: segno's code of the payload's UTF-8 bytes, one byte segment, level M never
    boosted, the fixed mask (what messages carried before the code was made in this project)."""
    return segno.make(
        payload.encode("utf-8"), error="m", boost_error=False, micro=False, mask=EPC_QR_MASK
    )


def test_the_epc_qr_code_holds_the_utf8_payload_at_error_correction_m() -> None:
    """EPC069-12: level M, never boosted, the payload's UTF-8 bytes (line 3 says "1" = UTF-8)."""
    for name in ("N", "Bäcker & Söhne"):  # a short payload would fit a higher level unboosted
        payload = epc_payload(name=name, iban="NL91ABNA0417164300", amount=Decimal(1))
        expected = _segno_code(payload)
        assert expected.error == "M" and expected.mode == "byte" and not expected.is_micro
        assert epc_qr(payload).tolist() == [[bool(m) for m in row] for row in expected.matrix]
    assert qr_png(payload)[:8] == b"\x89PNG\r\n\x1a\n"


@given(
    text=st.text(
        alphabet=st.characters(min_codepoint=10, max_codepoint=0x20AC, exclude_categories=("Cs",)),
        max_size=200,
    ),
    lines=st.integers(min_value=0, max_value=3),
)
def test_every_epc_qr_code_is_module_for_module_the_one_segno_makes(text: str, lines: int) -> None:
    """Any payload of 1 to 331 UTF-8 bytes (every version 1-13): the same modules as segno's
    code with one byte segment, level M and mask 4, function patterns, format and all."""
    payload = ("BCD\n" * lines + text).encode("utf-8")[:331] or b"B"
    expected = segno.make(
        payload, error="m", boost_error=False, micro=False, mask=EPC_QR_MASK, mode="byte"
    )
    assert expected.version == version_for(len(payload)) <= 13
    assert epc_qr_matrix(payload).tolist() == [[bool(m) for m in row] for row in expected.matrix]


#: The most bytes a level-M code of version 1, 2, ... 13 holds in one byte segment.
_VERSION_CAPACITY = (14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331)


@pytest.mark.parametrize(
    "length", sorted({1, *_VERSION_CAPACITY, *(c + 1 for c in _VERSION_CAPACITY[:-1])})
)
def test_an_epc_qr_code_at_each_version_boundary_reads_back_at_level_m(length: int) -> None:
    """At the lengths where the version steps up, zxing-cpp reads the bytes back, and reports
    level M, mask 4 and a version no higher than EPC069-12's 13."""
    import io

    import zxingcpp
    from PIL import Image

    payload = ("BCD\n002\n1\nSCT\nÄ" + "x" * 400).encode("utf-8")[:length]
    image = png_bytes(epc_qr_matrix(payload), scale=3)
    found = zxingcpp.read_barcode(Image.open(io.BytesIO(image)))
    assert found is not None and found.bytes == payload
    assert found.extra["ECLevel"] == "M" and found.extra["DataMask"] == EPC_QR_MASK
    version = int(found.extra["Version"])
    assert version == version_for(length) <= 13
    assert length <= _VERSION_CAPACITY[version - 1]
    assert version == 1 or length > _VERSION_CAPACITY[version - 2]  # the smallest that holds it


def test_a_payload_longer_than_a_version_13_code_holds_is_refused() -> None:
    """332 bytes do not fit level M at version 13: an error naming what to shorten."""
    with pytest.raises(QrTooLong) as error:
        epc_qr_matrix(b"x" * 332)
    assert str(error.value) == (
        "332 bytes do not fit an EPC QR code (version 13, level M holds 331); shorten the name"
        " or the remittance text"
    )


def test_a_spaced_rf_reference_is_written_compact_in_the_structured_field() -> None:
    """'RF18 5390 0754 7034' as people type it becomes RF18539007547034 in field 10."""
    lines = _lines(
        epc_payload(
            name="X", iban="NL91ABNA0417164300", amount=Decimal(1), reference="rf18 5390 0754 7034"
        )
    )
    assert lines[9:] == ["RF18539007547034"]


def test_a_remittance_text_ending_in_x_is_kept_whole() -> None:
    """Only empty trailing fields are dropped, never the end of the text."""
    lines = _lines(epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), text="Box"))
    assert lines[10] == "Box"
    for text in ("TAX", "Invoice 7 X"):
        lines = _lines(
            epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), text=text)
        )
        assert lines[10] == text
    rf = rf_reference("BOX")
    lines = _lines(
        epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), reference=rf)
    )
    assert lines[9] == rf and rf.endswith("X")


def test_a_remittance_text_is_one_line_without_blanks_at_its_end() -> None:
    """A line break in a reference or text would end field 11 and start a twelfth, which a
    banking app reads as the note to the payer: it becomes a space. Blanks at the end of the
    text, or where the cut at 140 falls, are dropped."""

    def remittance(**given: str) -> list[str]:
        return _lines(epc_payload(name="X", iban="NL91ABNA0417164300", amount=Decimal(1), **given))

    assert remittance(reference="INV-17", text="Danke\nsehr\r\n")[9:] == ["", "INV-17 Danke sehr"]
    assert remittance(text="Danke  \t")[9:] == ["", "Danke"]
    assert remittance(text="y" * 139 + " z")[10] == "y" * 139


def test_a_payload_of_exactly_331_bytes_is_allowed() -> None:
    """331 bytes is the EPC limit itself: allowed; one byte more is refused with the reason."""
    name = "€" * 70  # 3 bytes a letter: with a text of at most 140, the payload can pass 331

    def payload(text: str) -> str:
        return epc_payload(name=name, iban="NL91ABNA0417164300", amount=Decimal(1), text=text)

    text = "t" * (1 + 331 - len(payload("t").encode("utf-8")))
    assert len(payload(text).encode("utf-8")) == 331
    with pytest.raises(PaymentError) as error:
        payload(text + "t")
    assert str(error.value) == "the EPC payload is longer than 331 bytes; shorten name or text"


def test_a_blank_beneficiary_name_is_refused_with_the_rule() -> None:
    """The message says what a name must be."""
    with pytest.raises(PaymentError) as error:
        epc_payload(name=" ", iban="NL91ABNA0417164300", amount=Decimal(1))
    assert str(error.value) == "the beneficiary name must be 1-70 characters"


@pytest.mark.parametrize(
    "iban",
    [
        "NL91ABNA0417164301",  # check digits wrong
        "NL91ABNA041716",  # too short for any country
        "N191ABNA0417164300",
        "NL9XABNA0417164300",
        "NL91ABNA0417164300" + "0" * 17,  # longer than 34
    ],
)
def test_an_iban_with_a_wrong_form_or_check_digits_is_refused(iban: str) -> None:
    """Letters where digits belong, wrong lengths or check digits: InvalidIban names the setting."""
    with pytest.raises(InvalidIban, match="check the creditor's IBAN setting"):
        normalise_iban(iban)


def test_the_longest_and_shortest_ibans_are_accepted_and_grouped_by_four() -> None:
    """Norway's 15-character IBAN and a 34-character one pass; groups of four, the rest last."""
    assert format_iban("NO9386011117947") == "NO93 8601 1117 947"
    assert normalise_iban("NO93 8601\t1117 947") == "NO9386011117947"
    assert mod97("NO9386011117947"[4:] + "NO93") == 1
    assert mod97("1") == 1 and mod97("A") == 10 and mod97("Z") == 35 and mod97("97") == 0

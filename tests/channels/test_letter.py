"""Letters: Pingen's upload-then-send, and the print house's drop folder with its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.base import OutgoingMessage
from channels.letter import DropFolderLetterChannel, DropFolderSettings
from tests.channels.conftest import ADDRESS, ChannelCase, letter_pdf
from tests.channels.providers import PingenFake
from tests.channels.servers import ProviderServer


def test_pingen_gets_the_uploaded_pdf_and_a_letter_that_sends_itself(
    pingen_case: ChannelCase, http_server: ProviderServer
) -> None:
    """Upload first, then create with auto_send; the letter names the uploaded file."""
    receipt = pingen_case.channel.send(pingen_case.message("L-1"))
    paths = [(r.method, r.path) for r in http_server.requests]
    assert paths[0] == ("POST", "/auth/access-tokens")
    assert paths[1] == ("GET", "/file-upload")
    assert paths[2][0] == "PUT"
    assert paths[3] == ("POST", f"/organisations/{PingenFake.organisation_id}/letters")
    created = http_server.requests[3]
    assert created.headers["idempotency-key"] == "L-1"
    attributes = created.json()["data"]["attributes"]
    assert attributes["auto_send"] is True and attributes["delivery_product"] == "cheap"
    assert http_server.requests[2].body == letter_pdf().data
    assert receipt.cost["pages"] == "2"


def test_registered_mail_picks_pingens_registered_product(
    pingen_case: ChannelCase, http_server: ProviderServer
) -> None:
    pingen_case.channel.send(pingen_case.message("L-2", metadata={"registered": "true"}))
    assert http_server.requests[-1].json()["data"]["attributes"]["delivery_product"] == "sign"


def test_a_retried_letter_is_the_same_pingen_letter(pingen_case: ChannelCase) -> None:
    """The same Idempotency-Key gives the letter Pingen already has, never a second one."""
    first = pingen_case.channel.send(pingen_case.message("L-3"))
    again = pingen_case.channel.send(pingen_case.message("L-3"))
    assert first.provider_message_id == again.provider_message_id


def test_the_token_is_fetched_once_for_many_letters(
    pingen_case: ChannelCase, http_server: ProviderServer
) -> None:
    pingen_case.channel.send(pingen_case.message("L-4"))
    pingen_case.channel.send(pingen_case.message("L-5"))
    assert [r.path for r in http_server.requests].count("/auth/access-tokens") == 1


def letter(key: str, **metadata: str) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=key,
        channel="letter",
        recipient=ADDRESS,
        locale="de_DE",
        text="",
        attachments=(letter_pdf(3),),
        customer_id="C-7",
        metadata=metadata,
    )


@pytest.mark.parametrize("manifest", ["csv", "json"])
def test_the_drop_folder_holds_each_pdf_and_its_manifest_row(tmp_path: Path, manifest: str) -> None:
    """One PDF per letter; the manifest names it, the address, pages and postage class."""
    channel = DropFolderLetterChannel(DropFolderSettings(folder=tmp_path, manifest=manifest))  # type: ignore[arg-type]
    first = channel.send(letter("L-1"))
    channel.send(letter("L-2", registered="true"))
    rows = channel.manifest_rows()
    assert [r["message_id"] for r in rows] == ["L-1", "L-2"]
    assert rows[0]["recipient_address"] == ADDRESS
    assert rows[0]["pages"] == "3"
    assert [r["postage"] for r in rows] == ["standard", "registered"]
    assert (tmp_path / first.provider_message_id).read_bytes() == letter_pdf(3).data
    if manifest == "json":
        assert (
            json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])["file"]
            == first.provider_message_id
        )


def test_a_resent_letter_is_not_printed_twice(tmp_path: Path) -> None:
    channel = DropFolderLetterChannel(DropFolderSettings(folder=tmp_path))
    channel.send(letter("L-1"))
    channel.send(letter("L-1"))
    assert len(channel.manifest_rows()) == 1
    assert len(list(tmp_path.glob("*.pdf"))) == 1


def test_a_letter_without_a_pdf_is_a_programming_error(tmp_path: Path) -> None:
    channel = DropFolderLetterChannel(DropFolderSettings(folder=tmp_path))
    with pytest.raises(ValueError, match="letter_pdf"):
        channel.send(
            OutgoingMessage(
                idempotency_key="x",
                channel="letter",
                recipient=ADDRESS,
                locale="nl_NL",
                text="brief",
            )
        )

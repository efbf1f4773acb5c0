"""Every EPC QR code reads back: zbarimg (Debian's zbar-tools) decodes thousands of codes.

    python bench/qr_decode.py [--codes 2000]

The codes are made the way messages make them (engine.messages.payments.qr: one byte segment,
level M, mask 4; Pillow's PNG) from varied payloads: names with umlauts, amounts from 0.01 to
the EPC maximum, RF references and free text. Prints how many decoded to exactly their payload,
and the time per code (modules, and modules + PNG) against segno with the same fixed mask.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import segno  # noqa: E402

from engine.messages.payments.bank_transfer import epc_payload, epc_qr, png_bytes, qr_png  # noqa: E402
from engine.messages.payments.options import payment_reference  # noqa: E402

NAMES = ("Voorbeeld Incasso B.V.", "Bäcker & Söhne GmbH", "N", "Jansen Installatietechniek B.V.")
IBANS = ("NL91ABNA0417164300", "DE89370400440532013000")


def payloads(count: int, rng: random.Random) -> list[str]:
    out = []
    for n in range(count):
        reference = (
            payment_reference(f"C-{rng.randint(1, 10**9)}")
            if n % 3
            else f"Rechnung {rng.randint(1, 10**6)} Kunde {'ü' * rng.randint(0, 40)}"
        )
        amount = Decimal(rng.choice((1, rng.randint(1, 10**5), rng.randint(1, 10**11 - 1)))) / 100
        out.append(
            epc_payload(
                name=rng.choice(NAMES), iban=rng.choice(IBANS), amount=amount, reference=reference
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codes", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("zbarimg") is None:
        sys.exit("zbarimg not found: apt-get install zbar-tools")
    texts = payloads(args.codes, random.Random(7))
    started = time.process_time()
    for text in texts[:200]:
        segno.make(text.encode("utf-8"), error="m", boost_error=False, micro=False, mask=4)
    segno_time = (time.process_time() - started) / 200
    started = time.process_time()
    for text in texts[:200]:
        epc_qr(text)
    ours = (time.process_time() - started) / 200
    started = time.process_time()
    for text in texts[:200]:
        png_bytes(epc_qr(text), scale=4)
    with_png = (time.process_time() - started) / 200
    failures = 0
    with tempfile.TemporaryDirectory(prefix="pj-qr-") as tmp:
        for start in range(0, len(texts), 200):
            chunk = texts[start : start + 200]
            files = []
            for n, text in enumerate(chunk):
                path = Path(tmp) / f"{start + n}.png"
                path.write_bytes(qr_png(text, scale=rng_scale(n)))
                files.append(str(path))
            for file, text in zip(files, chunk, strict=True):
                # one file per call: zbarimg's output gives no file name per code. -Sbinary:
                # the bytes as encoded; without it zbar guesses a charset and reads the UTF-8
                # "ü" as Shift-JIS (with segno's own mask choice too), though the payload's
                # third line says UTF-8 to a banking app
                result = subprocess.run(
                    [
                        "zbarimg",
                        "--quiet",
                        "--raw",
                        "-Sdisable",
                        "-Sqrcode.enable",
                        "-Sbinary",
                        file,
                    ],
                    capture_output=True,
                )
                if result.stdout.decode("utf-8", "replace").rstrip("\n") != text:
                    failures += 1
                    print(f"not read back: {file}", file=sys.stderr)
    print(f"{len(texts)} codes, {len(texts) - failures} read back exactly by zbarimg")
    print(
        f"make a code: {ours * 1000:.3f} ms ({with_png * 1000:.3f} ms with its PNG) vs"
        f" {segno_time * 1000:.2f} ms for segno's (same mask, without PNG)"
    )
    sys.exit(1 if failures else 0)


def rng_scale(n: int) -> int:
    """The email's scale 4 and the letter's 6, and the smallest that still works, 2."""
    return (4, 6, 2)[n % 3]


if __name__ == "__main__":
    main()

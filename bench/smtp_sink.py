"""An SMTP sink in its own process (aiosmtpd): accepts everything, writes each Message-ID to a
file, one line per message. `python bench/smtp_sink.py PORT IDS_FILE`; stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID: (.+?)\r?$", re.MULTILINE | re.IGNORECASE)


class Recorder:
    def __init__(self, path: str) -> None:
        self.out = open(path, "ab", buffering=1 << 16)  # noqa: SIM115 - closed at exit

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content)
        self.out.write((found.group(1) if found else b"<missing>") + b"\n")
        return "250 OK"


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    recorder = Recorder(path)
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    controller.stop()
    recorder.out.close()


if __name__ == "__main__":
    main()

"""Worker process: draft and fully sign certificates for the given runs (concurrency test).

The worker connects and warms up first, prints ``ready`` and waits for a line on
stdin: the test releases all workers at once, so their drafts (which take the
numbers) really contend.
"""

from __future__ import annotations

import sys

from lims.certificates import Meaning
from lims.db import Database
from lims.services.certificates import draft_certificate, sign_certificate
from tests.certificate_service.builder import PASSWORDS, POLICY, user


def main(url: str, run_ids: list[int]) -> None:
    db = Database(url)
    try:
        drafter = user(db, "zhang")  # connects and loads the models before the start line
        print("ready", flush=True)
        sys.stdin.readline()
        for run_id in run_ids:
            number = draft_certificate(db, drafter, run_id).number
            for username, meaning in (
                ("zhang", Meaning.PERFORMED),
                ("li", Meaning.REVIEWED),
                ("wang", Meaning.APPROVED),
            ):
                sign_certificate(db, number, username, PASSWORDS[username], meaning, POLICY)
            print(number, flush=True)
    finally:
        db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], [int(a) for a in sys.argv[2:]])

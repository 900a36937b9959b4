"""`lapor complaint-id-key FILE`: intake's own operator command (registered through the
`lapor.commands` entry point): writes a new deployment's tracking-id key, once. Complaint ids
are keyed with it (services/domain/complaint_id.py); a key already there is kept, never
replaced (ids would change for re-sent submissions), and no key is ever printed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from services.domain.complaint_id import load_key, new_key
from services.runtime.settings import Settings


def _key(args: argparse.Namespace, _settings: Settings) -> int:
    path: Path = args.file
    if path.exists():
        load_key(path)  # a key too short or unreadable is an error, not a kept key
        print(f"{path}: a complaint id key is there already: kept")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(new_key() + "\n")
    print(f"{path}: a new complaint id key written (0600); back it up with the CA, never change it")
    return 0


def register(sub: Any) -> None:
    k = sub.add_parser("complaint-id-key", help="write the deployment's tracking-id key (once; "
                       "intake's LAPOR_COMPLAINT_ID_KEY_FILE)")
    k.add_argument("file", type=Path, help="where the key goes (kept if a key is there already)")
    k.set_defaults(handler=_key)

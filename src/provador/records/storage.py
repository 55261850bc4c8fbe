"""Where a study lives: the journal file in its folder (one machine, any number of local
workers) or a PostgreSQL database (workers on many machines run the same command)."""

from __future__ import annotations

import os
import random
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from provador.base._install import pip_install
from provador.base.choices import HEARTBEAT
from provador.base.errors import StorageError
from provador.base.i18n import N_, _

JOURNAL_FILE = "journal.log"


@dataclass(frozen=True)
class Storage:
    """A study's storage, parsed once where it is given (`tune --storage`, `studies --storage`),
    before any data is loaded: the journal file in the study folder, or a PostgreSQL database."""

    url: str | None = None  # as given, password included (never printed: `masked` is); None: the journal

    @classmethod
    def parse(cls, given: str | Storage | None) -> Storage:
        """A Storage for `--storage`'s value; a StorageError for anything but a PostgreSQL URL."""
        if isinstance(given, Storage):
            return given
        if given is None:
            return cls()
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(storage_url(given))
        except (ArgumentError, ValueError) as exc:
            raise StorageError(
                _("Expected --storage to be a PostgreSQL URL such as postgresql://user@host/database. Received "
                  "{value!r}: {reason}").format(value=masked(given), reason=exc)
            ) from None  # fmt: skip
        return cls(given)

    @property
    def is_journal(self) -> bool:
        return self.url is None

    @property
    def masked(self) -> str:
        """What may be printed or written in study.json (marked for translation when the journal)."""
        return masked(self.url)

    def open(self, folder: Path, heartbeat: int = HEARTBEAT):
        return open_storage(self.url, folder, heartbeat)

    def same_database(self, recorded: str) -> bool:
        return self.url is not None and same_database(recorded, self.url)


def storage_url(storage: str) -> str:
    """SQLAlchemy's URL for a `postgresql://` address, on psycopg 3."""
    if not re.match(r"postgres(ql)?(\+psycopg)?://", storage):
        raise StorageError(
            _(
                "Expected --storage to be a PostgreSQL URL such as postgresql://user@host/database (or no --storage, "
                "for the embedded journal file in the study folder). Received: {value!r}"
            ).format(value=storage)
        )
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql+psycopg://", storage)


def masked(storage: str | None) -> str:
    """The storage URL without its password, fit to print and to write in study.json."""
    if storage is None:
        return N_("embedded journal file")  # data (study.json); translated where printed
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", storage)


def check_journal(path: Path) -> None:
    """Mend or refuse a damaged journal before Optuna reads or appends to it.

    Every record is one JSON line, appended whole under a lock, so a last line without its end
    is a write that never finished (a killed process, a full disk): Optuna would append the next
    record right onto it and never read the file again. That fragment is moved to a file beside
    the journal and the study goes on from the last whole record. Damage anywhere else is not a
    cut write: the journal is refused, naming the line."""
    import json
    import sys

    data = path.read_bytes()
    whole = data.rfind(b"\n") + 1
    if whole < len(data):
        kept = path.with_name(f"{path.name}.cut-{time.strftime('%Y%m%d-%H%M%S')}")
        kept.write_bytes(data[whole:])
        with path.open("r+b") as f:
            f.truncate(whole)
            os.fsync(f.fileno())
        print(
            _(
                "Warning: {path} ended in a half-written record ({size} bytes, kept in {kept}); the study goes on from "
                "the last whole record."
            ).format(path=path, size=len(data) - whole, kept=kept),
            file=sys.stderr,
        )
    for number, line in enumerate(data[:whole].splitlines(), start=1):
        try:
            json.loads(line)
        except (ValueError, RecursionError):
            raise StorageError(
                _(
                    "{path} is damaged at line {number} (not a journal record). Restore it from a copy, or move the "
                    "study folder away to start the search again."
                ).format(path=path, number=number)
            ) from None


def same_database(a: str, b: str) -> bool:
    """Whether two PostgreSQL URLs (a password masked or not) name the same database: host, port,
    database and user."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        first, second = make_url(storage_url(a)), make_url(storage_url(b))
    except (ArgumentError, ValueError, StorageError):
        return False
    where = lambda url: (url.host or "", url.port or 5432, url.database, url.username)  # noqa: E731
    return where(first) == where(second)


def open_storage(storage: str | None, folder: Path, heartbeat: int = HEARTBEAT):
    """The study's storage: the journal file in `folder`, or a PostgreSQL database."""
    if storage is None:
        from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / JOURNAL_FILE
        lock = JournalFileSymlinkLock(str(path))  # the lock Optuna's own writes take
        if path.is_file():
            lock.acquire()
            try:
                check_journal(path)
            finally:
                lock.release()
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    url = storage_url(storage)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageError(
            _("--storage postgresql://… needs the PostgreSQL driver psycopg 3: {command}").format(
                command=pip_install("postgres")
            )
        ) from None
    import optuna  # here: listing studies needs no Optuna
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs={"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}},
                    heartbeat_interval=max(1, heartbeat // 4),
                    grace_period=heartbeat,
                )
        except sqlalchemy.exc.OperationalError as exc:
            raise StorageError(_unreachable(storage, exc)) from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Two workers creating Optuna's tables at the same moment: the loser tries again.
            time.sleep(random.uniform(0.2, 1.0) * (attempt + 1))
    raise StorageError(
        _("Could not set up Optuna's tables in {storage}: five tries collided with other workers.").format(
            storage=masked(storage)
        )
    )


def _unreachable(storage: str, exc: Exception) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(storage_url(storage))
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    where = (url.host or _("the local socket")) + (f":{url.port}" if url.port else "")
    return (
        _("Cannot reach the PostgreSQL database `{database}` on {where} as user `{user}`: {reason}").format(
            database=url.database, where=where, user=url.username, reason=reason
        )
        + "\n"
        + _(
            "Check that the server runs and accepts connections from this machine, that the database exists "
            "(createdb NAME) and that the user may log in (a password goes in the URL or in ~/.pgpass)."
        )
    )

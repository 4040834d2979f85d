"""The data-folder lock: one writer of a data folder's warehouse at a time, across processes."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_FILE = ".pipeline.lock"


@contextlib.contextmanager
def data_folder_lock(data_dir: Path, echo: Callable[[str], None] = print) -> Iterator[None]:
    """Held by `cirm run` (and `cirm erase`) for their whole work: a second one waits its turn
    instead of failing on DuckDB's file lock. The OS frees the lock even if the holder is killed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo("another `cirm run` is writing this warehouse; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield

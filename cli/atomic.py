"""Files written whole or not at all, without trusting the directory they are written into.

A report or page is written to a temporary file created exclusively in the target directory
(`tempfile.mkstemp`: O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, a random name), so a symbolic link
planted at a predictable name is never followed; it is fsynced, given the mode the umask gives a
new file (0644 with the usual 022), and renamed over the target. Temporary names carry a fixed
prefix, this host and the writing process id, so the next run in a directory removes what a killed
run left behind, and only that: another tool's files, and those of a run still alive, are kept.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path

TEMP_PREFIX = ".brandscan-tmp-"
TEMP_SUFFIX = ".tmp"
# A temporary file lives for the milliseconds of one write. One this old whose writer we cannot
# check (another host sharing the directory) was left by a run that died.
_STALE_SECONDS = 3600.0


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _umask() -> int:
    # The umask can only be read by setting it; set it straight back (one thread writes reports).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` holds either the old content or all of the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{TEMP_PREFIX}{_host()}-{os.getpid()}-"
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fchmod(stream.fileno(), 0o666 & ~_umask())  # as if created with open(); mkstemp gives 0600
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_leftovers(directory: Path) -> int:
    """Remove the temporary files killed runs left in `directory` (not its subdirectories).
    Returns how many were removed; a directory that cannot be listed is left alone."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    host, removed = _host(), 0
    for entry in entries:
        if not (entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)):
            continue
        parts = entry.name[len(TEMP_PREFIX):].split("-")
        try:
            writer_host, pid = parts[0], int(parts[1])
            stat = entry.stat(follow_symlinks=False)
        except (IndexError, ValueError, OSError):
            continue
        dead = writer_host == host and pid != os.getpid() and not _alive(pid)
        if dead or time.time() - stat.st_mtime > _STALE_SECONDS:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed

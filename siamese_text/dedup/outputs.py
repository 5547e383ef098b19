"""Outputs written atomically: a temporary file beside each, renamed into place when all are done.

Every output goes to a temporary file beside its destination (`.NAME.tmp-*`, same file system)
and is renamed into place only when all of them are complete. A replaced output is kept aside
(`.NAME.old-*`, a hard link) until every rename has succeeded, so a failed rename puts back the
outputs already replaced; a killed run leaves each output whole, old or new, and the next run
removes its leftovers (`remove_stale_files`). Both engines commit this way: the local one writes
its temporary files in this process, the Ray engine in one task per shard.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from siamese_text.model.crash_points import crash_point

WORK_PREFIX = ".siamese-text-work-"  # + PID-RANDOM: a run's temporary folder (the stdin spool)


def commit(temps: Sequence[tuple[Path, Path]]) -> None:
    """Rename every finished temporary file into place. A replaced output is kept aside until all
    renames have succeeded; if one fails, every output renamed so far is put back as it was."""
    done: list[tuple[Path, Path | None]] = []  # (output, its old content kept aside or None)
    try:
        for tmp, final in temps:
            done.append((final, _keep_aside(final)))
            os.replace(tmp, final)
            crash_point("dedup.renamed")
    except BaseException:
        for final, old in reversed(done):
            with contextlib.suppress(OSError):  # put back as many as can be; the first error is raised
                if old is not None:
                    os.replace(old, final)
                    old.unlink(missing_ok=True)  # still there when both named one file: rename does nothing then
                else:
                    final.unlink(missing_ok=True)
        raise
    for _, old in done:
        if old is not None:
            old.unlink(missing_ok=True)
            crash_point("dedup.old-removed")


def _keep_aside(final: Path) -> Path | None:
    """A second name (`.NAME.old-*`) for the file at `final` before it is replaced; None if none is there.

    A hard link, so `final` stays in place until the new file replaces it in one rename; where
    the file system has none, `final` is renamed aside (and put back by `remove_stale_files` if
    the run is killed before the new file is in).
    """
    if not (final.exists() or final.is_symlink()):
        return None
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        os.link(final, old, follow_symlinks=False)
    except OSError:
        os.replace(final, old)
    crash_point("dedup.old-kept")
    return old


def temp_for(path: Path, tag: str | None = None) -> Path:
    """A temporary name beside `path` (`.NAME.tmp-TAG`, a random TAG by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{tag or uuid.uuid4().hex[:8]}")


def remove_stale_files(path: Path) -> None:
    """Remove the temporary files a killed run left beside output `path` (`.NAME.tmp-*`), and its
    kept-aside old copies (`.NAME.old-*`), putting one back when `path` itself is missing."""
    pattern = f".{glob.escape(path.name)}"
    for stale in path.parent.glob(pattern + ".tmp-*"):
        with contextlib.suppress(OSError):
            stale.unlink()
    for stale in path.parent.glob(pattern + ".old-*"):
        if path.exists() or path.is_symlink():  # the old copy is garbage
            with contextlib.suppress(OSError):
                stale.unlink()
        else:  # killed between renaming the old file aside and the new one in
            os.replace(stale, path)


@contextlib.contextmanager
def work_folder(where: Path | None) -> Iterator[Path]:
    """A temporary folder for one run (`.siamese-text-work-PID-*` in `where`), removed on exit.

    Beside the outputs rather than in the system's temporary directory, so that what a run holds
    there is on the outputs' file system and in sight; folders of runs whose process is gone
    (killed) are removed first. `where=None` (a run without outputs): the system's temporary
    directory.
    """
    if where is None:
        with tempfile.TemporaryDirectory(prefix="siamese-text-") as tmp:
            yield Path(tmp)
        return
    where.mkdir(parents=True, exist_ok=True)
    for stale in where.glob(WORK_PREFIX + "*"):
        pid = stale.name[len(WORK_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = where / f"{WORK_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process `pid` exists (on Windows, always assumed: there is no harmless probe)."""
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True

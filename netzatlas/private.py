"""Files the server keeps (deliveries, coverage rasters) readable by its own account only.

Modes are set explicitly with chmod, so they do not depend on the process's umask.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def secure_home(home: Path) -> Path:
    """Create the home directory 0700, or take group/other access away from an existing one.

    As root the embedded cluster runs as the postgres account; when its data lies under home (home/pg owned
    by another user), home keeps only the search bits (0711) so that account can still reach it."""
    home = home.expanduser().absolute()
    if not home.exists():
        home.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        os.chmod(home, DIR_MODE)
        return home
    st = home.stat()
    if st.st_uid != os.geteuid():
        return home  # not ours to change
    pg = home / "pg"
    foreign_cluster = pg.exists() and pg.stat().st_uid != st.st_uid
    want = DIR_MODE | (0o011 if foreign_cluster else 0)
    if stat.S_IMODE(st.st_mode) != want:
        os.chmod(home, want)
    return home


def private_dir(path: Path, home: Path) -> Path:
    """Create path (a directory under home) and make it and every directory between home and it 0700."""
    home = secure_home(home)
    path = path.expanduser().absolute()
    path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
    try:
        inner = path.relative_to(home)
    except ValueError:
        inner = None
    parts = [home.joinpath(*inner.parts[: i + 1]) for i in range(len(inner.parts))] if inner else [path]
    for d in parts:
        os.chmod(d, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make a file the server wrote (e.g. through GDAL) 0600."""
    os.chmod(path, FILE_MODE)
    return path


def private_copy(src: Path, dst: Path) -> Path:
    """Copy src to dst, created 0600 from the start (no moment in which others could open it)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # also when dst existed with another mode, and whatever the umask
    with open(fd, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 20)
    return dst

"""Is the ledger file on an encrypted block device? DuckDB here cannot write encrypted
files (its writer needs the OpenSSL module of httpfs, not installable here), so encryption
at rest is the volume's: a dm-crypt/LUKS device, found through sysfs.

The file's ``st_dev`` names its block device (``MAJ:MIN``); ``/sys/dev/block/MAJ:MIN``
is that device. A device-mapper device whose ``dm/uuid`` starts with ``CRYPT-`` is a
dm-crypt mapping; an LVM volume (or any other mapping) on top of one is followed down
through its ``slaves``. Anything else (a plain partition, tmpfs, overlay, a missing
sysfs) is not detected as encrypted; the operator may then attest it instead
(``--ledger-on-encrypted-volume``), and the posture says which it was.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSFS = "/sys"


def encrypted_device(path: str, sysfs: str = SYSFS) -> str | None:
    """``"dm-crypt device MAJ:MIN (uuid)"`` when ``path`` (the ledger file, or the
    folder it will be created in) lives on a dm-crypt device or on a mapping over one;
    ``None`` otherwise, and whenever sysfs cannot tell."""
    target = path if os.path.exists(path) else os.path.dirname(os.path.abspath(path))
    try:
        st_dev = os.stat(target).st_dev
    except OSError:
        return None
    return _crypt_below(Path(sysfs), f"{os.major(st_dev)}:{os.minor(st_dev)}", set())


def _crypt_below(sysfs: Path, devno: str, seen: set[str]) -> str | None:
    if devno in seen:  # sysfs has no cycles; a broken or hostile tree must not loop
        return None
    seen.add(devno)
    device = sysfs / "dev" / "block" / devno
    uuid = _read(device / "dm" / "uuid")
    if uuid and uuid.startswith("CRYPT-"):
        return f"dm-crypt device {devno} ({uuid})"
    try:
        slaves = sorted((device / "slaves").iterdir())
    except OSError:
        return None
    for slave in slaves:
        below = _read(slave / "dev")
        if below:
            found = _crypt_below(sysfs, below, seen)
            if found:
                return found
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""

"""Encryption at rest of the ledger: its file on a dm-crypt device is detected through
sysfs. No dm-crypt device exists on this machine, so the sysfs trees here are stand-ins
built in a tmp dir, shaped as the kernel's (/sys/dev/block/MAJ:MIN/dm/uuid, slaves/*/dev);
the real /sys is read by the last test, which finds no dm-crypt under a tmp file."""

from __future__ import annotations

import os

from genops_processor.storage import encrypted_device


def _devno(path) -> str:
    st_dev = os.stat(path).st_dev
    return f"{os.major(st_dev)}:{os.minor(st_dev)}"


def _device(sysfs, devno: str, uuid: str | None = None, slaves: dict[str, str] = {}):  # noqa: B006
    device = sysfs / "dev" / "block" / devno
    device.mkdir(parents=True, exist_ok=True)
    if uuid is not None:
        (device / "dm").mkdir(exist_ok=True)
        (device / "dm" / "uuid").write_text(uuid + "\n")
    for name, below in slaves.items():
        (device / "slaves" / name).mkdir(parents=True, exist_ok=True)
        (device / "slaves" / name / "dev").write_text(below + "\n")


def test_a_ledger_on_a_luks_mapping_is_detected(tmp_path):
    ledger = tmp_path / "genops.duckdb"
    ledger.write_bytes(b"")
    sysfs = tmp_path / "sys"
    _device(sysfs, _devno(ledger), "CRYPT-LUKS2-0123abcd-ledger")
    assert encrypted_device(str(ledger), str(sysfs)) == (
        f"dm-crypt device {_devno(ledger)} (CRYPT-LUKS2-0123abcd-ledger)"
    )


def test_lvm_over_luks_is_followed_down_its_slaves(tmp_path):
    sysfs = tmp_path / "sys"
    top = _devno(tmp_path)
    _device(sysfs, top, "LVM-abc", {"dm-0": "253:0"})
    _device(sysfs, "253:0", "CRYPT-LUKS2-deadbeef-cryptroot", {"sda2": "8:2"})
    _device(sysfs, "8:2")
    # a ledger not created yet: the folder it will be created in decides
    found = encrypted_device(str(tmp_path / "not-yet.duckdb"), str(sysfs))
    assert found == "dm-crypt device 253:0 (CRYPT-LUKS2-deadbeef-cryptroot)"


def test_plain_mappings_partitions_and_missing_sysfs_are_not_encrypted(tmp_path):
    sysfs = tmp_path / "sys"
    assert encrypted_device(str(tmp_path), str(sysfs)) is None  # no sysfs entry at all
    _device(sysfs, _devno(tmp_path), "LVM-plain", {"sda3": "8:3"})
    _device(sysfs, "8:3")
    assert encrypted_device(str(tmp_path), str(sysfs)) is None
    assert encrypted_device(str(tmp_path / "no" / "such" / "dir" / "x.db"), str(sysfs)) is None


def test_a_name_that_only_mentions_crypt_is_not_dm_crypt(tmp_path):
    sysfs = tmp_path / "sys"
    _device(sysfs, _devno(tmp_path), "LVM-CRYPT-lookalike")
    assert encrypted_device(str(tmp_path), str(sysfs)) is None


def test_a_cycle_of_slaves_ends(tmp_path):
    # sysfs has no cycles; a corrupt or hostile tree must not make the processor loop
    sysfs = tmp_path / "sys"
    top = _devno(tmp_path)
    _device(sysfs, top, "LVM-a", {"dm-9": "253:9"})
    _device(sysfs, "253:9", "LVM-b", {"dm-top": top})
    assert encrypted_device(str(tmp_path), str(sysfs)) is None


def test_the_real_sysfs_finds_no_dm_crypt_under_tmp_here(tmp_path):
    # this machine has no dm-crypt device (so the guide tests attest instead)
    assert encrypted_device(str(tmp_path / "genops.duckdb")) is None

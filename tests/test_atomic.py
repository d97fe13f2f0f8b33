import os
import stat
import time

import pytest

from sklearn_denoise._atomic import (
    STALE_AFTER_SECONDS,
    atomic_open,
    is_temporary_name,
    remove_stale_temporaries,
)


def test_successful_write_replaces_the_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with atomic_open(path) as fh:
        fh.write(b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(path, "x", encoding="utf-8") as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_new_file_gets_the_permissions_of_a_plain_open(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "a.bin", fsync=True) as fh:
            fh.write(b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644


def test_missing_folder_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_open(tmp_path / "missing" / "a.bin") as fh:
            fh.write(b"x")
    assert os.listdir(tmp_path) == []


def test_temporary_names_match_the_cleanup_pattern(tmp_path):
    with atomic_open(tmp_path / "img.png") as fh:
        (tmp,) = os.listdir(tmp_path)
        fh.write(b"x")
    assert is_temporary_name(tmp) and tmp.startswith(".img.png.")
    for name in (".a.png.0123456789ab.tmp", ".x.0123456789ab.tmp", ".a b.c.0123456789ab.tmp"):
        assert is_temporary_name(name), name
    for name in ("a.png.0123456789ab.tmp", ".a.png.0123456789AB.tmp", ".a.png.0123456789a.tmp",
                 ".a.png.0123456789abc.tmp", ".a.png.0123456789ab.tmp.bak", ".a.png.tmp",
                 ".0123456789ab.tmp", "notes.tmp"):
        assert not is_temporary_name(name), name


def test_remove_stale_temporaries_only_removes_old_files_of_ours(tmp_path):
    old = time.time() - 2 * STALE_AFTER_SECONDS
    stale = tmp_path / ".a.png.0123456789ab.tmp"
    young = tmp_path / ".b.png.0123456789ab.tmp"
    others = [tmp_path / "a.png", tmp_path / ".a.png.0123456789ab.tmp.bak",
              tmp_path / "a.png.0123456789ab.tmp"]
    folder = tmp_path / ".c.png.0123456789ab.tmp"  # a folder with our name: left alone
    folder.mkdir()
    for path in (stale, young, *others):
        path.write_bytes(b"x")
    for path in (stale, folder, *others):
        os.utime(path, (old, old))
    target = tmp_path / "target.png"
    link = tmp_path / ".d.png.0123456789ab.tmp"  # a symlink with our name: left alone
    target.write_bytes(b"keep")
    link.symlink_to(target)
    os.utime(link, (old, old), follow_symlinks=False)
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and young.exists() and folder.is_dir() and link.is_symlink()
    assert all(p.exists() for p in others) and target.read_bytes() == b"keep"
    assert remove_stale_temporaries(tmp_path, min_age=0) == [young]
    assert remove_stale_temporaries(tmp_path / "missing") == []

import os
import stat
import subprocess
import sys
import time

import pytest

from sklearn_denoise._atomic import (
    LEGACY_STALE_AFTER_SECONDS,
    atomic_open,
    host_id,
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
    assert is_temporary_name(tmp)
    assert tmp.startswith(f".img.png.{host_id()}-{os.getpid()}.")
    for name in (".a.png.0123456789ab.tmp", ".x.0123456789ab.tmp", ".a b.c.0123456789ab.tmp",
                 ".a.png.0123abcd-42.0123456789ab.tmp", ".a.b.0123abcd-1.0123456789ab.tmp"):
        assert is_temporary_name(name), name
    for name in ("a.png.0123456789ab.tmp", ".a.png.0123456789AB.tmp", ".a.png.0123456789a.tmp",
                 ".a.png.0123456789abc.tmp", ".a.png.0123456789ab.tmp.bak", ".a.png.tmp",
                 ".0123456789ab.tmp", "notes.tmp"):
        assert not is_temporary_name(name), name


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(os.name != "posix", reason="process probe needs POSIX signals")
def test_remove_stale_temporaries_only_removes_files_of_dead_writers(tmp_path):
    old = time.time() - 2 * LEGACY_STALE_AFTER_SECONDS
    token = "0123456789ab"
    dead = tmp_path / f".a.png.{host_id()}-{_dead_pid()}.{token}.tmp"
    dead_young = tmp_path / f".e.png.{host_id()}-{_dead_pid()}.{token}.tmp"
    alive = tmp_path / f".b.png.{host_id()}-{os.getppid()}.{token}.tmp"  # a live process
    mine = tmp_path / f".f.png.{host_id()}-{os.getpid()}.{token}.tmp"
    other_host = "0" * 8 if host_id() != "0" * 8 else "1" * 8
    elsewhere = tmp_path / f".g.png.{other_host}-{_dead_pid()}.{token}.tmp"
    legacy_old = tmp_path / f".h.png.{token}.tmp"
    legacy_young = tmp_path / f".i.png.{token}.tmp"
    others = [tmp_path / "a.png", tmp_path / f".a.png.{token}.tmp.bak",
              tmp_path / f"a.png.{token}.tmp"]
    folder = tmp_path / f".c.png.{host_id()}-{_dead_pid()}.{token}.tmp"  # a folder: left
    folder.mkdir()
    files = (dead, dead_young, alive, mine, elsewhere, legacy_old, legacy_young, *others)
    for path in files:
        path.write_bytes(b"x")
    for path in (dead, alive, mine, elsewhere, legacy_old, folder, *others):
        os.utime(path, (old, old))
    target = tmp_path / "target.png"
    link = tmp_path / f".d.png.{host_id()}-{_dead_pid()}.{token}.tmp"  # a symlink: left
    target.write_bytes(b"keep")
    link.symlink_to(target)
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([dead, dead_young,
                                                                 legacy_old])
    for path in (alive, mine, elsewhere, legacy_young, *others):
        assert path.exists(), path
    assert folder.is_dir() and link.is_symlink() and target.read_bytes() == b"keep"
    assert remove_stale_temporaries(tmp_path, legacy_min_age=0) == [legacy_young]
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_a_long_write_in_progress_is_never_removed(tmp_path):
    # issue 29: a run starting in the folder removed another live run's temporary file
    # once it was 10 minutes old (a BM3D plane can take longer); the first run then failed
    path = tmp_path / "plane.tif"
    very_old = time.time() - 10 * LEGACY_STALE_AFTER_SECONDS
    with atomic_open(path) as fh:
        fh.write(b"first half")
        fh.flush()
        (tmp,) = os.listdir(tmp_path)
        os.utime(tmp_path / tmp, (very_old, very_old))
        assert remove_stale_temporaries(tmp_path) == []
        fh.write(b", second half")
    assert path.read_bytes() == b"first half, second half"
    assert os.listdir(tmp_path) == ["plane.tif"]


def test_replace_false_never_replaces_a_file_that_appeared_meanwhile(tmp_path):
    path = tmp_path / "out.png"
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_open(path, replace=False) as fh:
            fh.write(b"mine")
            path.write_bytes(b"another run's")
    assert path.read_bytes() == b"another run's"
    assert os.listdir(tmp_path) == ["out.png"]

"""deploy's bad input on @local (SPEC 7 and 10): one clear `tetra: ...` line,
a non-zero exit, no transaction started, nothing on the host."""

from __future__ import annotations

import gzip
import tarfile

from deploy_helpers import artifact


def test_an_artifact_that_is_a_directory_or_not_a_tar_gz_starts_nothing(tetra, tetra_dir, tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "notes.txt").write_text("not an archive\n")
    (tmp_path / "plain.tar.gz").write_bytes(gzip.compress(b"gzip, but no tar inside\n" * 40))
    with tarfile.open(tmp_path / "uncompressed.tar", "w") as tar:
        tar.add(tmp_path / "notes.txt", arcname="notes.txt")
    cases = {"build": "is a directory, not a .tar.gz", "notes.txt": "is not a .tar.gz",
             "plain.tar.gz": "is not a .tar.gz", "uncompressed.tar": "is not a .tar.gz"}
    for name, said in cases.items():
        r = tetra("deploy", "@local", str(tmp_path / name))
        assert r.returncode == 1, (name, r.stdout, r.stderr)
        assert said in r.stderr and "hint:" in r.stderr, (name, r.stderr)
        assert len([line for line in r.stderr.splitlines() if line.startswith("tetra:")]) == 1
        assert "Traceback" not in r.stderr
    assert not (tetra_dir / "deploy").exists()  # no transaction, nothing on the host


def test_parallel_and_health_timeout_below_one_are_usage_errors(tetra, tetra_dir, tmp_path):
    art = artifact(tmp_path / "a.tar.gz", "v1")
    for flags, said in ((["--parallel", "0"], "--parallel must be at least 1"),
                        (["--parallel=-2"], "--parallel must be at least 1"),
                        (["--health-timeout", "0"], "--health-timeout must be more than 0"),
                        (["--keep", "0"], "--keep must be at least 1"),
                        (["--wait=-1"], "--wait expects a number of seconds (0 or more)"),
                        (["--health-timeout", "nan"], "expects a number of seconds")):
        r = tetra("deploy", "@local", str(art), *flags)
        assert r.returncode == 2, (flags, r.stderr)
        assert said in r.stderr and "Traceback" not in r.stderr
    assert not (tetra_dir / "deploy").exists()

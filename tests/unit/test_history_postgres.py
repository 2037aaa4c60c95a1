"""The results store on a real PostgreSQL server, started here from the system's binaries
(Debian's postgresql package; `.ci/run` installs it) and stopped after; the tests skip where
there are none, or no psycopg driver. Runs import once, writers at once lose nothing, the gate
reads it, and a server that is down is an error naming it while the run keeps its records."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

from harness.doors import cli
from harness.history.store import Store, results, runs
from tests.unit.test_history import _copies, check, writers_at_once

pytest.importorskip("psycopg", reason="no psycopg here (pip install 'convharness[postgres]')")


def _binaries() -> str | None:
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(versions[-1]) if versions else None


def _as_server_user() -> list[str]:
    """initdb refuses root: run the server as the postgres account where we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres account to run the server as")
    return ["runuser", "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """(url, pg_ctl command) of a fresh server on a free local port."""
    bindir = _binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries here (apt-get install postgresql)")
    who = _as_server_user()
    home = tempfile.mkdtemp(prefix="convharness-pg-")  # not under root's private tmp
    data = os.path.join(home, "data")
    if who:
        shutil.chown(home, "postgres")
    subprocess.run([*who, f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True, timeout=600)
    port = _free_port()
    ctl = [*who, f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(home, "log")]
    subprocess.run([*ctl, "-w", "-t", "300", "-o",
                    f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, timeout=600)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True, timeout=600)
        shutil.rmtree(home, ignore_errors=True)


def test_runs_import_once_and_writers_at_once_lose_nothing(server, tmp_path, capsys):
    url, _ = server
    assert check(tmp_path, url, "a") == 0  # kept there as it finished
    (run_dir,) = (tmp_path / "runs").glob("*-check*")
    assert cli.main(["history", "import", str(run_dir), "--store", url]) == 0
    assert "0 record(s) added, 1 already there" in capsys.readouterr().out
    copies = _copies(run_dir, tmp_path, 4)
    done = writers_at_once(url, copies)
    assert all(code == 0 for code, _ in done), done
    with Store.open(url, create=False) as opened:
        names = list(runs(opened)["name"])
        assert sorted(names) == sorted([run_dir.name] + [c.name for c in copies])
        assert len(results(opened)) == 5
    assert cli.main(["gate", "--store", url, "--out", str(tmp_path / "g.md")]) == 0


def test_a_server_that_is_down_is_named_and_the_run_kept(server, tmp_path, capsys):
    url, _ = server
    down = url.rsplit(":", 1)[0] + f":{_free_port()}/postgres"
    assert check(tmp_path, down, "a") == 2
    err = capsys.readouterr().err
    assert "results store 'postgresql+psycopg://postgres@127.0.0.1:" in err
    assert "could not open it" in err and "history import" in err
    assert list((tmp_path / "runs").glob("*-check*/records.jsonl"))


def test_a_password_is_never_printed(tmp_path, capsys):
    url = f"postgresql+psycopg://kernel:s3cret@127.0.0.1:{_free_port()}/db"
    assert cli.main(["gate", "--store", url, "--out", str(tmp_path / "g.md")]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err and "kernel:***@" in err
    assert check(tmp_path, url, "a") == 2  # a run kept nowhere says so, without it
    err = capsys.readouterr().err
    assert "s3cret" not in err and "kernel:***@" in err

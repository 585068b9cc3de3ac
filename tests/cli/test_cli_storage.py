"""`swbot ingest`, `swbot accounts import` and `swbot quarantine list|show` through bot.cli.main:
output lines, exit codes, folders, stdin, and a second run."""

from __future__ import annotations

import datetime as dt
import io
import sys
from pathlib import Path

import pytest

from bot import cli
from tests.support.cli import (
    BUYER,
    good_messages,
    run,
    write,
)
from tests.support.storage import (
    ListSpec,
    Person,
    accounts_csv,
    ceb621,
    ceb816,
    people,
)


def test_accounts_import_output_and_exit_codes(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    persons = people(3)
    csv = write(tmp_path / "accounts.csv", accounts_csv(persons, bom=True))
    code, lines, err = run(capsys, "accounts", "import", str(csv))
    assert (code, lines, err) == (0, ["imported=3 updated=0 rejected=0"], "")
    assert (cli_env / "swbot.db").exists() and (cli_env / "secret.key").exists()

    changed = Person(persons[0].account_id, "新名字", persons[0].id_number, persons[0].phone)
    bad = Person("acct-bad", "坏人", persons[1].id_number[:-1], "13700000000")
    stolen = Person("acct-thief", "冒名", persons[2].id_number, "13700000001")
    csv2 = write(tmp_path / "accounts2.csv", accounts_csv([changed, bad, stolen, *people(5)[3:]]))
    code, lines, _ = run(capsys, "accounts", "import", str(csv2))
    assert code == 3
    assert lines == [
        "rejected line 3: id_number: invalid (length)",
        "rejected line 4: id_number: already registered to another account",
        "imported=2 updated=1 rejected=2",
    ]
    for secret in (bad.id_number, stolen.id_number, bad.name, stolen.name, "13700000000"):
        assert all(secret not in line for line in lines)


def test_accounts_import_bad_header_and_missing_file(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write(tmp_path / "bad.csv", b"id,name\n1,x\n")
    code, lines, _ = run(capsys, "accounts", "import", str(csv))
    assert code == 3
    assert lines[-1] == "imported=0 updated=0 rejected=1"
    assert lines[0].startswith("rejected header must be account_id,name,id_type,id_number,phone")
    code, lines, err = run(capsys, "accounts", "import", str(tmp_path / "nope.csv"))
    assert code == 1 and lines == [] and "cannot read" in err


def test_accounts_import_from_stdin(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(accounts_csv(people(2)))))
    code, lines, _ = run(capsys, "accounts", "import", "-")
    assert (code, lines) == (0, ["imported=2 updated=0 rejected=0"])


# -- ingest ----------------------------------------------------------------------------------------


def test_ingest_folder_recursively_sorted_then_all_duplicate(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    msgs = good_messages(3)
    # receipts in an earlier-sorting folder than their lists: order must not matter
    for i, m in enumerate(msgs):
        sub = "a-receipts" if i % 2 else "b-lists/deeper"
        write(inbox / sub / f"{i:02d}.xml", m)
    write(inbox / "notes.txt", b"not a message and not *.xml: ignored")
    code, lines, _ = run(capsys, "ingest", str(inbox))
    assert (code, lines) == (0, ["accepted=6 duplicate=0 rejected=0"])
    code, lines, _ = run(capsys, "ingest", str(inbox))
    assert (code, lines) == (0, ["accepted=0 duplicate=6 rejected=0"])
    code, lines, _ = run(capsys, "ingest", str(inbox / "a-receipts" / "01.xml"), str(inbox))
    assert (code, lines) == (0, ["accepted=0 duplicate=7 rejected=0"])


def test_ingest_rejections_are_listed_in_sorted_order(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    msgs = good_messages(1)
    write(inbox / "z" / "good-list.xml", msgs[0])
    write(inbox / "m" / "bad-2.xml", b"<not-closed")
    write(inbox / "b" / "c" / "bad-1.xml", ceb621(ListSpec("x", BUYER, extra_head={"buyerIdType": "9"})))
    write(inbox / "a.xml", msgs[1])
    code, lines, _ = run(capsys, "ingest", str(inbox), str(tmp_path / "missing.xml"))
    assert code == 3
    assert lines == [
        f"rejected {inbox / 'b' / 'c' / 'bad-1.xml'}: CEB621 InventoryHead: invalid buyerIdType (expected one of 1, 2)",
        f"rejected {inbox / 'm' / 'bad-2.xml'}: malformed XML at line 1, column 0",
        f"rejected {tmp_path / 'missing.xml'}: cannot read (No such file or directory)",
        "accepted=2 duplicate=0 rejected=3",
    ]
    assert all(BUYER.id_number not in line and BUYER.name not in line for line in lines)
    # rejected files stay rejected; the good ones are duplicates now
    code, lines, _ = run(capsys, "ingest", str(inbox))
    assert (code, lines[-1]) == (3, "accepted=0 duplicate=2 rejected=2")


def test_ingest_from_stdin(cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = good_messages(1)[0]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, lines, _ = run(capsys, "ingest", "-")
    assert (code, lines) == (0, ["accepted=1 duplicate=0 rejected=0"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, lines, _ = run(capsys, "ingest", "-")
    assert (code, lines) == (0, ["accepted=0 duplicate=1 rejected=0"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, lines, _ = run(capsys, "ingest", "-")
    assert (code, lines) == (3, ["rejected -: empty message", "accepted=0 duplicate=0 rejected=1"])


def test_ingest_oversize_file_is_rejected_without_reading_it_all(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWBOT_MAX_MESSAGE_BYTES", "1000")
    big = write(tmp_path / "big.xml", ceb816("big", dt.datetime(2025, 1, 1)) + b" " * 5000)
    code, lines, _ = run(capsys, "ingest", str(big))
    assert (code, lines) == (
        3,
        [f"rejected {big}: message larger than 1000 bytes", "accepted=0 duplicate=0 rejected=1"],
    )
    # what went into quarantine is the capped read, not the whole file
    code, lines, _ = run(capsys, "quarantine", "list")
    assert lines[0].split("\t")[2] == "1001"


# -- quarantine ------------------------------------------------------------------------------------


def test_quarantine_list_and_show(cli_env: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    def run_bytes(*argv: str) -> tuple[int, bytes]:
        code = cli.main(list(argv))
        return code, capsysbinary.readouterr().out

    code, out = run_bytes("quarantine", "list")
    assert (code, out) == (0, b"quarantined=0\n")
    bad = ceb621(ListSpec("q", BUYER, freight="99999999999999"))
    path = write(tmp_path / "in" / "secret-folder" / "bad.xml", bad)
    assert run_bytes("ingest", str(path))[0] == 3
    code, out = run_bytes("quarantine", "list")
    lines = out.decode().splitlines()
    assert code == 0 and lines[-1] == "quarantined=1"
    name, at, size, source, reason = lines[0].split("\t")
    assert name.endswith(".bin") and (size, source, reason) == (str(len(bad)), "bad.xml", "CEB621: amount out of range")
    dt.datetime.strptime(at, "%Y-%m-%d %H:%M:%S")
    assert "secret-folder" not in lines[0] and BUYER.id_number not in lines[0]
    # at rest: encrypted; the .reason beside it is plain text without personal data
    stored = cli_env / "quarantine" / name
    assert BUYER.id_number.encode() not in stored.read_bytes()
    reason_text = stored.with_suffix(".reason").read_text(encoding="utf-8")
    assert "amount out of range" in reason_text and BUYER.name not in reason_text

    assert run_bytes("quarantine", "show", name) == (0, bad)
    # a path in front of the name is ignored: only entries of the quarantine folder can be shown
    assert run_bytes("quarantine", "show", str(tmp_path / "elsewhere" / name)) == (0, bad)


@pytest.mark.parametrize("name", ["missing.bin", "../secret.key", "secret.key", "x.reason"])
def test_quarantine_show_refuses_other_files(cli_env: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    run(capsys, "quarantine", "list")  # creates the data dir and key
    code, lines, err = run(capsys, "quarantine", "show", name)
    assert code == 1 and lines == [] and "no quarantined file" in err


def test_quarantine_show_with_another_key_fails_cleanly(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "bad.xml", b"<broken")
    run(capsys, "ingest", str(path))
    (name,) = [p.name for p in (cli_env / "quarantine").glob("*.bin")]
    (cli_env / "secret.key").write_text("another-secret-" + "x" * 40 + "\n")
    code, lines, err = run(capsys, "quarantine", "show", name)
    assert (code, lines) == (1, [])
    assert err == f"swbot: {name} does not decrypt with this SWBOT_SECRET_KEY\n"


def test_ingest_from_stdin_reads_no_more_than_the_cap(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdin is capped like a file: memory stays bounded whatever is piped in."""
    monkeypatch.setenv("SWBOT_MAX_MESSAGE_BYTES", "1000")
    stream = io.BytesIO(b"<" + b"x" * 50_000)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))
    code, lines, _ = run(capsys, "ingest", "-")
    assert (code, lines) == (3, ["rejected -: message larger than 1000 bytes", "accepted=0 duplicate=0 rejected=1"])
    assert stream.tell() <= 1001 + 8192  # at most the cap and one buffer's read-ahead
    code, lines, _ = run(capsys, "quarantine", "list")
    assert lines[0].split("\t")[2] == "1001"

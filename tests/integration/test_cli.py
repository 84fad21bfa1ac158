"""The ``helpdesk`` command as a script sees it: real subprocesses, real databases.

Every command with ``--json`` parsed, and bad input for each with its exact
error line and exit code (0 ok, 2 usage error, 1 other error). No traceback
ever reaches the user.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tui_helpdesk.services.agents import os_login

from ..servers import DovecotServer, SmtpServer, require

STATUSES = "new, on_you, on_customer, on_hold, closed, cancelled"
FIELDS = "status, assignee, channel, type, tag, requester, by, created, last, mentions, text, sort"


def _command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m``."""
    script = shutil.which("helpdesk", path=str(Path(sys.executable).parent)) or shutil.which("helpdesk")
    return [script] if script else [sys.executable, "-m", "tui_helpdesk"]


HELPDESK = _command()


class Cli:
    """Runs ``helpdesk`` with its own XDG dirs in a temp dir (its database is the default one there)."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        for var, sub in (("XDG_CONFIG_HOME", "xdg-config"), ("XDG_DATA_HOME", "xdg-data"),
                         ("XDG_STATE_HOME", "xdg-state")):
            (root / sub).mkdir(parents=True, exist_ok=True)
            self.env[var] = str(root / sub)
        # The default database (in the XDG data dir) is the one commands may create;
        # a --db or HELPDESK_DB naming a file that does not exist is an error.
        self.db = root / "xdg-data" / "helpdesk" / "helpdesk.db"
        self.env.pop("CI_NO_COLOR", None)
        self.env["NO_COLOR"] = "1"

    def run(self, *args: str, code: int = 0, input: str | None = None, env: dict | None = None,
            argv0: list[str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [*(argv0 or HELPDESK), *args], capture_output=True, text=True, input=input,
            env={**self.env, **(env or {})}, timeout=120, cwd=self.root,
        )
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
        assert proc.returncode == code, f"helpdesk {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
        return proc

    def json(self, *args: str, **kwargs):
        proc = self.run(*args, "--json", **kwargs)
        return json.loads(proc.stdout)

    def error(self, *args: str, code: int, env: dict | None = None, input: str | None = None) -> str:
        """Run a failing command; return its one stderr line (without the newline)."""
        proc = self.run(*args, code=code, env=env, input=input)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("helpdesk: error: "), proc.stderr
        return lines[0]


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def ready(cli) -> Cli:
    """A database with an admin (the OS login), alice, and ticket #1."""
    cli.run("agent", "add", "alice", "--name", "Alice Adams")
    cli.run("ticket", "create", "--requester", "ann@example.com", "--subject", "Refund please",
            "--body", "I was charged twice.")
    return cli


# ------------------------------------------------------------------- the happy path


def test_every_command_with_json(cli):
    me = os_login()
    assert cli.run("db", "upgrade").stdout == "database created\n"
    assert cli.run("db", "upgrade").stdout == "database current\n"
    assert (cli.db.stat().st_mode & 0o777) == 0o600

    # agents
    who = cli.json("agent", "me")
    assert (who["login"], who["role"], who["availability"]) == (me, "admin", "available")
    alice = cli.json("agent", "add", "alice", "--name", "Alice Adams", "--email", "alice@desk.example")
    assert (alice["login"], alice["name"], alice["email"], alice["role"]) == (
        "alice", "Alice Adams", "alice@desk.example", "agent")
    cli.json("agent", "add", "bob", "--name", "Bob Brown", "--role", "admin")
    assert [a["login"] for a in cli.json("agent", "list")] == sorted(["alice", "bob", me])
    shifts = cli.root / "shifts.toml"  # the default desk, with the shift an agent can be put on
    shifts.write_text('[[desks]]\nslug = "support"\nname = "Support"\n\n[[desks.scheduling.shifts]]\n'
                      'name = "mon-fri 9-17"\nhours = { mon = "09:00-17:00", fri = "09:00-17:00" }\n')
    alice = cli.json("agent", "set", "alice", "--availability", "away", "--max-open", "5", "--shift", "mon-fri 9-17",
                     env={"HELPDESK_CONFIG": str(shifts)})
    assert (alice["availability"], alice["max_open"], alice["shift"]) == ("away", 5, "mon-fri 9-17")
    assert re.fullmatch(rf"{me} \(.+, admin, available\)\n", cli.run("agent", "me").stdout)

    # tickets
    t1 = cli.json("ticket", "create", "--requester", "Ann@Example.com", "--name", "Ann Lee",
                  "--subject", "Refund for order 123", "--body", "I was charged twice.", "--channel", "email",
                  "--tag", "billing")
    assert (t1["id"], t1["status"], t1["channel"], t1["tags"]) == (1, "new", "email", ["billing"])
    assert t1["requester"] == {"id": 1, "name": "Ann Lee", "email": "ann@example.com", "language": None}
    t2 = cli.json("ticket", "create", "--requester", "bo@example.org", "--subject", "Login broken",
                  "--body", "-", input="Cannot log in since Tuesday.\n")
    assert t2["id"] == 2
    assert cli.run("ticket", "create", "--requester", "cy@example.net", "--subject", "Hello",
                   "--body", "hi").stdout == "created #3\n"

    rows = cli.json("ticket", "list")
    assert [r["id"] for r in rows] == [3, 2, 1]
    assert rows[2]["requester"] == "Ann Lee" and rows[2]["status"] == "new"
    assert cli.json("ticket", "list", "--limit", "2") == rows[:2]
    text_lines = cli.run("ticket", "list").stdout.splitlines()
    assert [line.split()[0] for line in text_lines] == ["#3", "#2", "#1"]

    reply = cli.json("ticket", "reply", "1", "--body", "Refund issued, sorry about that.")
    assert (reply["status"], reply["entry"]["kind"], reply["last_message_by"]) == ("on_customer", "reply", "agent")
    note = cli.json("ticket", "note", "#1", "--body", "@alice please check the payment logs")
    assert (note["entry"]["kind"], note["entry"]["meta"]) == ("note", {"mentions": ["alice"]})
    proc = cli.run("ticket", "note", "1", "--body", "cc @ghost")
    assert proc.stdout == "noted on #1\n"
    assert proc.stderr == "helpdesk: warning: no agent named: @ghost\n"

    held = cli.json("ticket", "status", "1", "on_hold", "--reason", "waiting for finance")
    assert held["status"] == "on_hold" and held["version"] > reply["version"]
    assert cli.run("ticket", "status", "2", "On Customer").stdout.startswith("#2 is ")
    assert cli.json("ticket", "assign", "1", "alice")["assignee"] == "alice"
    assert cli.json("ticket", "assign", "1", "me")["assignee"] == me
    assert cli.json("ticket", "assign", "1", "none")["assignee"] is None
    assert cli.run("ticket", "assign", "2", "bob").stdout == "#2 assigned to bob\n"
    assert cli.json("ticket", "tag", "1", "+vip", "refund")["tags"] == ["billing", "refund", "vip"]
    assert cli.json("ticket", "tag", "1", "-vip")["tags"] == ["billing", "refund"]
    assert cli.json("ticket", "tag", "1", "-refund", "+vip", "-billing")["tags"] == ["vip"]
    assert cli.run("ticket", "tag", "1", "+billing", "--", "-vip").stdout == "#1 tags: billing\n"

    shown = cli.json("ticket", "show", "1")
    assert shown["id"] == 1 and shown["subject"] == "Refund for order 123" and shown["status"] == "on_hold"
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds[:2] == ["message", "reply"] and kinds.count("note") == 2 and "event" in kinds
    events = [e["body"] for e in shown["timeline"] if e["kind"] == "event"]
    assert any("waiting for finance" in e for e in events)
    assert any("Assigned to Alice Adams" in e for e in events)
    text = cli.run("ticket", "show", "1").stdout
    assert text.startswith("#1  Refund for order 123\n") and "NOTE (internal)" in text

    # views
    assert [r["id"] for r in cli.json("ticket", "list", "--view", "unassigned")] == [1, 3]  # last activity first
    assert [r["id"] for r in cli.json("ticket", "list", "--query", "status:new")] == [3]
    assert [r["id"] for r in cli.json("ticket", "list", "--view", "all", "--query", '"charged twice"')] == [1]
    assert [r["id"] for r in cli.json("ticket", "list", "--view", "solved")] == []
    saved = cli.json("view", "save", "Billing", "tag:billing status:active")
    assert (saved["name"], saved["visibility"]) == ("Billing", "personal")
    shared = cli.json("view", "save", "Waiting", "status:on_customer", "--shared")
    assert shared["visibility"] == "shared"
    rail = {v["name"]: v for v in cli.json("view", "list")}
    assert rail["All"]["count"] == 3 and rail["Unassigned"]["count"] == 2 and rail["Solved"]["count"] == 0
    assert rail["Billing"]["count"] == 1 and rail["Billing"]["kind"] == "personal"
    assert rail["Waiting"]["count"] == 1 and rail["Waiting"]["kind"] == "shared"
    assert [r["id"] for r in cli.json("ticket", "list", "--view", "Billing")] == [1]
    assert cli.run("view", "delete", "Billing").stdout == "deleted view 'Billing'\n"
    assert "Billing" not in {v["name"] for v in cli.json("view", "list")}

    # search
    hits = cli.json("search", "refund")
    assert [h["ticket_id"] for h in hits] == [1]
    assert cli.json("search", "tuesday")[0]["ticket_id"] == 2
    assert cli.json("search", "nothing-matches-this") == []

    report = cli.json("doctor")
    assert report["ok"] is True
    statuses = {(c["section"], c["name"]): c["status"] for c in report["checks"]}
    assert statuses[("database", "schema")] == "ok" and statuses[("database", "integrity")] == "ok"
    assert statuses[("desk support", "email")] == "skip"


def test_python_dash_m_and_console_script_agree(ready):
    via_module = ready.json("ticket", "list", argv0=[sys.executable, "-m", "tui_helpdesk"])
    assert via_module == ready.json("ticket", "list")


def test_seed(cli):
    proc = cli.run("seed", "--tickets", "200", "--messages-per-ticket", "3")
    assert re.fullmatch(r"seeded 200 tickets with [\d,]+ timeline entries in [\d.]+ s\n", proc.stdout)
    assert "seeded 200/200 tickets" in proc.stderr
    rows = cli.json("ticket", "list", "--view", "all", "--limit", "50")
    assert len(rows) == 50
    assert all(r["status"] in ("new", "on_you", "on_customer", "on_hold") for r in rows)
    updated = [r["updated_at"] for r in rows]
    assert updated == sorted(updated, reverse=True)
    rail = {v["key"]: v["count"] for v in cli.json("view", "list")}
    assert rail["all"] + rail["solved"] == 200
    agents = {a["login"] for a in cli.json("agent", "list")}
    assert {"ana", "ben", os_login()} <= agents
    shown = cli.json("ticket", "show", str(rows[0]["id"]))
    assert shown["timeline"][0]["kind"] == "message"
    assert cli.json("search", "refund")  # the seeder writes refunds
    assert cli.error("seed", "--tickets", "-1", code=2) == \
        "helpdesk: error: --tickets must be ≥ 0 and --messages-per-ticket ≥ 1"


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize("args", [
    ("ticket", "show", "99"),
    ("ticket", "reply", "99", "--body", "hello"),
    ("ticket", "note", "99", "--body", "hello"),
    ("ticket", "status", "99", "closed"),
    ("ticket", "assign", "99", "alice"),
    ("ticket", "tag", "99", "+vip"),
])
def test_unknown_ticket(ready, args):
    assert ready.error(*args, code=1) == "helpdesk: error: no ticket #99"
    if args[1] == "show":
        assert ready.error(*args, "--json", code=1) == "helpdesk: error: no ticket #99"


def test_bad_ticket_id(ready):
    assert ready.error("ticket", "show", "abc", code=2) == (
        "helpdesk: error: argument id: 'abc' is not a ticket id (like 123 or #123) "
        "(see 'helpdesk ticket show --help')")


def test_bad_status(ready):
    assert ready.error("ticket", "status", "1", "bogus", code=2) == \
        f"helpdesk: error: unknown status 'bogus' (expected one of: {STATUSES})"
    assert ready.json("ticket", "show", "1")["status"] == "new"


@pytest.mark.parametrize(("query", "line"), [
    ("status:on_you bogus:1",
     f"unknown field 'bogus' (fields: {FIELDS}) at column 15"),
    ("status:nope", f"unknown status 'nope' (expected one of: {STATUSES}; or a group: active, solved) at column 1"),
    ('"refund', "unterminated quote at column 1"),
    ("status:on_you  created:<9q", "'9q' is not a date (YYYY-MM-DD) at column 16"),
])
def test_malformed_query(ready, query, line):
    assert ready.error("ticket", "list", "--query", query, code=2) == f"helpdesk: error: {line}"
    assert ready.error("view", "save", "Broken", query, code=2) == f"helpdesk: error: {line}"


def test_query_error_points_at_the_token_on_a_terminal(ready):
    """The caret line is for a person at a terminal; scripts get one line (see above)."""
    script = (
        "import sys; sys.stderr.isatty = lambda: True; sys.argv = ['helpdesk'] + sys.argv[1:];"
        "from tui_helpdesk.cli.main import main; raise SystemExit(main())"
    )
    proc = ready.run("ticket", "list", "--query", "status:on_you bogus:1", code=2,
                     argv0=[sys.executable, "-c", script])
    assert proc.stderr.splitlines() == [
        f"helpdesk: error: unknown field 'bogus' (fields: {FIELDS}) at column 15",
        "  status:on_you bogus:1",
        "                ^^^^^",
    ]


def test_other_usage_errors(ready):
    assert ready.error("ticket", "create", "--subject", "x", code=2) == (
        "helpdesk: error: the following arguments are required: --requester, --body "
        "(see 'helpdesk ticket create --help')")
    assert ready.error("ticket", "create", "--requester", "not-an-email", "--subject", "x", "--body", "y",
                       code=2) == "helpdesk: error: 'not-an-email' is not an email address"
    assert ready.error("ticket", "reply", "1", "--body", "   ", code=2) == "helpdesk: error: the reply is empty"
    assert ready.error("ticket", "list", "--limit", "0", code=2) == "helpdesk: error: --limit is 1 to 10000"
    assert ready.error("ticket", "tag", "1", code=2) == \
        "helpdesk: error: give tags to add (+tag) or remove (-tag) (see 'helpdesk ticket tag --help')"
    assert ready.error("ticket", "tag", "1", "+vip", "--frob", code=2) == \
        "helpdesk: error: unrecognized arguments: --frob (see 'helpdesk --help')"
    assert ready.error("search", " ", code=2) == "helpdesk: error: search for what? (give some words)"
    assert ready.error("agent", "add", "alice", code=2) == "helpdesk: error: agent 'alice' already exists"
    assert ready.error("view", "save", "inbox", "status:new", code=2) == \
        "helpdesk: error: 'inbox' is a system view name"


def test_not_found_and_not_allowed(ready):
    assert ready.error("ticket", "assign", "1", "ghost", code=1) == "helpdesk: error: no agent 'ghost'"
    assert ready.error("agent", "set", "ghost", "--availability", "away", code=1) == \
        "helpdesk: error: no agent 'ghost'"
    assert ready.error("ticket", "list", "--view", "nope", code=1) == \
        "helpdesk: error: no view 'nope' (views: inbox, mentions, all, unassigned, solved)"
    assert ready.error("view", "delete", "nope", code=1) == "helpdesk: error: no saved view 'nope'"
    assert ready.error("view", "delete", "inbox", code=1) == \
        "helpdesk: error: 'inbox' is a system view; it cannot be edited or deleted"
    assert ready.error("--as", "alice", "agent", "add", "carol", code=1) == \
        "helpdesk: error: only an admin can add agents"
    assert ready.error("--as", "ghost", "agent", "me", code=1) == "helpdesk: error: no agent 'ghost'"
    assert ready.error("agent", "me", code=1, env={"HELPDESK_AS": "ghost"}) == "helpdesk: error: no agent 'ghost'"


def test_act_as_an_agent(ready):
    assert ready.json("--as", "alice", "agent", "me")["login"] == "alice"
    assert ready.json("agent", "me", env={"HELPDESK_AS": "alice"})["login"] == "alice"
    reply = ready.json("--as", "alice", "ticket", "reply", "1", "--body", "On it.")
    assert reply["entry"]["author"] == "Alice Adams"


def test_unknown_command_or_option(cli):
    line = cli.error("frob", code=2)
    assert re.fullmatch(r"helpdesk: error: argument COMMAND: invalid choice: '?frob'? \(choose from .*demo.*ticket.*\) "
                        r"\(see 'helpdesk --help'\)", line), line
    assert cli.error("ticket", "list", "--frob", code=2) == \
        "helpdesk: error: unrecognized arguments: --frob (see 'helpdesk --help')"
    assert cli.error("--frob", "ticket", "list", code=2) == \
        "helpdesk: error: unrecognized arguments: --frob (see 'helpdesk --help')"
    line = cli.error("ticket", "frob", code=2)
    assert line.startswith("helpdesk: error: argument ACTION: invalid choice: ") and \
        line.endswith("(see 'helpdesk ticket --help')"), line
    line = cli.error("agent", "add", "x", "--role", "boss", code=2)
    assert line.startswith("helpdesk: error: argument --role: invalid choice: "), line
    assert cli.error("ticket", "list", "--limit", "many", code=2) == (
        "helpdesk: error: argument --limit: invalid int value: 'many' (see 'helpdesk ticket list --help')")
    # Usage errors happen before the database is touched.
    assert not cli.db.exists()


# ------------------------------------------------------------ database paths, modes


def test_unreadable_database_path(cli, tmp_path):
    assert cli.error("--db", "/dev/null/x.db", "ticket", "list", code=1) == \
        "helpdesk: error: cannot use the database /dev/null/x.db: /dev/null is not a directory"
    plain = tmp_path / "plain-file"
    plain.write_text("")
    plain.chmod(0o755)  # root may "search" a file with x bits: the check must not rely on access()
    assert cli.error("--db", str(plain / "x.db"), "ticket", "list", code=1) == \
        f"helpdesk: error: cannot use the database {plain}/x.db: {plain} is not a directory"
    assert cli.error("--db", str(plain / "sub" / "x.db"), "db", "upgrade", code=1) == \
        f"helpdesk: error: cannot create the database directory {plain}/sub: Not a directory"
    folder = tmp_path / "a-folder"
    folder.mkdir(mode=0o700)
    assert cli.error("--db", str(folder), "ticket", "list", code=1) == \
        f"helpdesk: error: database {folder} is a directory, not a database file"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    junk.chmod(0o600)
    assert cli.error("--db", str(junk), "ticket", "list", code=1) == \
        f"helpdesk: error: cannot open the database sqlite+aiosqlite:///{junk}: file is not a database"
    # doctor reports the same, without a traceback
    report = cli.json("--db", "/dev/null/x.db", "doctor", code=1)
    assert report["ok"] is False
    assert {"section": "database", "name": "file", "status": "fail",
            "detail": "/dev/null is not a directory"} in report["checks"]


def test_missing_directory_is_created_private(cli, tmp_path):
    db = tmp_path / "new" / "deeper" / "hd.db"
    cli.run("--db", str(db), "db", "upgrade")
    assert db.exists() and (db.stat().st_mode & 0o777) == 0o600
    assert (db.parent.stat().st_mode & 0o777) == 0o700


def test_world_readable_database_is_refused(ready):
    db = ready.db
    db.chmod(0o644)
    message = (f"helpdesk: error: database {db} is readable or writable by everyone (mode -rw-r--r--); "
               f"fix it with: chmod o-rwx {db}")
    assert ready.error("ticket", "list", code=1) == message
    assert ready.error("ticket", "show", "1", "--json", code=1) == message
    report = ready.json("doctor", code=1)
    assert report["ok"] is False
    assert any(c["status"] == "fail" and "chmod o-rwx" in c["detail"] for c in report["checks"])
    db.chmod(0o604)  # world-readable only through "other": still refused
    assert "chmod o-rwx" in ready.error("ticket", "list", code=1)
    # the fix the message gives works
    subprocess.run(["chmod", "o-rwx", str(db)], check=True)
    assert [r["id"] for r in ready.json("ticket", "list")] == [1]


def test_world_writable_directory_is_refused(ready):
    directory = ready.db.parent
    directory.chmod(0o777)
    assert ready.error("ticket", "list", code=1) == (
        f"helpdesk: error: database directory {directory} is world-writable; fix it with: chmod o-rwx {directory}")
    directory.chmod(0o1777)  # sticky like /tmp: nobody can replace the file
    ready.run("ticket", "list")


def test_group_shared_database_works(ready):
    directory = ready.db.parent
    directory.chmod(0o2770)
    ready.db.chmod(0o660)
    assert [r["id"] for r in ready.json("ticket", "list")] == [1]
    new_db = directory / "second.db"
    ready.run("--db", str(new_db), "db", "upgrade")
    assert (new_db.stat().st_mode & 0o777) == 0o660  # group-shared directory → group read/write


def test_schema_from_a_newer_helpdesk(ready):
    with sqlite3.connect(ready.db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    message = ready.error("ticket", "list", code=1)
    assert message.startswith("helpdesk: error: database schema is at revision 9999, newer than this helpdesk knows")
    assert ready.error("db", "upgrade", code=1) == message


# ----------------------------------------------------------- global --db, --config, env


def test_db_flag_overrides_env(cli, tmp_path):
    other = tmp_path / "other" / "other.db"
    cli.run("--db", str(other), "db", "upgrade")
    cli.run("ticket", "create", "--requester", "a@example.com", "--subject", "in env db", "--body", "x")
    cli.run("--db", str(other), "ticket", "create", "--requester", "b@example.com", "--subject", "in flag db",
            "--body", "y")
    assert [r["subject"] for r in cli.json("ticket", "list")] == ["in env db"]
    assert [r["subject"] for r in cli.json("--db", str(other), "ticket", "list")] == ["in flag db"]
    assert [r["subject"] for r in cli.json("--db", f"sqlite:///{other}", "ticket", "list")] == ["in flag db"]
    assert [r["subject"] for r in cli.json("ticket", "list", env={"HELPDESK_DB": str(other)})] == ["in flag db"]


def test_default_database_in_xdg_data_dir(cli):
    env = {k: v for k, v in cli.env.items() if k != "HELPDESK_DB"}
    proc = subprocess.run([*HELPDESK, "agent", "me", "--json"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (Path(env["XDG_DATA_HOME"]) / "helpdesk" / "helpdesk.db").exists()


def test_config_flag_and_env(cli, tmp_path):
    db = tmp_path / "from-config" / "hd.db"
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n\n'
        '[[desks]]\nslug = "billing"\nname = "Billing"\n\n'
        '[[views]]\nname = "Refunds"\nquery = \'"refund"\'\n'
    )
    env_without_db = {"HELPDESK_DB": ""}
    cli.run("--config", str(config), "db", "upgrade", env=env_without_db)
    cli.run("--config", str(config), "ticket", "create", "--requester", "a@example.com",
            "--subject", "Refund", "--body", "refund me", env=env_without_db)
    assert db.exists()
    rows = cli.json("ticket", "list", "--view", "Refunds", env={**env_without_db, "HELPDESK_CONFIG": str(config)})
    assert [r["subject"] for r in rows] == ["Refund"]
    views = {v["name"]: v for v in cli.json("--config", str(config), "view", "list", env=env_without_db)}
    assert views["Refunds"]["kind"] == "config" and views["Refunds"]["count"] == 1
    # --db wins over the config file's database
    assert cli.json("--config", str(config), "ticket", "list", env=env_without_db) != cli.json("ticket", "list")
    # the config's desks are created (and only those)
    assert cli.json("--config", str(config), "ticket", "create", "--requester", "b@example.com", "--subject", "s",
                    "--body", "b", "--desk", "billing", env=env_without_db)["desk_id"] == 1
    assert cli.error("--config", str(config), "ticket", "create", "--requester", "b@example.com", "--subject", "s",
                     "--body", "b", "--desk", "support", code=1, env=env_without_db) == \
        "helpdesk: error: no desk 'support'"


def test_config_errors(cli, tmp_path):
    missing = tmp_path / "nope.toml"
    assert cli.error("--config", str(missing), "ticket", "list", code=1) == \
        f"helpdesk: error: config file {missing} does not exist"
    assert cli.error("ticket", "list", code=1, env={"HELPDESK_CONFIG": str(missing)}) == \
        f"helpdesk: error: config file {missing} does not exist"
    broken = tmp_path / "broken.toml"
    broken.write_text("[database\nurl = 1\n")
    line = cli.error("--config", str(broken), "ticket", "list", code=1)
    assert line.startswith(f"helpdesk: error: {broken}: "), line
    bad_view = tmp_path / "bad-view.toml"
    bad_view.write_text('[[views]]\nname = "Mine"\nquery = "bogus:1"\n')
    line = cli.error("--config", str(bad_view), "ticket", "list", code=1)
    assert line.startswith(f"helpdesk: error: {bad_view}: view 'Mine': unknown field 'bogus'"), line
    secret = tmp_path / "secret.toml"
    secret.write_text('[ai]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\napi_key = "sk-123"\n')
    secret.chmod(0o644)
    line = cli.error("--config", str(secret), "ticket", "list", code=1)
    assert line.startswith(f"helpdesk: error: {secret} holds a secret (ai.api_key) but others can read it"), line
    assert "chmod 600" in line and "sk-123" not in line
    # doctor reports a broken config and still checks the database
    report = cli.json("--config", str(broken), "doctor", code=1)
    assert any(c["section"] == "config" and c["status"] == "fail" for c in report["checks"])
    assert any(c["section"] == "database" for c in report["checks"])


# --------------------------------------------------------------------------- doctor


def test_doctor_text_and_integrations(cli, tmp_path):
    cli.run("agent", "me")
    proc = cli.run("doctor")
    assert proc.stderr == "all checks passed\n"
    lines = proc.stdout.splitlines()
    assert "ok    database · integrity: PRAGMA integrity_check: ok" in lines
    assert "skip  desk support · email: not configured" in lines
    assert "skip  desk support · chatbot: not configured" in lines
    assert "skip  ai · endpoint: not configured (AI compose and translation are off)" in lines

    config = tmp_path / "doctor.toml"
    config.write_text(
        '[[desks]]\nslug = "support"\n'
        '[[desks.email]]\naddress = "support@example.com"\n'
        '[desks.email.imap]\nhost = "127.0.0.1"\nport = 1\npassword_env = "HD_TEST_UNSET_PASSWORD"\n'
        '[desks.email.smtp]\nhost = "127.0.0.1"\nport = 1\npassword_env = "HD_TEST_PASSWORD"\n'
        '[desks.chatbot]\nbase_url = "http://127.0.0.1:1/"\napi_key_env = "HD_TEST_PASSWORD"\n'
        '[[desks]]\nslug = "old"\nenabled = false\n'
        '[ai]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "small"\n'
    )
    config.chmod(0o600)
    report = cli.json("--config", str(config), "doctor", code=1, env={"HD_TEST_PASSWORD": "hunter2"})
    checks = {(c["section"], c["name"]): c for c in report["checks"]}
    imap = checks[("desk support", "email support@example.com imap")]
    assert imap["status"] == "fail" and "HD_TEST_UNSET_PASSWORD is not set" in imap["detail"]
    smtp = checks[("desk support", "email support@example.com smtp")]
    assert smtp["status"] == "fail" and "127.0.0.1" in smtp["detail"]
    assert checks[("desk support", "chatbot")]["status"] == "fail"
    assert checks[("desk old", "desk")] == {"section": "desk old", "name": "desk", "status": "skip",
                                            "detail": "disabled"}
    assert checks[("ai", "api key")]["status"] == "warn"
    assert checks[("ai", "endpoint")]["status"] == "fail"
    assert "hunter2" not in json.dumps(report)


# ----------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_commands_on_postgresql(cli, pg_server):
    url = pg_server.url(pg_server.create_database())
    assert cli.run("--db", url, "db", "upgrade").stdout == "database created\n"
    ticket = cli.json("--db", url, "ticket", "create", "--requester", "ann@example.com",
                      "--subject", "Refund for order 9", "--body", "Charged twice")
    assert ticket["id"] == 1 and ticket["status"] == "new"
    assert cli.json("--db", url, "ticket", "reply", "1", "--body", "Refunded.")["status"] == "on_customer"
    assert [r["id"] for r in cli.json("--db", url, "ticket", "list", "--view", "all")] == [1]
    assert [h["ticket_id"] for h in cli.json("--db", url, "search", "refunded")] == [1]
    assert cli.error("--db", url, "ticket", "show", "99", code=1) == "helpdesk: error: no ticket #99"
    assert cli.error("--db", url, "ticket", "status", "1", "bogus", code=2) == \
        f"helpdesk: error: unknown status 'bogus' (expected one of: {STATUSES})"
    report = cli.json("--db", url, "doctor")
    assert report["ok"] is True
    assert any(c["name"] == "server" and c["detail"].startswith("PostgreSQL") for c in report["checks"])
    # nothing was written to the SQLite default
    assert not cli.db.exists()


@pytest.mark.postgres
def test_postgresql_unreachable_or_missing(cli, pg_server):
    down = f"postgresql+asyncpg://helpdesk@127.0.0.1:{pg_server.port}/no_such_database"
    line = cli.error("--db", down, "ticket", "list", code=1)
    assert line.startswith(f"helpdesk: error: cannot open the database {down}: "), line
    assert "no_such_database" in line
    refused = "postgresql://helpdesk:pw@127.0.0.1:1/x"
    line = cli.error("--db", refused, "ticket", "list", code=1)
    assert line.startswith("helpdesk: error: cannot open the database postgresql+asyncpg://helpdesk:***@127.0.0.1:1/x: ")
    assert ":pw@" not in line


def test_doctor_logs_in_to_mail_servers(cli, tmp_path):
    require("dovecot")
    require("smtp")
    with DovecotServer() as imap, SmtpServer(users={"support": "smtp-secret"}, auth_required=True) as smtp:
        config = tmp_path / "mail.toml"
        config.write_text(
            '[[desks]]\nslug = "support"\n'
            '[[desks.email]]\naddress = "support@example.com"\n'
            f'[desks.email.imap]\nhost = "127.0.0.1"\nport = {imap.port}\nusername = "support"\n'
            'password_env = "HD_IMAP_PASSWORD"\nsecurity = "none"\n'
            f'[desks.email.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nusername = "support"\n'
            'password_env = "HD_SMTP_PASSWORD"\nsecurity = "none"\n'
        )
        config.chmod(0o600)
        env = {"HD_IMAP_PASSWORD": "secret", "HD_SMTP_PASSWORD": "smtp-secret"}
        report = cli.json("--config", str(config), "doctor", env=env)
        checks = {c["name"]: c for c in report["checks"] if c["section"] == "desk support"}
        imap_check = checks["email support@example.com imap"]
        assert imap_check["status"] == "ok", imap_check
        assert imap_check["detail"].startswith(f"logged in as 'support' at 127.0.0.1:{imap.port}; mailbox 'INBOX' found")
        smtp_check = checks["email support@example.com smtp"]
        assert smtp_check["status"] == "ok", smtp_check
        assert smtp_check["detail"].startswith(f"logged in as 'support' at 127.0.0.1:{smtp.port}")
        assert report["ok"] is True

        wrong = cli.json("--config", str(config), "doctor", code=1,
                         env={"HD_IMAP_PASSWORD": "wrong", "HD_SMTP_PASSWORD": "wrong"})
        checks = {c["name"]: c for c in wrong["checks"] if c["section"] == "desk support"}
        assert checks["email support@example.com imap"]["status"] == "fail"
        assert "refused the login" in checks["email support@example.com imap"]["detail"]
        assert checks["email support@example.com smtp"]["status"] == "fail"
        assert "wrong" not in json.dumps(wrong) and "smtp-secret" not in json.dumps(wrong)


def test_doctor_asks_the_chatbot_platform(cli, tmp_path):
    from tui_helpdesk.cli.botsim import start_in_thread

    running = start_in_thread(seed=1, tick=None, initial_conversations=0)
    try:
        config = tmp_path / "bot.toml"
        config.write_text(f'[[desks]]\nslug = "support"\n[desks.chatbot]\nbase_url = "{running.base_url}"\n'
                          'api_key_env = "HD_BOT_KEY"\n')
        config.chmod(0o600)
        report = cli.json("--config", str(config), "doctor", env={"HD_BOT_KEY": running.api_key})
        bot = next(c for c in report["checks"] if c["name"] == "chatbot")
        assert bot["status"] == "ok" and bot["detail"].startswith(f"{running.base_url} answers (ok")
        report = cli.json("--config", str(config), "doctor", code=1, env={"HD_BOT_KEY": "not-the-key"})
        bot = next(c for c in report["checks"] if c["name"] == "chatbot")
        assert bot["status"] == "fail" and running.base_url in bot["detail"]
        assert running.api_key not in json.dumps(report)
        report = cli.json("--config", str(config), "doctor", code=1)
        bot = next(c for c in report["checks"] if c["name"] == "chatbot")
        assert bot == {"section": "desk support", "name": "chatbot", "status": "fail",
                       "detail": "api key environment variable HD_BOT_KEY is not set"}
    finally:
        running.stop()


def test_a_database_that_does_not_exist_is_an_error_not_a_new_one(cli, tmp_path):
    typo = tmp_path / "srv" / "helpdsk.db"
    for args in (("ticket", "list"), ("agent", "me"), ("sync", "--once")):
        assert cli.error("--db", str(typo), *args, code=1) == (
            f"helpdesk: error: database {typo} does not exist; to create it run: helpdesk --db {typo} db upgrade")
    assert cli.error("ticket", "list", code=1, env={"HELPDESK_DB": str(typo)}).startswith(
        f"helpdesk: error: database {typo} does not exist")
    assert not typo.exists() and not typo.parent.exists()
    cli.run("--db", str(typo), "db", "upgrade")
    assert cli.json("--db", str(typo), "ticket", "list") == []


def test_the_app_without_a_terminal_says_so_and_exits(cli):
    for args in ((), ("demo",)):
        proc = subprocess.run([*HELPDESK, *args], capture_output=True, text=True, env=cli.env, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("helpdesk: error: the app needs a terminal"), proc.stderr
        assert "\x1b" not in proc.stderr + proc.stdout


def test_seed_refuses_a_database_with_tickets_unless_told(cli):
    cli.run("ticket", "create", "--requester", "a@example.com", "--subject", "A real one", "--body", "x")
    line = cli.error("seed", "--tickets", "3", code=2)
    assert line.startswith("helpdesk: error: this database already holds 1 tickets; seed writes synthetic ones"), line
    assert [r["subject"] for r in cli.json("ticket", "list")] == ["A real one"]
    assert cli.json("seed", "--tickets", "3", "--messages-per-ticket", "2", "--into-existing")["seeded"].startswith(
        "seeded 3 tickets")
    assert len(cli.json("ticket", "list", "--query", "status:active,solved")) >= 2


def test_every_command_takes_json(cli, tmp_path):
    db = tmp_path / "new.db"
    assert cli.json("--db", str(db), "db", "upgrade") == {"database": "created"}
    assert cli.json("--db", str(db), "db", "upgrade") == {"database": "current"}
    assert cli.json("--db", str(db), "seed", "--tickets", "2", "--messages-per-ticket", "1")["seeded"].startswith(
        "seeded 2 tickets")
    cli.run("--db", str(db), "view", "save", "Mine", "assignee:me")
    assert cli.json("--db", str(db), "view", "delete", "Mine") == {"deleted": "Mine"}


def test_every_subcommand_is_listed_in_its_help():
    import argparse

    from tui_helpdesk.cli.main import build_parser

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                for name, sub in action.choices.items():
                    assert name in helped, f"'{' '.join([*path, name])}' is missing from '{' '.join(path)} --help'"
                    walk(sub, [*path, name])

    walk(build_parser(), ["helpdesk"])


def test_a_query_no_ticket_of_the_view_can_match_is_an_error(ready):
    line = ready.error("ticket", "list", "--view", "all", "--query", "status:closed", code=2)
    assert line.startswith("helpdesk: error: the view 'All' holds only tickets with status "), line
    assert "--view solved" in line
    assert ready.json("ticket", "list", "--view", "solved", "--query", "status:closed") == []
    assert ready.error("ticket", "list", "--query", "tag:~", code=2) == (
        "helpdesk: error: 'tag:~' needs the text to look for, e.g. tag:~bil at column 1")


def test_agent_set_refuses_an_unknown_shift(ready):
    assert ready.error("agent", "set", "alice", "--shift", "garbage", code=2) == (
        "helpdesk: error: unknown shift 'garbage' (no shifts are configured; '' clears it)")
    assert ready.json("agent", "set", "alice", "--shift", "")["shift"] is None


def test_sync_once_and_status_in_json(cli, tmp_path):
    """One JSON document per run for scripts, and nothing on stderr."""
    require("dovecot")
    require("smtp")
    from ..mail_fixtures import IMAP_PASSWORD_ENV, SUPPORT, customer_mail, write_config

    db = tmp_path / "mail.db"
    cli.run("--db", str(db), "db", "upgrade")
    with DovecotServer() as imap, SmtpServer() as smtp:
        imap.append("support", "INBOX", customer_mail())
        config = write_config(tmp_path / "mail.toml", database_url=str(db), imap_port=imap.port, smtp_port=smtp.port)
        env = {IMAP_PASSWORD_ENV: "secret"}
        proc = cli.run("--config", str(config), "sync", "--once", "--json", env=env)
        assert proc.stderr == ""
        report = json.loads(proc.stdout)
        [box] = report["mailboxes"]
        assert {k: box[k] for k in ("account", "mailbox", "fetched", "created", "entries", "duplicates",
                                    "set_aside", "bounces", "auto", "error", "busy")} == {
            "account": SUPPORT, "mailbox": "INBOX", "fetched": 1, "created": 1, "entries": 1, "duplicates": 0,
            "set_aside": 0, "bounces": 0, "auto": 0, "error": None, "busy": None}
        assert isinstance(box["seconds"], float)
        assert report["chatbot"] == []
        assert report["outbox"] == {"sent": 0, "retrying": 0, "failed": 0, "unknown": 0, "suppressed": 0,
                                    "busy": [], "errors": []}

        proc = cli.run("--config", str(config), "sync", "--status", "--json", env=env)
        assert proc.stderr == ""
        status = json.loads(proc.stdout)
        [state] = status["mailboxes"]
        assert (state["account"], state["mailbox"], state["messages"], state["last_uid"]) == (SUPPORT, "INBOX", 1, 1)
        assert state["last_sync_at"] and state["warning"] is None and state["last_error"] is None
        assert isinstance(state["uidvalidity"], int)
        assert status["outbox"] == {}
        assert (status["set_aside_total"], status["set_aside"]) == (0, [])
        assert cli.error("--config", str(config), "sync", "--json", code=2) == (
            "helpdesk: error: --json needs --once or --status (the running service has no single document to print)")


def test_ticket_list_json_carries_the_requester_email(ready):
    ready.run("ticket", "create", "--requester", "Bo@Example.org", "--name", "Bo Berg", "--subject", "Hi",
              "--body", "x")
    rows = ready.json("ticket", "list")
    assert [(r["requester"], r["requester_email"]) for r in rows] == [
        ("Bo Berg", "bo@example.org"), ("ann@example.com", "ann@example.com")]


def test_unknown_agents_in_a_query_are_an_error(ready):
    agents = ", ".join(sorted(["alice", os_login()]))
    for query in ("assignee:bob", "status:new assignee:me,bob", "assignee:!nobody"):
        bad = query.rsplit(",", 1)[-1].rsplit(":", 1)[-1].lstrip("!")
        line = f"helpdesk: error: unknown agent '{bad}' (agents: {agents}; or me, none)"
        assert ready.error("ticket", "list", "--query", query, code=2).startswith(line)
        assert ready.error("view", "save", "Broken", query, code=2).startswith(line)
    assert [r["id"] for r in ready.json("ticket", "list", "--query", "assignee:alice,none,me")] == [1]
    assert [r["id"] for r in ready.json("ticket", "list", "--query", "assignee:ALICE")] == []
    assert "Broken" not in [v["name"] for v in ready.json("view", "list")]

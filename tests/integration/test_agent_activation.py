"""``helpdesk agent deactivate|activate``: a deactivated agent is never assigned, cannot act, and is listed so."""

from __future__ import annotations

from tui_helpdesk.services.agents import os_login

from .test_cli import Cli, cli, ready  # noqa: F401  (fixtures)


def test_deactivate_and_activate(ready: Cli):
    cli = ready
    me = os_login()
    cli.run("agent", "add", "bob", "--name", "Bob Brown")
    assert cli.json("ticket", "assign", "1", "alice")["assignee"] == "alice"

    alice = cli.json("agent", "deactivate", "alice")
    assert (alice["login"], alice["active"]) == ("alice", False)
    listed = {a["login"]: a["active"] for a in cli.json("agent", "list")}
    assert listed == {"alice": False, "bob": True, me: True}
    line = next(ln for ln in cli.run("agent", "list").stdout.splitlines() if ln.startswith("alice"))
    assert "deactivated" in line

    # Cannot act: neither the app's nor a script's identity, nor through --as.
    assert cli.error("--as", "alice", "ticket", "list", code=1) == (
        "helpdesk: error: 'alice' is deactivated and cannot act")
    # Never assigned: not by hand ...
    assert cli.error("ticket", "assign", "1", "alice", code=2) == (
        "helpdesk: error: agent 'alice' is deactivated; an admin can bring them back with: "
        "helpdesk agent activate alice")
    # ... and not automatically: a balanced desk hands new tickets to the others only.
    cli.run("desk", "set", "support", "assignment.method=balanced")
    for n in range(4):
        cli.run("ticket", "create", "--requester", f"c{n}@example.com", "--subject", f"Q{n}", "--body", "hi")
    owners = [t["assignee"] for t in cli.json("ticket", "list", "--view", "all")]
    assert "Alice Adams" not in owners[:4] and "Bob Brown" in owners[:4]
    explained = cli.json("assign", "--explain", "2")
    assert "alice" not in {a["login"] for a in explained["agents"]}

    # An agent may not do it, nor deactivate themselves; an unknown login is named.
    assert cli.error("--as", "bob", "agent", "deactivate", me, code=1) == (
        "helpdesk: error: only an admin can deactivate agents")
    assert cli.error("agent", "deactivate", me, code=2) == "helpdesk: error: you cannot deactivate yourself"
    assert cli.error("agent", "activate", "nobody", code=1) == "helpdesk: error: no agent 'nobody'"

    back = cli.json("agent", "activate", "alice")
    assert back["active"] is True
    assert cli.json("--as", "alice", "agent", "me")["login"] == "alice"
    assert cli.run("agent", "activate", "alice").stdout == "activated agent alice\n"  # already active: fine
    assert cli.json("ticket", "assign", "1", "alice")["assignee"] == "alice"

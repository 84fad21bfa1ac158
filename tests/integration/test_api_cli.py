"""``helpdesk api …`` and ``helpdesk webhook …`` as scripts run them: tokens, webhooks, sync sending, serve."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time

import httpx

from ..api_support import verify
from .test_cli import HELPDESK, cli  # noqa: F401 - the fixture


class ThreadReceiver:
    """A webhook endpoint in a thread, for commands that run as subprocesses."""

    def __init__(self):
        self.calls: list[tuple[dict, bytes]] = []
        calls = self.calls

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_tokens_are_for_admins_shown_once_and_revocable(cli):
    cli.run("db", "upgrade")
    cli.run("agent", "add", "alice")
    made = cli.json("api", "token", "create", "web form", "--scope", "read")
    assert made["token"].startswith("hd_") and made["scopes"] == ["read"] and made["revoked_at"] is None
    plain = cli.run("api", "token", "create", "shop")
    token = plain.stdout.strip()
    assert token.startswith("hd_") and "shown only now" in plain.stderr
    listed = cli.json("api", "token", "list")
    assert [t["name"] for t in listed] == ["web form", "shop"]
    assert token not in json.dumps(listed) and made["token"] not in cli.run("api", "token", "list").stdout
    assert cli.json("api", "token", "revoke", str(made["id"]))["revoked_at"]
    # An agent who is not an admin (here: the admin acting as alice) may not.
    assert cli.error("--as", "alice", "api", "token", "list", code=1) == (
        "helpdesk: error: only an admin can list API tokens")
    assert cli.error("--as", "alice", "webhook", "add", "https://crm.example/hook", code=1) == (
        "helpdesk: error: only an admin can manage webhooks")
    assert cli.error("api", "token", "create", "x", "--scope", "admin", code=2) == (
        "helpdesk: error: unknown scope admin (read, write)")
    assert cli.error("api", "token", "revoke", "99", code=1) == "helpdesk: error: no API token 99"


def test_webhooks_from_the_command_line_and_sent_by_sync_once(cli):
    receiver = ThreadReceiver()
    try:
        cli.run("db", "upgrade")
        sub = cli.json("webhook", "add", receiver.url, "--events", "created,agent_reply", "--description", "CRM")
        secret = sub["secret"]
        assert secret.startswith("whsec_") and sub["events"] == ["ticket.created", "ticket.agent_reply"]
        assert secret not in cli.run("webhook", "list").stdout
        cli.run("ticket", "create", "--requester", "ann@example.com", "--subject", "Hi", "--body", "Hello")
        cli.run("ticket", "note", "1", "--body", "PRIVATE remark")
        [pending] = cli.json("webhook", "deliveries", "--status", "pending")
        assert pending["event"] == "ticket.created" and pending["attempts"] == 0
        # No mailbox or chatbot is configured: sync --once still sends the webhooks.
        report = cli.json("sync", "--once")
        assert report["webhooks"] == {"sent": 1, "retrying": 0, "failed": 0, "busy": None}
        [(headers, body)] = receiver.calls
        assert verify(secret, headers, body) and b"PRIVATE" not in body
        shown = cli.json("webhook", "deliveries", pending["delivery_id"])
        assert shown["status"] == "sent" and [a["status"] for a in shown["attempts"]] == [204]
        again = cli.json("webhook", "redeliver", pending["delivery_id"])
        assert again["redelivery_of"] == pending["id"] and again["delivery_id"] != pending["delivery_id"]
        new_secret = cli.json("webhook", "rotate-secret", str(sub["id"]))["secret"]
        assert cli.json("webhook", "pause", str(sub["id"]))["state"] == "paused"
        assert cli.json("sync", "--once")["webhooks"]["sent"] == 0  # paused: it waits
        assert cli.json("webhook", "resume", str(sub["id"]))["state"] == "active"
        assert cli.json("sync", "--once")["webhooks"]["sent"] == 1
        headers, body = receiver.calls[-1]
        assert verify(new_secret, headers, body) and verify(secret, headers, body)
        cli.json("webhook", "remove", str(sub["id"]))
        assert cli.json("webhook", "list") == []
        assert cli.error("webhook", "add", "file:///etc/passwd", code=2) == (
            "helpdesk: error: 'file:///etc/passwd' is not an http(s) URL")
    finally:
        receiver.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_serve_with_two_workers(cli):
    cli.run("db", "upgrade")
    token = cli.run("api", "token", "create", "form").stdout.strip()
    port = _free_port()
    proc = subprocess.Popen([*HELPDESK, "api", "serve", "--port", str(port), "--workers", "2",
                             "--log-level", "warning"], env=cli.env, cwd=cli.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        ids = set()
        with httpx.Client(base_url=base, headers=headers, timeout=10) as c:
            for i in range(6):
                k = i % 3  # each key sent twice with the same body
                r = c.post("/api/v1/tickets", json={"requester": {"email": f"c{k}@example.com"}, "subject": f"S{k}",
                                                    "body": "hello"}, headers={"Idempotency-Key": f"k{k}"})
                assert r.status_code == 201, r.text
                ids.add(r.json()["data"]["id"])
            assert c.get("/api/v1/tickets").json()["pagination"]["hasMore"] is False
        assert len(ids) == 3  # three keys, three tickets, whichever worker answered
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert "Traceback" not in proc.stderr.read()
    assert len(cli.json("ticket", "list")) == 3


def test_api_serve_refuses_bad_options_and_a_missing_database(cli, tmp_path):
    assert cli.error("api", "serve", "--port", "0", code=2) == "helpdesk: error: --port is 1 to 65535"
    missing = tmp_path / "nope.db"
    line = cli.error("--db", str(missing), "api", "serve", code=1)
    assert "does not exist" in line


def test_long_running_sync_sends_webhooks_as_they_are_queued(cli):
    receiver = ThreadReceiver()
    try:
        cli.run("db", "upgrade")
        secret = cli.json("webhook", "add", receiver.url, "--events", "created")["secret"]
        proc = subprocess.Popen([*HELPDESK, "sync", "--quiet"], env=cli.env, cwd=cli.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            time.sleep(1.0)
            assert proc.poll() is None, proc.stderr.read()
            cli.run("ticket", "create", "--requester", "ann@example.com", "--subject", "Hi", "--body", "Hello")
            deadline = time.monotonic() + 15
            while not receiver.calls and time.monotonic() < deadline:
                time.sleep(0.1)
            [(headers, body)] = receiver.calls
            assert verify(secret, headers, body) and json.loads(body)["type"] == "ticket.created"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        receiver.close()


def test_webhook_test_pings_the_endpoint_and_says_how_it_went(cli):
    receiver = ThreadReceiver()
    cli.run("db", "upgrade")
    sub = cli.json("webhook", "add", receiver.url, "--events", "agent_reply")
    ping = cli.json("webhook", "test", str(sub["id"]))
    assert (ping["status"], ping["last_status"], ping["event"]) == ("sent", 204, "webhook.ping")
    [(headers, body)] = receiver.calls
    assert verify(sub["secret"], headers, body) and json.loads(body)["data"] == {"subscription": sub["id"]}
    receiver.close()
    line = cli.error("webhook", "test", str(sub["id"]), code=1)
    assert line.startswith(f"helpdesk: error: webhook {sub['id']}: ping not delivered: ")

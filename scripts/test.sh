#!/usr/bin/env bash
# Run the whole test suite with one command, on a fresh Debian 12 machine too.
#
# Installs what is missing, and only that: Debian packages for the real test
# servers (Dovecot IMAP, PostgreSQL, tmux) and the project with its test extra
# (pip install -e '.[test]'). Then runs pytest on 2 workers; arguments are passed
# to pytest, e.g.  scripts/test.sh tests/integration/test_servers.py -x
#
# Exit code: pytest's. "No tests collected" (pytest's 5) is a failure too.
# Environment: PYTHON picks the interpreter (default: .venv/bin/python if it
# exists, else python3; a venv in .venv is made when python3 is the system's
# externally managed one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf 'test.sh: %s\n' "$*" >&2; }

have() {  # a command on PATH or in an sbin directory
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

# ---------------------------------------------------------------- Debian packages
need=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if ! have dovecot || ! have doveadm || ! compgen -G '/usr/lib/dovecot/imap' >/dev/null; then
    need+=(dovecot-imapd)
fi
have tmux || need+=(tmux)
if [ -z "${PYTHON:-}" ] && [ ! -x .venv/bin/python ] && ! have python3; then
    need+=(python3 python3-venv python3-pip)
fi

if [ "${#need[@]}" -gt 0 ]; then
    say "installing Debian packages: ${need[*]}"
    if as_root true; then
        # keep package scripts from starting system services (Dovecot on 143,
        # a PostgreSQL cluster on 5432): the tests start their own instances
        policy_made=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
            policy_made=1
            trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
        if [ -n "$policy_made" ]; then
            as_root rm -f /usr/sbin/policy-rc.d
            trap - EXIT
        fi
    else
        say "WARNING: cannot install ${need[*]} (not root, no sudo): tests needing them will skip (fail under CI=true)"
    fi
fi

# ---------------------------------------------------------------- Python
if [ -n "${PYTHON:-}" ]; then
    PY="$PYTHON"
elif [ -x .venv/bin/python ]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="python3"
    # Debian's own python3 refuses pip installs (PEP 668): use a venv then
    if "$PY" - <<'EOF'
import sys, sysconfig, pathlib
managed = pathlib.Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED").exists()
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)
EOF
    then
        if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' 2>/dev/null; then
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
        fi
        say "creating .venv (python3 is externally managed)"
        "$PY" -m venv .venv
        PY="$ROOT/.venv/bin/python"
    fi
fi

# Is the project installed editable from this tree, with every requirement of it
# and of its test extra (followed down through their own requirements) met?
install_ok() {
    "$PY" - <<'EOF'
import importlib.metadata as md
import json
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

root = Path.cwd()
# look at what is installed, not at the *.egg-info an editable build leaves in the tree
sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != root]
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
problems = []

try:
    dist = md.distribution(project["name"])
except md.PackageNotFoundError:
    problems.append(f"{project['name']} is not installed")
else:
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url") != root.as_uri() or not direct.get("dir_info", {}).get("editable"):
        problems.append(f"{project['name']} is not installed editable from {root}")
    if dist.version != project["version"]:
        problems.append(f"{project['name']} {dist.version} installed, {project['version']} in pyproject.toml")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    if scripts != project.get("scripts", {}):
        problems.append("console scripts changed")

seen = set()
todo = [(Requirement(r), "") for r in project.get("dependencies", [])]
todo += [(Requirement(r), "test") for r in project.get("optional-dependencies", {}).get("test", [])]
while todo:
    req, extra = todo.pop()
    if req.marker is not None and not req.marker.evaluate({"extra": extra}):
        continue
    key = (canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)))
    if key in seen:
        continue
    seen.add(key)
    try:
        dep = md.distribution(req.name)
    except md.PackageNotFoundError:
        problems.append(f"missing {req}")
        continue
    if req.specifier and not req.specifier.contains(dep.version, prereleases=True):
        problems.append(f"{req.name} {dep.version} does not satisfy {req}")
        continue
    for sub in dep.requires or []:
        sub_req = Requirement(sub)
        for wanted in ("", *sorted(req.extras)):
            if sub_req.marker is None or sub_req.marker.evaluate({"extra": wanted}):
                todo.append((sub_req, wanted))
                break

for problem in problems[:10]:
    print(f"test.sh: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
}

if ! install_ok; then
    say "installing the project: pip install -e '.[test]'"
    "$PY" -m pip install -q --disable-pip-version-check -e '.[test]'
fi

# ---------------------------------------------------------------- tests
rc=0
"$PY" -m pytest -q -n 2 "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    say "FAILED: pytest collected no tests"
fi
exit "$rc"

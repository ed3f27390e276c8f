#!/usr/bin/env python
# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run every YAML example of the documentation, as written, and fail when one fails.

Examples are the code blocks of type ``yaml`` or ``yaml+jinja`` of README.md, docs/*.md and
docs/docsite/rst/*.rst (Markdown fences, reStructuredText ``code-block``/``code`` directives). An example is
either a playbook (a list of plays: every entry has ``hosts`` or imports a playbook) or a list of tasks
(no entry has ``hosts``); any other YAML is refused, with what to do about it.

Each example runs on a new podman container of its own (scripts/test_hosts.sh: Debian, sshd on a 127.0.0.1
port, root over SSH, no network beyond loopback), so it may upgrade packages, write to /srv or create users:
nothing of this machine is touched. A list of tasks runs as the tasks of one play on that host; a playbook
runs with its plays' ``hosts`` groups pointing at that host. What an example needs and does not show (a
backup script, PostgreSQL's pg_dump, a package repository, files to download, their variables) comes from
the fixtures of tests/docs_examples/fixtures.yml: an example gets every fixture whose ``matches`` regular
expression is found in its text; a fixture sets up the host before the example (fixtures/<name>/setup.yml),
gives it variables (host variables, so the example's own win), and checks afterwards that the example did
what it shows (fixtures/<name>/verify.yml).

    python tests/docs_examples/run.py --list           # the examples found, their kind and fixtures
    python tests/docs_examples/run.py --check          # write the playbooks, ansible-playbook --syntax-check
    python tests/docs_examples/run.py                  # run them all (root: podman containers)
    python tests/docs_examples/run.py README.md        # only the examples of these files

ansible-playbook and the collection come from the environment (the docs-examples nox session sets
ANSIBLE_COLLECTIONS_PATH to a link to the work tree). Logs: tests/output/docs-examples/<file>-<line>.log.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DOC_GLOBS = ("README.md", "docs/*.md", "docs/docsite/rst/*.rst")
YAML_TYPES = ("yaml", "yaml+jinja")
PLAYBOOK_KEYS = ("hosts", "import_playbook", "ansible.builtin.import_playbook")
# the hosts of the examples: names and sshd ports of their containers (the molecule scenarios use 22301-22331)
HOST_PREFIX = "asyncops-docs-"
FIRST_PORT = 22341
DEFAULT_SUITE = "trixie"

MD_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+.-]*)")
RST_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
PLAIN_GROUP = re.compile(r"^[A-Za-z_][\w-]*$")


class ExampleError(Exception):
    """An example that cannot be run as it stands; the message says why and what to do."""


@dataclasses.dataclass
class Example:
    """One code block of the documentation."""

    path: Path
    line: int  # of the fence or directive
    lang: str
    text: str
    kind: str = ""
    fixtures: list[str] = dataclasses.field(default_factory=list)

    @property
    def where(self) -> str:
        return "%s:%d" % (self.path.relative_to(ROOT), self.line)

    @property
    def slug(self) -> str:
        return re.sub(r"[^\w.-]+", "-", "%s-%d" % (self.path.relative_to(ROOT), self.line))


# --- finding the examples ------------------------------------------------------------------------------
def markdown_blocks(path: Path) -> t.Iterator[tuple[int, str, str]]:
    """(line of the opening fence, type, text) of each fenced code block of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = MD_FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*%s%s*\s*$" % (re.escape(fence), re.escape(fence[0])), lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        yield index + 1, opening.group("lang").lower(), "\n".join(body) + "\n"
        index = end + 1


def rst_blocks(path: Path) -> t.Iterator[tuple[int, str, str]]:
    """(line of the directive, type, text) of each code-block/code directive of a reStructuredText file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        directive = RST_DIRECTIVE.match(line)
        if not directive:
            continue
        outer = len(directive.group("indent"))
        body_start = index + 1
        # the directive's options (:caption: ...) and the blank line before the content
        while body_start < len(lines) and (
            not lines[body_start].strip() or re.match(r"^\s+:[\w-]+:", lines[body_start])
        ):
            body_start += 1
        if body_start >= len(lines):
            continue
        inner = len(lines[body_start]) - len(lines[body_start].lstrip())
        if inner <= outer:
            continue
        body: list[str] = []
        for text in lines[body_start:]:
            if text.strip() and len(text) - len(text.lstrip()) < inner:
                break
            body.append(text[inner:])
        while body and not body[-1].strip():
            body.pop()
        yield index + 1, directive.group("lang").lower(), "\n".join(body) + "\n"


def find_examples(paths: t.Sequence[Path]) -> list[Example]:
    """Every yaml / yaml+jinja code block of the given files, in file and line order."""
    examples = []
    for path in paths:
        blocks = rst_blocks(path) if path.suffix == ".rst" else markdown_blocks(path)
        examples.extend(Example(path, line, lang, text) for line, lang, text in blocks if lang in YAML_TYPES)
    return examples


def doc_files(selected: t.Sequence[str]) -> list[Path]:
    """The documentation files: those given (relative to the collection root), or all of DOC_GLOBS."""
    if selected:
        paths = [(ROOT / name).resolve() for name in selected]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SystemExit("no such file: %s" % ", ".join(missing))
        return paths
    return sorted({p for pattern in DOC_GLOBS for p in ROOT.glob(pattern)})


# --- what an example is --------------------------------------------------------------------------------
class _TolerantLoader(yaml.SafeLoader):
    """YAML with Ansible's tags (!unsafe, !vault) read as plain values: only the shape matters here."""


_TolerantLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
)


def classify(example: Example) -> str:
    """'playbook' or 'tasks'; ExampleError for any other YAML."""
    try:
        data = yaml.load(example.text, Loader=_TolerantLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise ExampleError("%s is not valid YAML: %s" % (example.where, exc)) from None
    if isinstance(data, list) and data and all(isinstance(entry, dict) for entry in data):
        plays = [entry for entry in data if any(key in entry for key in PLAYBOOK_KEYS)]
        if len(plays) == len(data):
            return "playbook"
        if not plays:
            return "tasks"
    raise ExampleError(
        "%s is a %s code block but neither a playbook (a list of plays, each with hosts:) nor a list of tasks: "
        "make it one of those, or give the block another type (text, ini, console...) if it is no example to run"
        % (example.where, example.lang)
    )


def playbook_groups(example: Example) -> list[str]:
    """The groups the plays of a playbook example name, which its host joins; localhost is refused."""
    groups: set[str] = set()
    for play in yaml.load(example.text, Loader=_TolerantLoader):  # noqa: S506 - a SafeLoader
        hosts = play.get("hosts")
        patterns = hosts if isinstance(hosts, list) else str(hosts or "").replace(",", ":").split(":")
        for pattern in (str(p).strip() for p in patterns):
            if pattern in ("localhost", "127.0.0.1"):
                raise ExampleError(
                    "%s runs a play on localhost, which would be this machine: write hosts: all or a "
                    "group name" % example.where
                )
            if PLAIN_GROUP.match(pattern) and pattern != "all":
                groups.add(pattern)
    return sorted(groups)


def load_fixtures() -> dict[str, dict[str, t.Any]]:
    """fixtures.yml: {name: {matches, vars, ...}}, each with its setup/verify task files checked."""
    fixtures = yaml.safe_load((HERE / "fixtures.yml").read_text(encoding="utf-8")) or {}
    for name, fixture in fixtures.items():
        if not isinstance(fixture, dict) or not fixture.get("matches"):
            raise SystemExit("fixtures.yml: %s needs a `matches` regular expression" % name)
        fixture["pattern"] = re.compile(fixture["matches"])
        fixture.setdefault("vars", {})
        for step in ("setup", "verify"):
            path = HERE / "fixtures" / name / ("%s.yml" % step)
            fixture[step] = path if path.is_file() else None
    return fixtures


# --- the playbook of an example ------------------------------------------------------------------------
def play(name: str, tasks: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    return {"name": name, "hosts": "all", "gather_facts": False, "tasks": tasks}


def import_tasks(name: str, path: Path) -> dict[str, t.Any]:
    return {"name": name, "ansible.builtin.import_tasks": str(path)}


def write_playbook(example: Example, fixtures: dict[str, dict[str, t.Any]], work: Path) -> Path:
    """work/<slug>/: the example verbatim (example.yml), and playbook.yml around it: the fixtures' setup, the
    example (imported, so it runs as written), the fixtures' checks. Returns playbook.yml."""
    directory = work / example.slug
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "example.yml").write_text(example.text, encoding="utf-8")
    used = [fixtures[name] | {"name": name} for name in example.fixtures]
    plays: list[dict[str, t.Any]] = []
    setup = [import_tasks("Fixture %s" % f["name"], f["setup"]) for f in used if f["setup"]]
    if setup:
        plays.append(play("Set up the host for %s" % example.where, setup))
    if example.kind == "playbook":
        plays.append({"ansible.builtin.import_playbook": "example.yml"})
    else:
        plays.append(
            play(example.where, [import_tasks("The example of %s" % example.where, directory / "example.yml")])
        )
    verify = [import_tasks("Check of fixture %s" % f["name"], f["verify"]) for f in used if f["verify"]]
    if verify:
        plays.append(play("Check what %s did" % example.where, verify))
    playbook = directory / "playbook.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False, width=160), encoding="utf-8")
    return playbook


def write_inventory(
    example: Example, fixtures: dict[str, dict[str, t.Any]], directory: Path, host: str, host_line: str
) -> Path:
    """The example's inventory: its one host (in the groups its plays name), and host_vars/<host>.yml with the
    variables of its fixtures and docs_examples_port, a free loopback port for a fixture's server."""
    groups = playbook_groups(example) if example.kind == "playbook" else []
    inventory = directory / "inventory.ini"
    text = "%s\n" % host_line
    for group in groups:
        text += "\n[%s]\n%s\n" % (group, host)
    inventory.write_text(text, encoding="utf-8")
    variables: dict[str, t.Any] = {"docs_examples_port": free_port()}
    for name in example.fixtures:
        variables.update(fixtures[name]["vars"])
    (directory / "host_vars").mkdir(exist_ok=True)
    (directory / "host_vars" / ("%s.yml" % host)).write_text(
        yaml.safe_dump(variables, sort_keys=False), encoding="utf-8"
    )
    return inventory


def free_port() -> int:
    """A port free on 127.0.0.1 now (the containers share this machine's network namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- running -------------------------------------------------------------------------------------------
def ansible_env() -> dict[str, str]:
    env = dict(
        os.environ,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    env.pop("ANSIBLE_ASYNC_DIR", None)  # the examples use the default async dir, on their own new host
    return env


def syntax_check(playbook: Path, host: str) -> tuple[bool, str]:
    """ansible-playbook --syntax-check with a stand-in inventory of the example's host."""
    inventory = playbook.parent / "syntax-inventory.ini"
    inventory.write_text("%s ansible_connection=local\n" % host, encoding="utf-8")
    proc = subprocess.run(
        ["ansible-playbook", "--syntax-check", "-i", str(inventory), playbook.name],
        cwd=playbook.parent,
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


def start_hosts(names: list[str], suite: str, directory: Path) -> dict[str, str]:
    """Start one container per name with scripts/test_hosts.sh; {name: its inventory line}."""
    specs = ["%s:%s:%d" % (name, suite, FIRST_PORT + index) for index, name in enumerate(names)]
    subprocess.run(["bash", str(ROOT / "scripts" / "test_hosts.sh"), "start", str(directory), *specs], check=True)
    lines = (directory / "inventory.ini").read_text(encoding="utf-8").splitlines()
    return {line.split()[0]: line for line in lines if line.strip()}


def stop_hosts(directory: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "test_hosts.sh"), "stop", str(directory)], check=False)


def run_example(example: Example, playbook: Path, inventory: Path, log: Path) -> tuple[bool, float]:
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        fixtures = ", ".join(example.fixtures) or "none"
        out.write("# %s (%s; fixtures: %s)\n# %s\n" % (example.where, example.kind, fixtures, playbook))
        out.flush()
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(inventory), playbook.name],
            cwd=playbook.parent,
            env=ansible_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return proc.returncode == 0, time.monotonic() - started


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", maxsplit=1)[0])
    parser.add_argument("files", nargs="*", help="documentation files, relative to the collection root (default: all)")
    parser.add_argument("--list", action="store_true", help="list the examples and exit")
    parser.add_argument("--check", action="store_true", help="only write the playbooks and syntax-check them")
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "tests" / "output" / "docs-examples" / "work",
        help="where the playbooks, inventories and the hosts' keys are written",
    )
    parser.add_argument("--logs", type=Path, default=ROOT / "tests" / "output" / "docs-examples")
    parser.add_argument("--suite", default=DEFAULT_SUITE, help="Debian suite of the containers (default %(default)s)")
    args = parser.parse_args(argv)

    examples = find_examples(doc_files(args.files))
    if not examples:
        print("no yaml code block found in %s" % ", ".join(args.files or DOC_GLOBS))
        return 1
    fixtures = load_fixtures()
    problems = []
    for example in examples:
        try:
            example.kind = classify(example)
            if example.kind == "playbook":
                playbook_groups(example)
        except ExampleError as exc:
            problems.append(str(exc))
        example.fixtures = [name for name, fixture in fixtures.items() if fixture["pattern"].search(example.text)]
    for example in examples:
        print("%-48s %-8s fixtures: %s" % (example.where, example.kind or "-", ", ".join(example.fixtures) or "none"))
    if problems:
        print("\n".join(["", *problems]))
        return 1
    if args.list:
        return 0

    args.work = args.work.resolve()
    args.logs.mkdir(parents=True, exist_ok=True)
    hosts = ["%s%d" % (HOST_PREFIX, index + 1) for index in range(len(examples))]
    playbooks = [write_playbook(example, fixtures, args.work) for example in examples]
    failed = []
    for example, playbook, host in zip(examples, playbooks, hosts):
        ok, output = syntax_check(playbook, host)
        if not ok:
            failed.append(example.where)
            print("\nsyntax check of %s failed:\n%s" % (example.where, output))
    if failed or args.check:
        print("\n%d example(s), %d failed the syntax check" % (len(examples), len(failed)))
        return 1 if failed else 0

    if os.geteuid() != 0:
        print("\nthe examples run on podman containers, which needs root: run again as root, or use --check")
        return 1
    hosts_dir = args.work / "hosts"
    results = []
    try:
        lines = start_hosts(hosts, args.suite, hosts_dir)
        for example, playbook, host in zip(examples, playbooks, hosts):
            inventory = write_inventory(example, fixtures, playbook.parent, host, lines[host])
            log = args.logs / ("%s.log" % example.slug)
            ok, seconds = run_example(example, playbook, inventory, log)
            results.append((example, ok, seconds, log))
            shown = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
            print("%s  %-48s %5.0fs  %s" % ("PASS" if ok else "FAIL", example.where, seconds, shown), flush=True)
            if not ok:
                print("---- last lines of %s ----\n%s\n----" % (log.name, tail(log)), flush=True)
    finally:
        stop_hosts(hosts_dir)
    failed = [example.where for example, ok, _seconds, _log in results if not ok]
    print(
        "\n%d example(s) run, %d failed%s" % (len(results), len(failed), (": " + ", ".join(failed)) if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

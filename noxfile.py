# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test sessions of asyncops.jobs: `nox -l` lists them, `bash scripts/test.sh` runs them all.

The stock antsibull-nox sessions (lint, docs-check, license-check, extra-checks, build-import-check,
ansible-lint) are configured in antsibull-nox.toml. This file adds what they cannot do here:

- ansible-test-{sanity,units,integration}-{2.19,2.20,2.21}: ansible-test with --venv (no containers),
  ansible-core exactly as pinned in tests/requirements-core-<series>.txt, controller Python 3.11/3.12/3.13,
  with the offline get-pip stand-in ansible-test needs on this network;
- ansible-test-integration-2.19-target3.8: the integration targets against a Python 3.8 target;
- pytest-ansible: the unit tests with plain pytest (--ansible-unit-inject-only), as tox-ansible runs them;
- collection-tarball: build the tarball from the work tree, refuse dev-only entries, install it, run
  tests/smoke/fqcn.yml and ansible-doc against the installed copy only;
- molecule, chaos: the scenarios of extensions/molecule on podman containers (root only);
- changelog: antsibull-changelog lint;
- core-targets-{2.19,2.20,2.21}: ansible-core's own integration targets for `async:` (from the sdist of the
  pinned version), with ansible-core alone and with keyword mode (tests/core_targets/run.py);
- demo-{2.19,2.20,2.21}: docs/examples/demo.yml on localhost (scripts/demo.sh), with a new async dir of its own;
- docs-examples: every YAML example of README.md, docs/*.md and docs/docsite/rst/*.rst, run as written on a podman
  container of its own, with the fixtures of tests/docs_examples (root only; syntax-checked only otherwise).
- runner-events: ansible-runner runs the fleet view playbook asyncops.jobs.jobs; its job events carry the rows;
- bench: bench/bench.py (docs/benchmark.md) with ansible-core 2.19 as pinned, against this work tree.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import nox

try:
    import antsibull_nox
    from antsibull_nox.sessions import prepare_collections
except ImportError:
    print("You need to install antsibull-nox in the same Python environment as nox (bash scripts/setup.sh does).")
    sys.exit(1)

ROOT = Path(__file__).resolve().parent
NAMESPACE, NAME = "asyncops", "jobs"
CORE_PYTHON = {"2.19": "3.11", "2.20": "3.12", "2.21": "3.13"}
OLDEST_SERIES = min(CORE_PYTHON, key=lambda series: tuple(int(part) for part in series.split(".")))
TOOLS = ("-c", "tests/requirements-tools.txt")
LOCAL_INVENTORY = (
    '[all]\nlocalhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
)
# entries a built tarball must not have: dev-only trees, test output, caches
FORBIDDEN_IN_TARBALL = re.compile(
    r"^(collections|scripts|bench|tests/output|\.nox|\.ansible|\.pytest_cache|\.mypy_cache)(/|$)|(^|/)__pycache__(/|$)|\.pyc$"
)

# interpreters for the target side of ansible-test (setup.sh links python3.8 ... python3.13 there)
PYBIN = Path(os.environ.get("ASYNCOPS_VENV_DIR", "~/.cache/asyncops-jobs")).expanduser() / "pybin"
if PYBIN.is_dir():
    os.environ["PATH"] = f"{PYBIN}{os.pathsep}{os.environ.get('PATH', '')}"

nox.options.reuse_venv = "yes"
nox.options.error_on_external_run = True

antsibull_nox.load_antsibull_nox_toml()


def tmp_dir(session: nox.Session) -> Path:
    """The session's temporary directory, as an absolute path (the commands run in other directories)."""
    return Path(session.create_tmp()).resolve()


def output_dir(session: nox.Session) -> Path:
    """tests/output/<session>/ of the work tree, for reports worth keeping."""
    path = ROOT / "tests" / "output" / session.name
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- ansible-test --------------------------------------------------------------------------------------
def install_get_pip_stand_in(session: nox.Session) -> None:
    """Put the offline get-pip stand-in where this ansible-test looks for its cached get-pip.py."""
    version = session.run(
        "python",
        "-c",
        "import pathlib, re, ansible_test; "
        "path = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'; "
        "print(re.search(r\"pip='([0-9.]+)'\", path.read_text()).group(1))",
        silent=True,
    )
    if not version:  # --install-only
        return
    target = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.strip().replace('.', '_')}.py"
    if target.is_file() and "asyncops-get-pip-stand-in" not in target.read_text(encoding="utf-8"):
        session.log(f"keeping {target} (a real get-pip.py)")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "scripts" / "get_pip_stand_in.py", target)


def run_ansible_test(session: nox.Session, series: str, *args: str) -> None:
    """ansible-test <args> --color no [posargs] in a copy of the collection at ansible_collections/asyncops/jobs."""
    session.install("-r", f"tests/requirements-core-{series}.txt")
    install_get_pip_stand_in(session)
    tree = prepare_collections(
        session, ansible_core_version=series, install_in_site_packages=False, install_out_of_tree=True
    )
    if tree is None:
        return
    # keep ansible-test's --venv environments with the nox venv: the copy of the collection is new each run
    venvs = Path(session.virtualenv.location) / "ansible-test-delegation"
    venvs.mkdir(exist_ok=True)
    (tree.current_path / "tests" / "output" / ".tmp").mkdir(parents=True, exist_ok=True)
    (tree.current_path / "tests" / "output" / ".tmp" / "delegation").symlink_to(venvs)
    try:
        with session.chdir(tree.current_path):
            session.run("ansible-test", *args, "--color", "no", *session.posargs)
    finally:
        for report in ("junit", "bot"):
            src = tree.current_path / "tests" / "output" / report
            if src.is_dir():
                shutil.copytree(src, output_dir(session) / report, dirs_exist_ok=True)


def integration_args() -> list[str]:
    """Extra arguments for ansible-test integration: ASYNCOPS_INTEGRATION_ARGS, by default
    --allow-destructive (the async_run target adds and removes the user asyncops_test to test become)."""
    return os.environ.get("ASYNCOPS_INTEGRATION_ARGS", "--allow-destructive").split()


def units_pythons(series: str, python: str) -> tuple[str, ...]:
    """The oldest ansible-core series runs the unit tests on every target Python found (3.8 - 3.13); the newer ones
    on their controller Python only (the target code is the same, and the whole run stays within its time budget)."""
    return () if series == OLDEST_SERIES else ("--python", python)


def add_ansible_test_sessions(series: str, python: str) -> None:
    """ansible-test-sanity-<series>, ansible-test-units-<series>, ansible-test-integration-<series>."""

    @nox.session(name=f"ansible-test-sanity-{series}", python=python, default=False)
    def sanity(session: nox.Session) -> None:
        run_ansible_test(session, series, "sanity", "--venv")

    @nox.session(name=f"ansible-test-units-{series}", python=python, default=False)
    def units(session: nox.Session) -> None:
        run_ansible_test(session, series, "units", "--venv", *units_pythons(series, python))

    @nox.session(name=f"ansible-test-integration-{series}", python=python, default=False)
    def integration(session: nox.Session) -> None:
        run_ansible_test(session, series, "integration", "--venv", "--python", python, *integration_args())

    sanity.__doc__ = f"ansible-test sanity --venv, ansible-core {series}, every target Python found"
    units.__doc__ = f"ansible-test units --venv, ansible-core {series}, " + (
        "every target Python found" if series == OLDEST_SERIES else f"Python {python}"
    )
    integration.__doc__ = f"ansible-test integration --venv --python {python}, ansible-core {series}"


for _series, _python in CORE_PYTHON.items():
    add_ansible_test_sessions(_series, _python)


@nox.session(name="ansible-test-integration-2.19-target3.8", python="3.11", default=False)
def integration_target38(session: nox.Session) -> None:
    """ansible-test integration, ansible-core 2.19, controller Python 3.11, target Python 3.8."""
    run_ansible_test(
        session,
        "2.19",
        "integration",
        "--controller",
        "origin:python=venv/3.11",
        "--target",
        "controller:python=venv/3.8",
        *integration_args(),
    )


def link_work_tree(session: nox.Session) -> Path:
    """A collections path in which asyncops.jobs is a link to this work tree (as an editable install is)."""
    collections = tmp_dir(session) / "collections"
    shutil.rmtree(collections, ignore_errors=True)
    link = collections / "ansible_collections" / NAMESPACE / NAME
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    return collections


def add_demo_session(series: str, python: str) -> None:
    """demo-<series>: what scripts/demo.sh runs."""

    @nox.session(name=f"demo-{series}", python=python, default=False)
    def demo(session: nox.Session) -> None:
        session.install("-r", f"tests/requirements-core-{series}.txt")
        playbook = Path(os.environ.get("ASYNCOPS_DEMO_PLAYBOOK", ROOT / "docs" / "examples" / "demo.yml"))
        if not playbook.is_file():
            session.error(f"{playbook} does not exist")
        collections = link_work_tree(session)
        inventory = collections.parent / "inventory.ini"
        inventory.write_text(LOCAL_INVENTORY, encoding="utf-8")
        # the demo's jobs in a new async dir of their own: nothing read from or left in the user's ~/.ansible_async
        async_dir = tmp_dir(session) / "async"
        shutil.rmtree(async_dir, ignore_errors=True)
        env = {
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_ASYNC_DIR": str(async_dir),
        }
        session.run("ansible-playbook", "-i", str(inventory), str(playbook), *session.posargs, env=env)

    demo.__doc__ = (
        f"docs/examples/demo.yml (or ASYNCOPS_DEMO_PLAYBOOK) on localhost with ansible-core {series}, "
        "in an async dir of its own"
    )


for _series, _python in CORE_PYTHON.items():
    add_demo_session(_series, _python)


@nox.session(name="docs-examples", python="3.11", default=False)
def docs_examples(session: nox.Session) -> None:
    """Every YAML example of README.md, docs/*.md, docs/docsite/rst/*.rst run as written, each on a podman container
    of its own with the fixtures of tests/docs_examples (root only; otherwise only syntax-checked, and skipped)."""
    session.install("-r", "tests/requirements-core-2.19.txt")
    collections = link_work_tree(session)
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}
    command = [
        "python",
        str(ROOT / "tests" / "docs_examples" / "run.py"),
        "--work",
        str(tmp_dir(session) / "work"),
        "--logs",
        str(output_dir(session)),
    ]
    if os.geteuid() != 0:
        session.run(*command, "--check", *session.posargs, env=env)
        session.skip("the examples were only syntax-checked: running them needs root (podman containers)")
    session.run(*command, *session.posargs, env=env)


@nox.session(name="runner-events", python="3.11", default=False)
def runner_events(session: nox.Session) -> None:
    """ansible-runner (AWX's engine) runs the fleet view playbook asyncops.jobs.jobs: its job events carry the rows
    (tests/runner_events/run.py)."""
    session.install("ansible-runner", "ansible-core", *TOOLS)
    collections = link_work_tree(session)
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}
    session.run(
        "python", str(ROOT / "tests" / "runner_events" / "run.py"), "--work", str(tmp_dir(session) / "runner"), env=env
    )


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """bench/bench.py against this work tree with ansible-core 2.19 as pinned; its arguments after --
    (e.g. nox -s bench -- --scenario launch, see docs/benchmark.md)."""
    session.install("-r", "tests/requirements-core-2.19.txt")
    collections = link_work_tree(session)
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}
    session.run("python", str(ROOT / "bench" / "bench.py"), *session.posargs, env=env)


# --- plain pytest ----------------------------------------------------------------------------------------
@nox.session(name="pytest-ansible", python="3.11", default=False)
def pytest_ansible(session: nox.Session) -> None:
    """The unit tests with plain pytest and pytest-ansible's --ansible-unit-inject-only (as tox-ansible runs them)."""
    session.install("ansible-core", "pytest", "pytest-ansible", *TOOLS)
    if (ROOT / "tests" / "unit" / "requirements.txt").is_file():
        session.install("-r", "tests/unit/requirements.txt", *TOOLS)
    collections = link_work_tree(session)
    session.run(
        "pytest",
        "--ansible-unit-inject-only",
        "-p",
        "no:cacheprovider",
        "tests/unit",
        *session.posargs,
        env={"ANSIBLE_COLLECTIONS_PATH": str(collections), "PYTHONDONTWRITEBYTECODE": "1"},
    )


# --- the built collection --------------------------------------------------------------------------------
def build_and_install(session: nox.Session, install_core: bool = True) -> dict[str, str]:
    """Build the tarball from the work tree (galaxy.yml's build_ignore decides what goes in), fail on
    dev-only entries, install it into a fresh collections path; the environment that sees only that copy.
    install_core=False: the session installed its own ansible-core already."""
    if install_core:
        session.install("ansible-core", *TOOLS)
    tmp = tmp_dir(session)
    for sub in ("dist", "collections", "ansible-home"):
        shutil.rmtree(tmp / sub, ignore_errors=True)
    session.run("ansible-galaxy", "collection", "build", "--output-path", str(tmp / "dist"), str(ROOT))
    tarballs = sorted((tmp / "dist").glob(f"{NAMESPACE}-{NAME}-*.tar.gz"))
    if len(tarballs) != 1:
        session.error(f"expected one collection tarball in {tmp / 'dist'}, found {tarballs}")
    with tarfile.open(tarballs[0]) as tar:
        names = sorted(tar.getnames())
    (output_dir(session) / "tarball-contents.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    unwanted = [name for name in names if FORBIDDEN_IN_TARBALL.search(name)]
    if unwanted:
        session.error(
            "dev-only or generated entries in the tarball (add them to galaxy.yml build_ignore):\n  "
            + "\n  ".join(unwanted)
        )
    session.log(f"{tarballs[0].name}: {len(names)} entries, none of them dev-only")
    session.run(
        "ansible-galaxy",
        "collection",
        "install",
        "--offline",
        "--force",
        "-p",
        str(tmp / "collections"),
        str(tarballs[0]),
    )
    if not (tmp / "collections" / "ansible_collections" / NAMESPACE / NAME / "MANIFEST.json").is_file():
        session.error("the installed collection has no MANIFEST.json")
    return {
        "ANSIBLE_COLLECTIONS_PATH": str(tmp / "collections"),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
    }


@nox.session(name="collection-tarball", python="3.11", default=False)
def collection_tarball(session: nox.Session) -> None:
    """Build + tarball check + install; tests/smoke/fqcn.yml and ansible-doc of every module against the installed copy."""
    env = build_and_install(session)
    tmp = tmp_dir(session)
    # the smoke playbook runs from outside any ansible_collections tree: only the installed copy is visible
    shutil.rmtree(tmp / "smoke", ignore_errors=True)
    shutil.copytree(ROOT / "tests" / "smoke", tmp / "smoke")
    (tmp / "inventory.ini").write_text(LOCAL_INVENTORY, encoding="utf-8")
    # its jobs in a new async dir of their own: nothing read from or left in the user's ~/.ansible_async
    shutil.rmtree(tmp / "async", ignore_errors=True)
    with session.chdir(tmp / "smoke"):
        session.run(
            "ansible-playbook",
            "-i",
            str(tmp / "inventory.ini"),
            "fqcn.yml",
            env=dict(env, ANSIBLE_ASYNC_DIR=str(tmp / "async")),
        )
    with session.chdir(tmp):
        # the listing leaves async_wrapper out (ansible-core skips modules of that name): render each module
        session.run("ansible-doc", "-t", "module", "-l", f"{NAMESPACE}.{NAME}", env=env)
        modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
        for module in modules:
            fqcn = f"{NAMESPACE}.{NAME}.{module}"
            out = session.run("ansible-doc", "-t", "module", fqcn, env=env, silent=True) or ""
            # ansible-doc exits 0 even when a plugin is missing or its docs fail to load
            if out and (
                fqcn not in out
                or re.search(
                    r"\[ERROR\]|was not found|Error loading plugin|module documentation failed|Unable to retrieve documentation",
                    out,
                )
            ):
                session.error(f"the documentation of {fqcn} did not render:\n{out}")
            session.log(f"ansible-doc {fqcn}: {len(out.splitlines())} lines")


def run_molecule(session: nox.Session, *scenarios: str) -> None:
    """molecule test for each scenario, with the collection installed from its tarball."""
    if os.geteuid() != 0:
        session.skip("needs root (debootstrap and rootful podman)")
    session.install("molecule", "ansible-core", *TOOLS)
    env = build_and_install(session)
    env.update(NO_COLOR="1", ASYNCOPS_FIGURES_FILE=str(output_dir(session) / "figures.txt"))
    for scenario in scenarios:
        session.run("molecule", "--base-config", "extensions/molecule/config.yml", "test", "-s", scenario, env=env)


@nox.session(python="3.11", default=False)
def molecule(session: nox.Session) -> None:
    """Molecule scenarios jobs, batch, check_mode, steps on podman containers over SSH (root only); the scenarios
    named after -- instead, if any (nox -s molecule -- steps)."""
    run_molecule(session, *(session.posargs or ("jobs", "batch", "check_mode", "steps")))


@nox.session(python="3.11", default=False)
def chaos(session: nox.Session) -> None:
    """The chaos scenario of extensions/molecule; its figures land in tests/output/chaos/figures.txt (root only)."""
    (output_dir(session) / "figures.txt").unlink(missing_ok=True)
    run_molecule(session, "chaos")


# ansible-core's own targets for `async:`: the acceptance of keyword mode, and a few more that use async
CORE_TARGETS = (
    "async,async_fail,async_extra_data,callback_default_async,test_core,no_log,callback-dispatch,callback_results"
)


def add_core_targets_session(series: str, python: str) -> None:
    """core-targets-<series>: ansible-core's own async targets, without and with keyword mode."""

    @nox.session(name=f"core-targets-{series}", python=python, default=False)
    def core_targets(session: nox.Session) -> None:
        session.install("-r", f"tests/requirements-core-{series}.txt")
        env = build_and_install(session, install_core=False)
        installed = Path(env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / NAMESPACE / NAME
        keyword_mode = installed / "extensions" / "keyword_mode"
        session.run(
            "python",
            str(ROOT / "tests" / "core_targets" / "run.py"),
            "--venv",
            session.virtualenv.location,
            "--mode",
            os.environ.get("ASYNCOPS_CORE_TARGETS_MODE", "both"),
            "--targets",
            os.environ.get("ASYNCOPS_CORE_TARGETS", CORE_TARGETS),
            "--collections-path",
            env["ANSIBLE_COLLECTIONS_PATH"],
            "--library",
            str(keyword_mode / "library"),
            "--action-plugins",
            str(keyword_mode / "action_plugins"),
            "--work",
            str(tmp_dir(session) / "work"),
            "--json",
            str(output_dir(session) / "results.json"),
            "--cache",
            str(Path(os.environ.get("ASYNCOPS_VENV_DIR", "~/.cache/asyncops-jobs")).expanduser()),
            *session.posargs,
        )

    core_targets.__doc__ = f"ansible-core {series}'s own async targets, with ansible-core alone and in keyword mode"


for _series, _python in CORE_PYTHON.items():
    add_core_targets_session(_series, _python)


@nox.session(python="3.11", default=False)
def changelog(session: nox.Session) -> None:
    """antsibull-changelog lint of the fragments and of changelogs/changelog.yaml."""
    session.install("antsibull-changelog", *TOOLS)
    session.run("antsibull-changelog", "lint", "-v")
    session.run("antsibull-changelog", "lint-changelog-yaml", "changelogs/changelog.yaml")


if __name__ == "__main__":
    nox.main()

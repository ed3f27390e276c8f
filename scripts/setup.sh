#!/usr/bin/env bash
# Prepare everything scripts/test.sh and scripts/demo.sh need. Idempotent: a second run only checks.
#
#   - controller venvs with pinned ansible-core, one per series in ASYNCOPS_MATRIX:
#       2.19 -> Python 3.11, 2.20 -> Python 3.12, 2.21 -> Python 3.13
#     pins: tests/requirements-core-<series>.txt
#   - a tools venv (antsibull-changelog, antsibull-docs, ansible-lint, pytest):
#     pins: tests/requirements-tools.txt
#   - <cache>/pybin/pythonX.Y symlinks to every interpreter found for 3.8 - 3.14, so that
#     ansible-test can run compile/import/units on all target Python versions
#   - offline stand-ins for the get-pip.py bootstrap script ansible-test would download
#   - missing Debian packages (shellcheck, for the shellcheck sanity test)
#
# Environment:
#   ASYNCOPS_VENV_DIR  cache directory (default: ~/.cache/asyncops-jobs)
#   ASYNCOPS_MATRIX    ansible-core series to prepare (default: "2.19 2.20 2.21")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${ASYNCOPS_VENV_DIR:-$HOME/.cache/asyncops-jobs}"
MATRIX="${ASYNCOPS_MATRIX:-2.19 2.20 2.21}"
PYENV_DIR="${PYENV_ROOT:-$HOME/.pyenv}"
GET_PIP_CACHE="$HOME/.ansible/test/cache"
TARGET_PYTHONS="3.8 3.9 3.10 3.11 3.12 3.13 3.14"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Controller Python for each ansible-core series.
controller_python() {
    case "$1" in
        2.19) echo 3.11 ;;
        2.20) echo 3.12 ;;
        2.21) echo 3.13 ;;
        *) return 1 ;;
    esac
}

# Print the path of a real (non-shim) interpreter for Python X.Y, preferring pyenv's newest patch release.
find_python() {
    local ver="$1" cand
    cand="$(find "$PYENV_DIR/versions" -mindepth 3 -maxdepth 3 -path "*/versions/$ver.*/bin/python$ver" 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -z "$cand" ]]; then
        cand="$(type -P -a "python$ver" 2>/dev/null | grep -v '/shims/' | head -n 1 || true)"
    fi
    [[ -n "$cand" && -x "$cand" ]] || return 1
    "$cand" -c 'import sys' >/dev/null 2>&1 || return 1
    printf '%s\n' "$cand"
}

sha() { sha256sum <"$1" | cut -c1-16; }

# --- Debian packages -------------------------------------------------------------------------------------
ensure_apt_packages() {
    local missing=() pkg cmd
    for pkg_cmd in shellcheck:shellcheck git:git; do
        pkg="${pkg_cmd%%:*}"
        cmd="${pkg_cmd##*:}"
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "WARNING: missing ${missing[*]} and cannot apt-get install them (not root or no apt-get)"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# --- venvs -----------------------------------------------------------------------------------------------
# ensure_venv NAME PYTHON_VERSION REQUIREMENTS_FILE
ensure_venv() {
    local name="$1" pyver="$2" req="$3" venv="$CACHE/$1" py stamp want
    [[ -f "$req" ]] || die "missing $req"
    py="$(find_python "$pyver")" || die "Python $pyver not found (needed for $name)"
    want="$(printf '%s\n%s\n' "$py" "$(sha "$req")")"
    stamp="$venv/.asyncops-stamp"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "$name: up to date ($py)"
        return 0
    fi
    log "$name: creating with $py from ${req#"$ROOT"/} (pip log: $CACHE/$name.log)"
    rm -rf "$venv"
    if ! { "$py" -m venv "$venv" &&
        "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip &&
        "$venv/bin/python" -m pip install --disable-pip-version-check -r "$req"; } >"$CACHE/$name.log" 2>&1; then
        tail -n 30 "$CACHE/$name.log" >&2
        die "$name: installing ${req#"$ROOT"/} failed"
    fi
    printf '%s\n' "$want" >"$stamp"
}

# --- get-pip stand-in ------------------------------------------------------------------------------------
# ansible-test bootstraps pip into each virtual environment it creates by running get-pip.py (downloaded
# from a host that is unreachable here, cached at ~/.ansible/test/cache/get_pip_<ver>.py). It runs it as
#   python <quiet_pip.py> --disable-pip-version-check pip==<ver> [--no-setuptools] [--no-wheel]
# with GET_PIP=<cache file> (quiet_pip.py runs that file as __main__ with sys.argv unchanged).
# The stand-in bootstraps pip with ensurepip and then pip-installs the requested packages from PyPI.
write_get_pip() {
    local file="$1"
    if [[ -f "$file" ]] && ! grep -q 'asyncops-get-pip-stand-in' "$file"; then
        log "keeping existing (real?) $file"
        return 0
    fi
    mkdir -p "$(dirname "$file")"
    cat >"$file.tmp" <<'PYEOF'
"""Offline stand-in for get-pip.py (asyncops-get-pip-stand-in), written by scripts/setup.sh."""
import re
import subprocess
import sys


def main():
    args = sys.argv[1:]
    no_setuptools = '--no-setuptools' in args
    no_wheel = '--no-wheel' in args
    args = [a for a in args if a not in ('--no-setuptools', '--no-wheel')]
    py = sys.executable
    subprocess.check_call([py, '-m', 'ensurepip', '--upgrade', '--default-pip'])
    installed = subprocess.run([py, '-m', 'pip', 'list', '--format=freeze', '--disable-pip-version-check'],
                               stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.lower()
    drop = [name for name, unwanted in (('setuptools', no_setuptools), ('wheel', no_wheel))
            if unwanted and (name + '==') in installed]
    if drop:
        subprocess.check_call([py, '-m', 'pip', 'uninstall', '--yes', '--quiet', '--disable-pip-version-check'] + drop)
    names = [re.split(r'[<>=!~;\[ ]', a, maxsplit=1)[0].lower() for a in args if not a.startswith('-')]
    for name, unwanted in (('setuptools', no_setuptools), ('wheel', no_wheel)):
        if not unwanted and name not in names:
            args.append(name)  # real get-pip.py also installs these unless told not to
    if args:
        subprocess.check_call([py, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    try:
        main()
    except subprocess.CalledProcessError as ex:
        sys.exit(ex.returncode or 1)
PYEOF
    if cmp -s "$file.tmp" "$file"; then
        rm -f "$file.tmp"
    else
        mv "$file.tmp" "$file"
        log "wrote get-pip stand-in $file"
    fi
}

ensure_get_pip() {
    local series="$1" pyfile ver
    pyfile="$(find "$CACHE/venv-$series/lib" -path '*/ansible_test/_internal/python_requirements.py' | head -n 1)"
    [[ -n "$pyfile" ]] || die "ansible-test not found in venv-$series"
    # e.g.  default_packages = dict(\n        pip='24.2',
    ver="$(grep -Eo "pip='[0-9][0-9.]*'" "$pyfile" | head -n 1 | tr -dc '0-9.')"
    [[ -n "$ver" ]] || die "cannot find the pip version ansible-test $series bootstraps (in $pyfile)"
    write_get_pip "$GET_PIP_CACHE/get_pip_${ver//./_}.py"
}

# --- interpreters for target-side tests ------------------------------------------------------------------
ensure_pybin() {
    local dir="$CACHE/pybin" v py found=()
    mkdir -p "$dir"
    for v in $TARGET_PYTHONS; do
        if py="$(find_python "$v")"; then
            ln -sfn "$py" "$dir/python$v"
            found+=("$v")
        else
            rm -f "$dir/python$v"
        fi
    done
    log "target interpreters in $dir: ${found[*]:-none}"
}

main() {
    mkdir -p "$CACHE"
    # serialize concurrent setups (e.g. a developer run and a CI run sharing the cache)
    exec 9>"$CACHE/.setup.lock"
    flock -w 1800 9 || die "timed out waiting for $CACHE/.setup.lock"
    ensure_apt_packages
    ensure_pybin
    local series pyver
    for series in $MATRIX; do
        pyver="$(controller_python "$series")" || die "unknown ansible-core series '$series' in ASYNCOPS_MATRIX"
        ensure_venv "venv-$series" "$pyver" "$ROOT/tests/requirements-core-$series.txt"
        ensure_get_pip "$series"
    done
    ensure_venv venv-tools 3.11 "$ROOT/tests/requirements-tools.txt"
    log "done"
}

main "$@"

# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for get-pip.py (asyncops-get-pip-stand-in), copied by noxfile.py.

ansible-test bootstraps pip into each virtual environment it creates by running get-pip.py, downloaded
from a host that is unreachable here and cached as ~/.ansible/test/cache/get_pip_<pip version>.py. It runs
it as  python <quiet_pip.py> --disable-pip-version-check pip==<ver> [--no-setuptools] [--no-wheel]  with
GET_PIP=<cache file> (quiet_pip.py runs that file as __main__ with sys.argv unchanged). This stand-in
bootstraps pip with ensurepip and then pip-installs the requested packages from PyPI.
Runs on every Python ansible-test creates environments for (3.8 and later).
"""
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

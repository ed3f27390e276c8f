#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible-core's OWN integration targets (async, async_fail, ...) from the ansible-core sdist, through
that sdist's own ansible-test, against localhost, with ansible-core's plugins (baseline) and/or with extra
library / action plugin / collection paths (keyword mode).  See README.md next to this file.

How (the faithful way): the sdist of the controller venv's exact ansible-core version is downloaded
(`pip download --no-binary :all: --no-deps`) and cached, then extracted per run into a work tree, with the
bin/ directory the sdist lacks recreated from ansible-test's ANSIBLE_BIN_SYMLINK_MAP.  Each target runs as
`python bin/ansible-test integration --local --python-interpreter <venv python> <target>` from that tree,
i.e. as ansible-core's own CI runs it: ansible-test writes the inventory (testhost, local connection,
explicit ansible_python_interpreter, pipelining), honours aliases and meta dependencies, gives runme.sh
targets their environment, and sets ANSIBLE_LIBRARY / ANSIBLE_ACTION_PLUGINS / ANSIBLE_COLLECTIONS_PATH
itself (configure_plugin_paths) to test/support/integration/{plugins/modules,plugins/action,collections}
of the tree.  Keyword mode therefore links the caller's files into those three directories: the one place
ansible-test takes plugin paths from for ansible-core's own targets (environment variables and
ansible.cfg would be overridden).

Only the standard library is used; one ansible-core version (venv) at a time, targets one after another.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

DEFAULT_TARGETS = ('async', 'async_fail', 'async_extra_data', 'callback_default_async', 'test_core')
CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'asyncops-jobs')
# ansible_test/_internal/constants.py ANSIBLE_BIN_SYMLINK_MAP: the bin/ of a git checkout, missing from the sdist
BIN_SYMLINK_MAP = {
    'ansible': '../lib/ansible/cli/adhoc.py',
    'ansible-config': '../lib/ansible/cli/config.py',
    'ansible-console': '../lib/ansible/cli/console.py',
    'ansible-doc': '../lib/ansible/cli/doc.py',
    'ansible-galaxy': '../lib/ansible/cli/galaxy.py',
    'ansible-inventory': '../lib/ansible/cli/inventory.py',
    'ansible-playbook': '../lib/ansible/cli/playbook.py',
    'ansible-pull': '../lib/ansible/cli/pull.py',
    'ansible-test': '../test/lib/ansible_test/_util/target/cli/ansible_test_cli_stub.py',
    'ansible-vault': '../lib/ansible/cli/vault.py',
}
SUPPORT = os.path.join('test', 'support', 'integration')
PROBE = 'asyncops_keyword_probe'
# Added to the tree and run first in every mode: proves which wrapper ran `async:` (keyword mode writes 0600
# records through the collection's engine, ansible-core's wrapper 0644), so a keyword-mode column cannot pass
# by silently running ansible-core's own wrapper.
PROBE_TASKS = """\
- name: start a fire-and-forget async task
  command: sleep 1
  async: 30
  poll: 0
  register: job

- name: stat its job record
  stat:
    path: "{{ job.results_file }}"
  register: record

- name: "the record was written by {{ expected }}"
  assert:
    that:
      - record.stat.exists
      - (record.stat.mode == '0600') == (expected == 'keyword mode')
    fail_msg: "record mode {{ record.stat.mode }}: the async wrapper in use is not the expected one ({{ expected }})"

- name: wait for it and clean up
  async_status:
    jid: "{{ job.ansible_job_id }}"
  register: done
  until: done is finished
  retries: 30
  delay: 1

- async_status:
    jid: "{{ job.ansible_job_id }}"
    mode: cleanup
"""


def log(msg):
    print(msg, flush=True)


def venv_python(venv):
    return os.path.join(venv, 'bin', 'python')


def core_version(python):
    out = subprocess.run(
        [python, '-c', 'from ansible.release import __version__; print(__version__)'],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def sdist(venv, version, cache):
    """Path of the cached sdist of ansible-core==version, downloaded with the venv's pip when missing."""
    folder = os.path.join(cache, 'core-sdist')
    path = os.path.join(folder, 'ansible_core-%s.tar.gz' % version)
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        log('downloading the ansible-core %s sdist into %s' % (version, folder))
        subprocess.run(
            [
                venv_python(venv),
                '-m',
                'pip',
                'download',
                '--disable-pip-version-check',
                '--no-binary',
                ':all:',
                '--no-deps',
                'ansible-core==%s' % version,
                '-d',
                folder,
            ],
            check=True,
        )
    return path


def make_tree(archive, version, dest):
    """Extract the sdist into dest (replacing it) and add bin/; returns dest."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + '.extract'
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, 'data_filter'):
            tar.extractall(tmp, filter='data')
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(tmp)  # nosec - our own download of a PyPI sdist
    os.rename(os.path.join(tmp, 'ansible_core-%s' % version), dest)
    os.rmdir(tmp)
    os.makedirs(os.path.join(dest, 'bin'))
    for name, target in BIN_SYMLINK_MAP.items():
        os.symlink(target, os.path.join(dest, 'bin', name))
    return dest


def link_files(sources, dest):
    """Symlink every file of the source directories into dest (created); later sources win."""
    os.makedirs(dest, exist_ok=True)
    for source in sources:
        for name in sorted(os.listdir(source)):
            path = os.path.join(source, name)
            if name.startswith('.') or name == '__pycache__' or not os.path.isfile(path):
                continue
            link = os.path.join(dest, name)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(os.path.abspath(path), link)


def link_collections(paths, dest):
    """dest/ansible_collections/<ns>/<name> -> every collection found in the given collection paths."""
    for path in paths:
        root = os.path.join(path, 'ansible_collections')
        if not os.path.isdir(root):
            raise SystemExit(
                '%s has no ansible_collections/ directory (give what ANSIBLE_COLLECTIONS_PATH would hold)' % path
            )
        for ns in sorted(os.listdir(root)):
            if not os.path.isdir(os.path.join(root, ns)):
                continue
            for name in sorted(os.listdir(os.path.join(root, ns))):
                source = os.path.join(root, ns, name)
                if not os.path.isdir(source):
                    continue
                link = os.path.join(dest, 'ansible_collections', ns, name)
                os.makedirs(os.path.dirname(link), exist_ok=True)
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(source), link)


def add_probe(tree, keyword):
    target = os.path.join(tree, 'test', 'integration', 'targets', PROBE)
    os.makedirs(os.path.join(target, 'tasks'))
    with open(os.path.join(target, 'aliases'), 'w', encoding='utf-8') as f:
        f.write('context/target\n')
    with open(os.path.join(target, 'tasks', 'main.yml'), 'w', encoding='utf-8') as f:
        f.write('- set_fact:\n    expected: %s\n\n' % ('keyword mode' if keyword else 'ansible-core') + PROBE_TASKS)


def callback_default_async_runme(text):
    """callback_default's runme.sh cut down to its async part: its preamble (functions, settings) up to the
    first run_test, then the '# Check for async output' block (test_async.yml and the ASYNC OK / ASYNC FAILED
    greps).  The rest compares the default callback's output of playbooks without async tasks (~4 minutes)."""
    lines = text.splitlines(True)
    first_run = next(i for i, line in enumerate(lines) if line.startswith('run_test '))
    start = next(i for i, line in enumerate(lines) if line.startswith('# Check for async output'))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith('rm -f async_test.out'))
    return ''.join(
        lines[:first_run]
        + ['# asyncops.jobs core_targets: async part of callback_default only\n']
        + lines[start : end + 1]
    )


ASSERT_TASK = re.compile(r'^( *)(- )?assert:', re.M)


def asserts_ignored(text):
    """DIAGNOSTIC: every assert task gets ignore_errors, so one run shows every failing assertion ('...ignoring')."""

    def repl(match):
        indent, dash = match.group(1), match.group(2)
        if dash:
            return '%s- ignore_errors: true\n%s  assert:' % (indent, indent)
        return '%signore_errors: true\n%sassert:' % (indent, indent)

    return ASSERT_TASK.sub(repl, text)


# targets made from (a part of) one of ansible-core's targets: name -> (source target, {file: transformation})
# (ansible-test finds the context of the originals from their names: a renamed copy says it in its aliases)
DERIVED = {
    'callback_default_async': ('callback_default', 'controller', {'runme.sh': callback_default_async_runme}),
    # diagnostics, not acceptance: the failing asserts are only listed in the log, the target passes
    'async_all_asserts': ('async', 'target', {'tasks/main.yml': asserts_ignored}),
}


def add_derived(tree, name):
    source, context, transforms = DERIVED[name]
    targets = os.path.join(tree, 'test', 'integration', 'targets')
    shutil.copytree(os.path.join(targets, source), os.path.join(targets, name), symlinks=True)
    aliases = os.path.join(targets, name, 'aliases')
    with open(aliases, encoding='utf-8') as f:
        text = f.read()
    with open(aliases, 'w', encoding='utf-8') as f:
        f.write(text + ('' if text.endswith('\n') or not text else '\n') + 'context/%s\n' % context)
    for relative, transform in transforms.items():
        path = os.path.join(targets, name, relative)
        with open(path, encoding='utf-8') as f:
            text = transform(f.read())
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)


def ignored_failures(log_path):
    """Failed asserts that ignore_errors let pass (for *_all_asserts): 'fatal: ...' results followed by '...ignoring'
    that are assertion failures (or conditionals that could not be evaluated)."""
    found = []
    with open(log_path, encoding='utf-8', errors='replace') as f:
        lines = f.read().splitlines()
    task = ''
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith('TASK ['):
            task = line.strip('* ')
        elif line.startswith('fatal: '):
            block = [line]
            if line.endswith('{'):
                while index + 1 < len(lines) and lines[index] != '}':
                    index += 1
                    block.append(lines[index])
            text = ' '.join(part.strip() for part in block)
            ignored = any(later.startswith('...ignoring') for later in lines[index + 1 : index + 3])
            if ignored and ('"assertion"' in text or 'evaluating conditional' in text):
                found.append('%s: %s' % (task, text[:600]))
        index += 1
    return found


def install_plugins(tree, mode):
    """Keyword mode: put the caller's plugins where ansible-test's configure_plugin_paths looks."""
    support = os.path.join(tree, SUPPORT)
    if mode['library']:
        link_files(mode['library'], os.path.join(support, 'plugins', 'modules'))
    if mode['action_plugins']:
        link_files(mode['action_plugins'], os.path.join(support, 'plugins', 'action'))
    if mode['collections']:
        link_collections(mode['collections'], os.path.join(support, 'collections'))


def junit_failures(tree, since):
    """Failed tasks recorded by ansible-test's junit callback since `since` (ignored failures are not failures)."""
    found = []
    for path in sorted(glob.glob(os.path.join(tree, 'test', 'results', 'junit', '*.xml'))):
        if os.path.getmtime(path) < since:
            continue
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            continue
        for case in root.iter('testcase'):
            for kind in ('failure', 'error'):
                for node in case.findall(kind):
                    found.append(describe_failure(os.path.basename(path), case.get('name', '?'), node))
    return found


def describe_failure(playbook, task, node):
    text = node.text or ''
    detail = {'playbook': playbook.rsplit('-', 1)[0], 'task': task, 'message': node.get('message', '')}
    try:
        result = json.loads(text)
    except ValueError:
        result = None
    if isinstance(result, dict):
        for key in ('assertion', 'evaluated_to', 'msg'):
            if key in result:
                detail[key] = result[key]
    elif text:
        detail['output'] = text[:2000]
    return detail


LOG_CLUES = re.compile(
    r'^(ERROR: |FAILURE|fatal: |\+\+\+ |--- |[-+](?![-+])|Test failed|.*Command "[^"]*" returned exit status)'
)


def log_clues(path, limit=40):
    """Lines of a failed target's log that say why (ansible-test errors, diff hunks of runme.sh targets)."""
    clues = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            if LOG_CLUES.match(line) and '...ignoring' not in line:
                clues.append(line[:400])
    return clues[-limit:]


def run_target(tree, python, target, log_path, extra_args, timeout):
    env = dict(os.environ)
    env['PATH'] = os.path.dirname(python) + os.pathsep + env.get('PATH', '')
    env.pop('ANSIBLE_CONFIG', None)
    cmd = (
        [
            python,
            os.path.join(tree, 'bin', 'ansible-test'),
            'integration',
            '--local',
            '--python-interpreter',
            python,
            '--color',
            'no',
        ]
        + extra_args
        + [target]
    )
    started = time.time()
    with open(log_path, 'w', encoding='utf-8') as out:
        out.write('$ %s\n' % ' '.join(cmd))
        out.flush()
        try:
            rc = subprocess.run(
                cmd,
                cwd=tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            out.write('\nrun.py: timed out after %ss\n' % timeout)
            rc = 124
    return rc, time.time() - started


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n', 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        '--venv',
        action='append',
        default=[],
        help='controller venv with the pinned ansible-core (repeatable; run one after another)',
    )
    p.add_argument('--series', help='comma-separated series, short for --venv %s/venv-<series> each' % CACHE)
    p.add_argument(
        '--targets',
        default=','.join(DEFAULT_TARGETS),
        help='comma-separated targets of ansible-core (default: %%(default)s); also %s (a part of a target)'
        % ', '.join(sorted(DERIVED)),
    )
    p.add_argument(
        '--mode',
        choices=('baseline', 'keyword', 'both'),
        default='both',
        help='baseline: ansible-core alone; keyword: with the paths below (default: both)',
    )
    p.add_argument('--library', action='append', default=[], help='keyword mode: module dir (ANSIBLE_LIBRARY)')
    p.add_argument(
        '--action-plugins', action='append', default=[], help='keyword mode: action plugin dir (ANSIBLE_ACTION_PLUGINS)'
    )
    p.add_argument(
        '--collections-path',
        action='append',
        default=[],
        help='keyword mode: dir holding ansible_collections/ (ANSIBLE_COLLECTIONS_PATH)',
    )
    p.add_argument(
        '--collection-src',
        help='keyword mode: build this collection source tree with ansible-galaxy and install it (into the work '
        'dir, once per venv); added to the collections path',
    )
    p.add_argument(
        '--ext',
        action='append',
        default=[],
        help='keyword mode: dir inside the installed collection (from --collection-src) whose library/ and '
        'action_plugins/ are used, e.g. extensions/keyword_mode_prototype (repeatable; files of later '
        'ones replace same-named files of earlier ones)',
    )
    p.add_argument(
        '--label', default='keyword', help='name of the keyword-mode column in the report (default: %(default)s)'
    )
    p.add_argument('--work', default=os.path.join(CACHE, 'core-targets'), help='work dir (default: %(default)s)')
    p.add_argument('--cache', default=CACHE, help='sdist cache parent dir (default: %(default)s)')
    p.add_argument('--timeout', type=int, default=1200, help='seconds per target (default: %(default)s)')
    p.add_argument('--json', help='write the results as JSON to this file')
    p.add_argument('--ansible-test-arg', action='append', default=[], help='extra ansible-test argument (repeatable)')
    args = p.parse_args(argv)
    if args.series:
        args.venv += [os.path.join(CACHE, 'venv-%s' % s.strip()) for s in args.series.split(',') if s.strip()]
    if not args.venv:
        p.error('give --venv or --series')
    if args.mode != 'baseline' and not (args.library or args.action_plugins or args.ext):
        p.error('keyword mode needs --library/--action-plugins or --collection-src + --ext')
    if args.ext and not args.collection_src:
        p.error('--ext needs --collection-src')
    return args


def install_collection(python, src, dest):
    """ansible-galaxy collection build + install of src into dest; returns dest (a collections path)."""
    bindir = os.path.dirname(python)
    galaxy = os.path.join(bindir, 'ansible-galaxy')
    build = dest + '.build'
    for path in (dest, build):
        if os.path.exists(path):
            shutil.rmtree(path)
    os.makedirs(build)
    subprocess.run([galaxy, 'collection', 'build', '--output-path', build, src], check=True, stdout=subprocess.DEVNULL)
    artifact = glob.glob(os.path.join(build, '*.tar.gz'))[0]
    subprocess.run(
        [galaxy, 'collection', 'install', '--offline', '-p', dest, artifact], check=True, stdout=subprocess.DEVNULL
    )
    shutil.rmtree(build)
    return dest


def modes_for(args, python, version):
    modes = []
    if args.mode in ('baseline', 'both'):
        modes.append({'name': 'baseline', 'library': [], 'action_plugins': [], 'collections': []})
    if args.mode in ('keyword', 'both'):
        mode = {
            'name': args.label,
            'library': [os.path.abspath(p) for p in args.library],
            'action_plugins': [os.path.abspath(p) for p in args.action_plugins],
            'collections': [os.path.abspath(p) for p in args.collections_path],
        }
        if args.collection_src:
            dest = install_collection(
                python,
                os.path.abspath(args.collection_src),
                os.path.join(os.path.abspath(args.work), version, 'collections'),
            )
            mode['collections'].append(dest)
            namespace, name = collection_name(args.collection_src)
            found = {'library': [], 'action_plugins': []}
            for ext in args.ext:
                ext = os.path.join(dest, 'ansible_collections', namespace, name, ext)
                if not os.path.isdir(ext):
                    raise SystemExit('--ext %s: no such directory in the installed collection' % ext)
                for key in found:
                    if os.path.isdir(os.path.join(ext, key)):
                        found[key].append(os.path.join(ext, key))
            for key, dirs in found.items():
                mode[key] = dirs + mode[key]  # explicit --library/--action-plugins come last and win
        modes.append(mode)
    return modes


def collection_name(src):
    with open(os.path.join(src, 'galaxy.yml'), encoding='utf-8') as f:
        text = f.read()
    found = {k: re.search(r'^%s:\s*(\S+)' % k, text, re.M).group(1).strip('\'"') for k in ('namespace', 'name')}
    return found['namespace'], found['name']


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    targets = [t.strip() for t in args.targets.split(',') if t.strip()]
    results = []
    for venv in args.venv:
        python = venv_python(os.path.abspath(venv))
        version = core_version(python)
        archive = sdist(venv, version, args.cache)
        for mode in modes_for(args, python, version):
            tree = make_tree(archive, version, os.path.join(os.path.abspath(args.work), version, mode['name']))
            install_plugins(tree, mode)
            add_probe(tree, mode['name'] != 'baseline')
            for target in targets:
                if target in DERIVED:
                    add_derived(tree, target)
            logs = os.path.join(os.path.abspath(args.work), version, 'logs-%s' % mode['name'])
            if os.path.exists(logs):
                shutil.rmtree(logs)
            os.makedirs(logs)
            log('== ansible-core %s (%s), %s: %s' % (version, python, mode['name'], tree))
            for target in [PROBE] + targets:
                log_path = os.path.join(logs, '%s.log' % target)
                since = time.time() - 1
                rc, seconds = run_target(tree, python, target, log_path, args.ansible_test_arg, args.timeout)
                entry = {
                    'version': version,
                    'mode': mode['name'],
                    'target': target,
                    'passed': rc == 0,
                    'rc': rc,
                    'seconds': round(seconds, 1),
                    'log': log_path,
                }
                if rc != 0:
                    entry['failures'] = junit_failures(tree, since)
                    entry['clues'] = log_clues(log_path)
                if target.endswith('_all_asserts'):
                    entry['ignored'] = ignored_failures(log_path)
                results.append(entry)
                log('   %-24s %s  %5.0fs  %s' % (target, 'PASS' if rc == 0 else 'FAIL', seconds, log_path))
                for failure in entry.get('failures', []):
                    why = failure.get('assertion') or failure.get('msg') or failure['message']
                    log('      failed task %r (%s): %s' % (failure['task'], failure['playbook'], why))
                for line in entry.get('ignored', []):
                    log('      ignored failure: %s' % line)
                if rc != 0 and not entry.get('failures'):
                    for line in entry['clues'][-15:]:
                        log('      | %s' % line)
    report(results)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=2)
    return 0 if all(r['passed'] for r in results) else 1


def report(results):
    log('\n%-24s %-10s %-16s %s' % ('target', 'core', 'mode', 'result'))
    for r in results:
        log(
            '%-24s %-10s %-16s %s'
            % (r['target'], r['version'], r['mode'], 'PASS' if r['passed'] else 'FAIL (rc %d)' % r['rc'])
        )
    passed = sum(1 for r in results if r['passed'])
    log('%d passed, %d failed' % (passed, len(results) - passed))


if __name__ == '__main__':
    sys.exit(main())

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layers of docs/design.md, checked on the code: each module imports only from the layers below its own, the
contract (_job_protocol) from none, and target-side code never from the controller's."""

from __future__ import annotations

import ast
import os

PLUGINS = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'plugins'))
PACKAGE = 'ansible_collections.asyncops.jobs.plugins.'

# lowest first; a module imports (at run time) only from layers below its own
TARGET_LAYERS = [
    {'_job_types', '_job_process', '_job_protocol'},
    {'_job_store'},
    {'_job_keys', '_job_outcome'},
    {'_job_supervisor'},
    {'_job_chain'},
    {'_job_batch'},
    {'_job_status'},
    {'_wrapper_module', '_status_module', '_keyword_wrapper'},
]


def runtime_imports(path):
    """This collection's modules that a file imports when it runs (imports under `if t.TYPE_CHECKING:` left out)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.dump(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or '']
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.endswith(('.module_utils', '.plugin_utils'))
        ):
            names = ['%s.%s' % (node.module, alias.name) for alias in node.names]
        found.update(name[len(PACKAGE) :] for name in names if name.startswith(PACKAGE))
    return found


def module_utils():
    folder = os.path.join(PLUGINS, 'module_utils')
    return {name[:-3]: os.path.join(folder, name) for name in os.listdir(folder) if name.endswith('.py')}


def layer_of(name):
    return next(index for index, layer in enumerate(TARGET_LAYERS) if name in layer)


def test_every_target_module_has_a_layer():
    assert set(module_utils()) - {'__init__'} == set().union(*TARGET_LAYERS)


def test_target_modules_import_only_from_lower_layers_and_never_from_the_controller():
    for name, path in module_utils().items():
        if name == '__init__':
            continue
        for imported in runtime_imports(path):
            assert imported.startswith('module_utils.'), '%s imports %s (controller code)' % (name, imported)
            other = imported.split('.')[1]
            assert layer_of(other) < layer_of(name), '%s imports %s, which is not below it' % (name, other)


def test_the_contract_imports_nothing_of_the_collection():
    assert runtime_imports(module_utils()['_job_protocol']) == set()


def test_the_target_modules_are_stubs_over_module_utils():
    for module in ('async_wrapper', 'async_status'):
        with open(os.path.join(PLUGINS, 'modules', module + '.py')) as f:
            tree = ast.parse(f.read())
        functions = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        assert functions == [], '%s defines %s: its code belongs in module_utils' % (module, functions)

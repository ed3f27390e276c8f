# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The argument spec of an action plugin, read from its documentation: one source of truth per option.

An action plugin's options are documented in the doc stub of the same name in plugins/modules/ (and in
the doc fragments it extends). validate-modules does not check doc-only stubs against any spec, so
instead of a hand copy the spec is derived from those docs (as ansible.utils derives specs from a
module's DOCUMENTATION), once per process.
"""

from __future__ import annotations

import functools
import importlib
import typing as t

import yaml

COLLECTION = 'asyncops.jobs'
SPEC_KEYS = ('type', 'default', 'choices', 'elements', 'required', 'aliases', 'no_log')
# libyaml's safe loader where PyYAML was built with it (as for ansible-core's own YAML), else the pure-Python one:
# the same data, 10-15x faster (async_batch's docs: 10 ms -> 0.7 ms)
SAFE_LOADER: t.Any = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


@functools.lru_cache(maxsize=None)
def argument_spec(stub: str) -> dict[str, dict[str, t.Any]]:
    """The argument spec documented for plugins/modules/<stub>.py, with the options of its doc fragments."""
    doc = documentation('%s.plugins.modules.%s' % (collection_package(), stub))
    return {name: option_spec(option) for name, option in doc.get('options', {}).items()}


def documentation(module_path: str) -> dict[str, t.Any]:
    """The DOCUMENTATION of a module file, merged with the options of this collection's doc fragments."""
    doc = t.cast(t.Dict[str, t.Any], load_yaml(importlib.import_module(module_path).DOCUMENTATION))
    options = dict(doc.get('options') or {})
    for name in doc.get('extends_documentation_fragment') or []:
        for option, spec in fragment_options(name).items():
            options.setdefault(option, spec)
    doc['options'] = options
    return doc


def fragment_options(name: str) -> dict[str, t.Any]:
    """Options of one of this collection's doc fragments; {} for the fragments of others (attributes only)."""
    if not name.startswith(COLLECTION + '.'):
        return {}
    fragment = importlib.import_module(
        '%s.plugins.doc_fragments.%s' % (collection_package(), name[len(COLLECTION) + 1 :])
    )
    data = load_yaml(fragment.ModuleDocFragment.DOCUMENTATION) or {}
    return t.cast(t.Dict[str, t.Any], data.get('options') or {})


def load_yaml(text: str) -> t.Any:
    """YAML documentation as data, with a safe loader (plain data only)."""
    load: t.Any = yaml.load  # typed by types-PyYAML where it is installed, untyped without it
    return load(text, Loader=SAFE_LOADER)


def warm(stub: str) -> None:
    """Derive the spec of a stub now, in the process that loads the action plugin: ansible-core loads an action's class
    in its main process before it forks a worker per host and task, so every worker finds the spec already made
    instead of parsing the docs again. A problem with the docs is left for the task to report when it runs."""
    try:
        argument_spec(stub)
    except Exception:  # pylint: disable=broad-except
        pass


def option_spec(option: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """One documented option as an argument spec entry (suboptions included)."""
    spec = {key: option[key] for key in SPEC_KEYS if key in option}
    if 'suboptions' in option:
        spec['options'] = {name: option_spec(sub) for name, sub in option['suboptions'].items()}
    return spec


def collection_package() -> str:
    return 'ansible_collections.' + COLLECTION

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Defaults and allowed ranges of the options shared by the modules and action plugins: defined once."""

from __future__ import annotations

import math
import typing as t

DEFAULTS: dict[str, t.Any] = {
    'async_dir': '~/.ansible_async',
    'grace': 0.5,
    'output_limit': 4 * 1024 * 1024,
    'leftovers': 'keep',
}

# option: (smallest allowed value, whether the value may be that, how to say what is allowed)
RANGES: dict[str, tuple[float, bool, str]] = {
    'timeout': (0, True, '0 (no limit) or a positive number of seconds'),
    'grace': (0, True, '0 or more seconds'),
    'delay': (0, False, 'a positive number of seconds'),
    'retries': (1, True, '1 or more'),
    'poll': (0, True, '0 (start and return) or a positive number of seconds'),
    'concurrency': (1, True, '1 or more (jobs running at a time)'),
    'older_than': (0, True, '0 or more seconds'),
    'tail': (0, True, '0 or more lines'),
    'output_limit': (1024, True, '1024 bytes or more'),
}


def range_problems(params: t.Mapping[str, t.Any], names: t.Iterable[str] | None = None) -> list[str]:
    """What is wrong with the numeric options among params (NaN and infinities included); [] when nothing."""
    problems = []
    for name in names if names is not None else RANGES:
        value = params.get(name)
        if value is None or name not in RANGES:
            continue
        smallest, inclusive, allowed = RANGES[name]
        if isinstance(value, float) and not math.isfinite(value):
            problems.append('%s must be %s, got %s' % (name, allowed, value))
        elif value < smallest or (value == smallest and not inclusive):
            problems.append('%s must be %s, got %s' % (name, allowed, value))
    return problems

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jobs_rows and jobs_table filters: the fleet's jobs (async_status mode=list of each host) as rows and a table."""

from __future__ import annotations

import typing as t

DOCUMENTATION = r"""
name: jobs_table
short_description: The jobs of a fleet as a text table
version_added: 0.3.0
description:
  - Formats rows as made by P(asyncops.jobs.jobs_rows#filter) into a table, one line per job, with the columns host,
    jid, key, what (the module; for a batch, its items done/total), state, age, elapsed and the last output line.
  - The C(asyncops.jobs.jobs) playbook prints it at the end of its run.
author:
  - asyncops.jobs developers (@asyncops)
options:
  _input:
    description: The rows.
    type: list
    elements: dict
    required: true
  width:
    description: Most characters of the last output line shown.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: The jobs of the hosts of this play, as a table
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts_all | asyncops.jobs.jobs_rows(hostvars, 'listed') | asyncops.jobs.jobs_table }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The table, one line per job after a header line; C(no jobs) when there is none.
  type: str
"""

COLUMNS = ('host', 'jid', 'key', 'what', 'state', 'age', 'elapsed', 'last line')


def what(row: t.Mapping[str, t.Any]) -> str:
    """The module; for a batch, its items done/total too."""
    module = str(row.get('module') or '-')
    items = row.get('items')
    if isinstance(items, dict):
        return '%s [%s/%s]' % (module, items.get('done', '?'), items.get('total', '?'))
    return module


def seconds(value: t.Any) -> str:
    """3, 75, 7200 -> '3s', '1m15s', '2h00m'."""
    if not isinstance(value, (int, float)):
        return '-'
    value = int(value)
    if value < 60:
        return '%ds' % value
    if value < 3600:
        return '%dm%02ds' % (value // 60, value % 60)
    return '%dh%02dm' % (value // 3600, value % 3600 // 60)


def last_line(row: t.Mapping[str, t.Any], width: int) -> str:
    if row.get('no_log'):
        return '(censored, no_log)'
    line = row.get('last_line') or (row.get('msg') if row.get('state') in ('unreachable', 'error') else '')
    line = ' '.join(str(line or '').split())
    return line if len(line) <= width else line[: width - 3] + '...'


def jobs_table(rows: t.Sequence[t.Mapping[str, t.Any]], width: int = 60) -> str:
    """The rows as an aligned text table."""
    if not rows:
        return 'no jobs'
    cells = [COLUMNS] + [
        (
            str(row.get('host', '?')),
            str(row.get('jid') or '-'),
            str(row.get('key') or '-'),
            what(row),
            str(row.get('state') or '-'),
            seconds(row.get('age')),
            seconds(row.get('elapsed')),
            last_line(row, width),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS) - 1)]
    return '\n'.join(
        '  '.join(cell.ljust(widths[index]) for index, cell in enumerate(line[:-1])) + '  ' + line[-1] for line in cells
    ).rstrip()


class FilterModule:
    """The table of the fleet view."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {'jobs_table': jobs_table}

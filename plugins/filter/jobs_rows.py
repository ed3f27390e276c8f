# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jobs_rows filter: the jobs each host listed (async_status mode=list), as one list of rows for the fleet."""

from __future__ import annotations

import typing as t

DOCUMENTATION = r"""
name: jobs_rows
short_description: The jobs of a fleet as rows, one per job and host
version_added: 0.3.0
description:
  - Takes the hosts of a play and what each registered from M(asyncops.jobs.async_status) with O(asyncops.jobs.async_status#module:mode=list),
    and returns one row per job (a batch is one row; its items are counted in it), in the order of the hosts.
  - A host that could not be reached, or whose listing failed, gets one row that says so (C(state) V(unreachable) or
    V(error), C(msg)), never dropped.
  - Each row has at least C(host), C(jid), C(key) and C(state), and the job's C(module), C(kind), C(items) (for a
    batch, C(done) and C(total)), C(age), C(elapsed), C(started_at), C(task), C(user), C(controller), C(no_log) and
    C(last_line) (never for a job started under C(no_log)). Jobs killed by the run (O(killed)) say C(stopped=true),
    jobs whose records it removed (O(cleaned)) C(removed=true).
  - The C(asyncops.jobs.jobs) playbook builds its table and report from them.
author:
  - asyncops.jobs developers (@asyncops)
options:
  _input:
    description: The host names (for example C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) of the play.
    type: dict
    required: true
  listed:
    description: The name of the variable each host registered the listing in.
    type: str
    default: asyncops_jobs_listed
  killed:
    description: The name of the variable each host registered a O(asyncops.jobs.async_status#module:mode=kill) of some of them in.
    type: str
  cleaned:
    description: The name of the variable each host registered a O(asyncops.jobs.async_status#module:mode=cleanup) of some of them in.
    type: str
"""

EXAMPLES = r"""
- name: List the jobs of each host
  asyncops.jobs.async_status:
    mode: list
  register: listed
  ignore_unreachable: true

- name: The rows of the whole play
  ansible.builtin.set_fact:
    rows: "{{ ansible_play_hosts_all | asyncops.jobs.jobs_rows(hostvars, 'listed') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The rows, host by host, each host's jobs oldest first.
  type: list
  elements: dict
"""

KEPT = (
    'key',
    'module',
    'kind',
    'items',
    'state',
    'finished',
    'failed',
    'age',
    'elapsed',
    'started_at',
    'task',
    'user',
    'controller',
    'no_log',
    'last_line',
)


def jobs_rows(
    hosts: t.Sequence[str],
    hostvars: t.Mapping[str, t.Any],
    listed: str = 'asyncops_jobs_listed',
    killed: str | None = None,
    cleaned: str | None = None,
) -> list[dict[str, t.Any]]:
    """One row per job of each host (items of a batch counted in their batch's row), or one row for a host that could
    not say (unreachable, or its listing failed)."""
    rows: list[dict[str, t.Any]] = []
    for host in hosts:
        variables = hostvars[host]
        listing = variables.get(listed) if hasattr(variables, 'get') else None
        if not isinstance(listing, t.Mapping):
            continue  # not selected by this run
        if listing.get('unreachable'):
            rows.append(
                {
                    'host': host,
                    'jid': None,
                    'key': None,
                    'state': 'unreachable',
                    'msg': str(listing.get('msg') or 'unreachable'),
                }
            )
            continue
        if listing.get('failed') or not isinstance(listing.get('jobs'), list):
            rows.append(
                {
                    'host': host,
                    'jid': None,
                    'key': None,
                    'state': 'error',
                    'msg': str(listing.get('msg') or 'the jobs could not be listed'),
                }
            )
            continue
        stopped = jids_of(variables.get(killed) if killed else None, 'killed')
        removed = jids_of(variables.get(cleaned) if cleaned else None, 'erased')
        for job in listing['jobs']:
            if not isinstance(job, t.Mapping) or job.get('kind') == 'item':
                continue
            row: dict[str, t.Any] = {'host': host, 'jid': job.get('ansible_job_id')}
            row.update((name, job.get(name)) for name in KEPT)
            if row['jid'] in stopped:
                row.update(state='killed', finished=True, failed=True, stopped=True)
            if row['jid'] in removed:
                row['removed'] = True
            rows.append(row)
    return rows


def jids_of(registered: t.Any, done: str) -> set[str]:
    """The job ids of what a kill (done='killed': those it stopped) or a cleanup (done='erased': those it removed)
    registered, for one job or a list of them."""
    if not isinstance(registered, t.Mapping) or registered.get('skipped') or registered.get('failed'):
        return set()
    answers = registered.get('jobs')
    if not isinstance(answers, list):
        answers = [registered]
    return {
        str(answer.get('ansible_job_id'))
        for answer in answers
        if isinstance(answer, t.Mapping) and answer.get(done) and (done != 'killed' or answer.get('changed'))
    }


class FilterModule:
    """The rows of the fleet view."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {'jobs_rows': jobs_rows}

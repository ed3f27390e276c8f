# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test connection: the local connection, but the host is unreachable for every status round, with an error text
that names a secret (as a connection's error can quote what it was sending)."""

from __future__ import annotations

DOCUMENTATION = """
    name: unreachable_status
    short_description: local connection that fails every status round
    description:
        - Runs commands like the local connection. A command whose output is the reply of an asyncops.jobs status
          round about a job (a record) raises a connection failure instead, whose text contains SECRET_CONN_U.
    author: asyncops.jobs developers (@asyncops)
    extends_documentation_fragment:
        - connection_pipelining
"""

import json

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection.local import Connection as LocalConnection


def status_reply(stdout):
    try:
        reply = json.loads(stdout)
    except ValueError:
        return False
    return isinstance(reply, dict) and 'asyncops_job' in reply


class Connection(LocalConnection):
    transport = 'unreachable_status'

    def exec_command(self, cmd, in_data=None, sudoable=True):
        rc, stdout, stderr = super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if status_reply(stdout):
            raise AnsibleConnectionFailure('test connection: host went away while sending SECRET_CONN_U')
        return rc, stdout, stderr

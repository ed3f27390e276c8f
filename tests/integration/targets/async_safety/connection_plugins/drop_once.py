# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test connection: the local connection, but the reply of the first status round that carries finished
results is lost once (the command ran on the target, its output never reaches the controller), as when an
SSH connection drops at the wrong moment."""

from __future__ import annotations

DOCUMENTATION = """
    name: drop_once
    short_description: local connection that loses one status reply
    description:
        - Runs commands like the local connection. The first time a command's output is the reply of an
          asyncops.jobs status round that says every job finished, the reply is dropped and a connection
          failure is raised instead; the flag file named by DROP_ONCE_FLAG records that it happened.
    author: asyncops.jobs developers (@asyncops)
    extends_documentation_fragment:
        - connection_pipelining
"""

import json
import os

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection.local import Connection as LocalConnection


def finished_results(stdout):
    """True for the reply of a status round that brings finished results back (not a launch, not a cleanup)."""
    try:
        reply = json.loads(stdout)
    except ValueError:
        return False
    if not isinstance(reply, dict) or reply.get('finished') is not True or 'erased' in reply:
        return False
    if isinstance(reply.get('jobs'), list):
        return all('asyncops_job' in job for job in reply['jobs'])
    return 'asyncops_job' in reply


class Connection(LocalConnection):
    transport = 'drop_once'

    def exec_command(self, cmd, in_data=None, sudoable=True):
        rc, stdout, stderr = super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        flag = os.environ['DROP_ONCE_FLAG']
        if not os.path.exists(flag) and finished_results(stdout):
            with open(flag, 'wb') as f:
                f.write(stdout)
            raise AnsibleConnectionFailure('test connection: the reply of this status round was lost')
        return rc, stdout, stderr

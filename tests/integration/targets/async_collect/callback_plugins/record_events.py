# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test callback: writes every async poll event it gets, as JSON lines, to the file named by RECORD_EVENTS_FILE."""
from __future__ import annotations

DOCUMENTATION = """
    name: record_events
    type: aggregate
    short_description: record async poll events
    description:
        - Appends each v2_runner_on_async_poll event (host, task name, result) as a JSON line to E(RECORD_EVENTS_FILE).
    author: asyncops.jobs developers (@asyncops)
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_events'
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_async_poll(self, result):
        event = {'host': result._host.get_name(), 'task': result._task.get_name(), 'result': result._result}
        with open(os.environ['RECORD_EVENTS_FILE'], 'a') as f:
            f.write(json.dumps(event, default=str) + '\n')

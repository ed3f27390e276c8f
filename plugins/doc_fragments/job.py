# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every way of starting a job shares (async_wrapper, async_run, async_batch).

The defaults here are those of plugins/module_utils/_job_protocol.py, which the code uses; ansible-test's yamllint
reads doc fragments as literal strings, so they are written here too, and a unit test fails when the two differ.
"""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  grace:
    description: Seconds between SIGTERM and SIGKILL when a job is stopped (time limit, kill, O(leftovers=stop)).
    type: float
    default: 0.5
  output_limit:
    description:
      - Most bytes of each of stdout and stderr that a job's result holds. A longer output is kept whole on the
        target, in the file the result names in RV(ignore:stdout_file) (or RV(ignore:stderr_file)), and the result
        holds its first and last half of this many bytes, with RV(ignore:output_truncated=true) and a warning.
      - The kept files are 0600 in the job's output directory C(.<jid>.output/) of the async dir;
        M(asyncops.jobs.async_status) with O(asyncops.jobs.async_status#module:mode=cleanup) and
        O(asyncops.jobs.async_status#module:older_than) removes them.
      - A module's stdout is its JSON result, parsed only up to 8 times this (and never less than 32 MiB). A bigger
        one fails the job, with its head and tail in the result and the whole of it kept in RV(ignore:stdout_file),
        as is any raw output of a module that a failure result shows only in part.
    type: int
    default: 4194304
  leftovers:
    description:
      - What happens to processes the job started that still run when its main process ends (a daemon it started,
        a command put in the background with C(nohup ... &)).
      - V(keep) leaves them running and names them in the result (RV(ignore:leftovers)) and in a warning. They are not
        supervised any more, so the job's time limit no longer applies to them. This is what ansible-core's C(async:) does,
        without the warning.
      - V(stop) stops them with the job (SIGTERM, then SIGKILL after O(grace)) and names them in
        RV(ignore:leftovers_stopped).
    type: str
    choices: [keep, stop]
    default: keep
  key:
    description:
      - A name for the job, unique per user and async dir. While a job with this key has a record there (it runs, or it
        finished and its result was not collected yet), that job is used instead of starting another one. Its job id is
        returned, and its result once it finished. The result then says RV(ignore:attached=true).
      - Running a playbook again after the controller died, was interrupted or lost the connection thus never starts a
        job twice. Once the result was collected, the key starts a new job.
      - A key attaches only to the same kind of job (a single job or a batch) with the same module, args and items. A
        launch whose key names a job doing other work fails, naming what differs.
      - A check mode run never claims a key (it reports the real job that has it, if any), and a job started in check
        mode is never attached to.
    type: str
"""

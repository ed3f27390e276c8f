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
  retain:
    description:
      - Seconds to keep the job's record on the target once it finished, when its result is not collected. After that
        long, the next launch (C(asyncops.jobs.async_wrapper), M(asyncops.jobs.async_run), M(asyncops.jobs.async_batch))
        or M(asyncops.jobs.async_status) call of any mode in the same async dir removes it, with its private and kept
        output files, its key and, for a batch, its items' records. The call that removes it lists its job id in
        RV(ignore:retained_removed). Like C(ttlSecondsAfterFinished) of a Kubernetes Job, or Salt's C(keep_jobs).
      - The small note that a collected job leaves (see M(asyncops.jobs.async_status)) goes the same way, that many
        seconds after the collection. So nothing of the job stays on the target much longer than O(retain) after it
        ended or was collected.
      - Counted from the last write of the record, as O(asyncops.jobs.async_status#module:older_than) is. A running job
        is never removed, nor a job the removing call asks about. An async dir is looked at at most once per minute
        (or per the shortest O(retain) used there, if shorter). Until the first job with O(retain) is started there,
        this costs one C(lstat) per call.
      - Without it, records stay until they are collected or removed with
        O(asyncops.jobs.async_status#module:mode=cleanup) (by job id, or every finished record with
        O(asyncops.jobs.async_status#module:older_than)), as with ansible-core. That pruning works on a whole async dir
        and needs a task to run it; O(retain) is set per job and needs none.
    type: float
"""

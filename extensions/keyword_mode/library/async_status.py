# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keyword mode: ansible.legacy.async_status, which ansible-core polls `async:` tasks with, answering as
ansible-core's own does. Enabled by putting this directory on the `library` path (see
docs/docsite/rst/guide_keyword_mode.rst)."""

from __future__ import annotations

from ansible_collections.asyncops.jobs.plugins.module_utils._status_module import main

if __name__ == '__main__':
    main(keyword_mode=True)

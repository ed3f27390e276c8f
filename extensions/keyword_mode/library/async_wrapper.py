# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keyword mode: ansible.legacy.async_wrapper, which ansible-core runs for every `async:` task, on the engine of
asyncops.jobs. Enabled by putting this directory on the `library` path (see docs/docsite/rst/guide_keyword_mode.rst)."""

from __future__ import annotations

from ansible_collections.asyncops.jobs.plugins.module_utils._keyword_wrapper import main

if __name__ == '__main__':
    main()

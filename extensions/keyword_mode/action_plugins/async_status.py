# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keyword mode: the ansible.legacy.async_status action, which ansible-core polls `async:` tasks with. Enabled by
putting this directory on the `action_plugins` path (see docs/docsite/rst/guide_keyword_mode.rst)."""

from __future__ import annotations

from ansible_collections.asyncops.jobs.plugins.plugin_utils._keyword_action import ActionModule

__all__ = ['ActionModule']

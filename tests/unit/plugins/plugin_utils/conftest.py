# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ActionModule fixture of the action plugin tests, for the tests of what the action plugins share."""

from __future__ import annotations

from ansible_collections.asyncops.jobs.tests.unit.plugins.action.conftest import async_dir, make_action

__all__ = ['async_dir', 'make_action']

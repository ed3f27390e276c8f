#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test module: warns and deprecates (structured warnings of ansible-core 2.19+), and prints junk after its
result, so that the engine adds a plain warning of its own."""
from __future__ import annotations

import atexit

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={})
    module.warn('careful: WARNED_BY_MODULE')
    module.deprecate('old thing: DEPRECATED_BY_MODULE', version='9.0.0', collection_name='asyncops.jobs')
    atexit.register(lambda: print('trailing junk'))  # pylint: disable=ansible-bad-function
    module.exit_json(changed=False, answer=42)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test module: prints a JSON result holding a byte that is not UTF-8, as a module with a bug would."""
from __future__ import annotations

import sys


def main():
    sys.stdout.buffer.write(b'{"changed": false, "msg": "a\xffb"}\n')


if __name__ == '__main__':
    main()

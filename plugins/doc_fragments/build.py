# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compiler's C(build) input, shared by the modules that compile specs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Use as uwsgi.topology.build
    DOCUMENTATION = r'''
options:
  build:
    description:
      - What the target's uWSGI binary was built with, as for the P(uwsgi.topology.uwsgi_options#filter)
        filter. Omit it for a full build (SSL, routers built in).
      - Unset keys take the compiler's defaults.
    type: dict
    suboptions:
      ssl:
        description: Whether the binary has SSL. The compiler's default is V(true).
        type: bool
      plugin_build:
        description:
          - V(true) for a Debian-style build (C(uwsgi-core)) whose routers are loadable plugins;
            C(plugin) lines are then written first.
          - The compiler's default is V(false) (routers built in).
        type: bool
      routers:
        description: Router types the binary has. Unset means all of them.
        type: list
        elements: str
      zlib:
        description: Whether the binary has zlib. The compiler's default is V(true).
        type: bool
      spdy:
        description: Whether the binary has SPDY support. The compiler's default is V(false).
        type: bool
'''

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: build_info
short_description: Find out what a uWSGI binary can do, as the compiler's version and build inputs
version_added: 0.1.0
description:
  - Asks a uWSGI binary on the target for its version and for the options it knows, and returns
    RV(version) and RV(build) in the shape the P(uwsgi.topology.uwsgi_options#filter) filter and the
    M(uwsgi.topology.vassal) module take.
  - Nothing is started. The module runs C(<binary> --version), then C(<binary> --strict --ini PROBE
    --version) with small probe configs, each naming one option. uWSGI exits while it reads the
    command line and fails only if it does not know an option of the probe. Each option is tried
    without C(plugin) lines first (built in), then with the plugin that carries it.
  - "The probes are C(subscriptions-sign-check-tolerance) (SSL builds only),
    each router's stats option (C(http-stats), C(fastrouter-stats), C(rawrouter-stats),
    C(sslrouter-stats), C(forkptyrouter-stats), C(tuntap-router-stats)),
    C(https-session-context) for C(https) (the http router of an SSL build), C(http-auto-gzip) for zlib,
    and C(wsgi-file) for Python, built in or from the C(python3) or C(python) plugin."
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only asks the binary, so it runs in check mode too. The probe configs go to a
        temporary directory that is removed afterwards.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  binary:
    description:
      - The uWSGI binary, as a path or as a command name looked up on the target's E(PATH), for
        example V(uwsgi), V(uwsgi-core) (Debian) or V(/opt/uwsgi/bin/uwsgi).
    type: path
    required: true
  probe_dir:
    description:
      - Directory in which a temporary directory for the probe configs is made, and removed after.
      - Defaults to the target's temporary directory.
    type: path
  missing_ok:
    description:
      - When O(binary) is a path that does not exist, return RV(exists=false) instead of failing
        (a role then installs uWSGI and asks again).
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - The probes run in an empty directory of their own, because a uWSGI that is not Debian's looks for
    plugins in its working directory.
  - C(spdy) is always reported as V(false); SPDY builds are not probed.
  - With a mixed build (some routers built in, others plugins) the module warns.
    RV(build.plugin_build) is then V(true), and uWSGI logs the plugins it cannot load for built-in routers.
seealso:
  - module: uwsgi.topology.vassal
  - plugin: uwsgi.topology.uwsgi_options
    plugin_type: filter
'''

EXAMPLES = r'''
- name: What can Debian's uWSGI do?
  uwsgi.topology.build_info:
    binary: uwsgi-core
  register: uwsgi_build

- name: Write a router vassal compiled for exactly that binary
  uwsgi.topology.vassal:
    path: /etc/uwsgi-emperor/vassals/router.ini
    spec: "{{ router_spec }}"
    version: "{{ uwsgi_build.version }}"
    build: "{{ uwsgi_build.build }}"
    uwsgi_binary: "{{ uwsgi_build.binary }}"

- name: Refuse a binary without SSL before configuring signed subscriptions
  ansible.builtin.assert:
    that:
      - uwsgi_build.build.ssl
      - "'https' in uwsgi_build.build.routers"
    fail_msg: "{{ uwsgi_build.binary }} has no SSL; build uWSGI with libssl-dev (pyuwsgi wheels have none)"

- name: A uWSGI built from PyPI, with probe files on a private directory
  uwsgi.topology.build_info:
    binary: /opt/uwsgi/venv/bin/uwsgi
    probe_dir: /var/tmp
'''

RETURN = r'''
exists:
  description: Whether the binary exists. Only V(false) with O(missing_ok=true); nothing else is returned then but RV(binary).
  returned: always
  type: bool
  sample: true
  version_added: 0.1.0
binary:
  description: The absolute path of the binary probed (not resolved through symbolic links).
  returned: success
  type: str
  sample: /usr/bin/uwsgi-core
version_string:
  description: The version the binary prints.
  returned: success
  type: str
  sample: 2.0.21-debian
version:
  description: The uWSGI branch, as the compiler's C(version) input. V(2.1) is the unreleased master branch (C(2.1-dev)).
  returned: success
  type: str
  sample: '2.0'
build:
  description: What the binary was built with, as the compiler's C(build) input.
  returned: success
  type: dict
  contains:
    ssl:
      description: Whether the binary has SSL (https, the SSL router, signed subscriptions, SNI).
      type: bool
      sample: true
    plugin_build:
      description: Whether routers (or Python) must be loaded as plugins, as with Debian's C(uwsgi-core).
      type: bool
      sample: true
    routers:
      description: The router types available, among V(http), V(https), V(fast), V(raw), V(ssl), V(forkpty) and V(tuntap).
      type: list
      elements: str
      sample: [http, https, fast, raw, ssl, forkpty, tuntap]
    zlib:
      description: Whether the binary has zlib (C(http-auto-gzip)).
      type: bool
      sample: true
    spdy:
      description: Always V(false).
      type: bool
      sample: false
  sample: {"ssl": true, "plugin_build": true, "routers": ["http", "https", "fast", "raw", "ssl", "forkpty", "tuntap"],
           "zlib": true, "spdy": false}
router_plugins:
  description: For each available router type, the plugin it needs, or null when it is built in.
  returned: success
  type: dict
  sample: {"http": "http", "https": "http", "fast": "fastrouter", "raw": "rawrouter", "ssl": "sslrouter"}
python:
  description: Whether the binary can run Python (WSGI) applications, built in or through a plugin.
  returned: success
  type: bool
  sample: true
python_plugin:
  description:
    - The plugin to load for Python applications (for the spec's C(plugins) list), for example V(python3).
    - Null when Python is built in, or not available at all (see RV(python)).
  returned: success
  type: str
  sample: python3
'''


import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils import buildinfo
from ansible_collections.uwsgi.topology.plugins.module_utils.uwsgi_command import without_uwsgi_env


def _binary(module):
    wanted = module.params['binary']
    if os.sep in wanted:
        binary = os.path.abspath(wanted)
    else:
        binary = module.get_bin_path(wanted)
        if binary is None:
            module.fail_json(msg="binary: no %r found on the target's PATH" % wanted)
    if module.params['missing_ok'] and not os.path.lexists(binary):
        module.exit_json(changed=False, exists=False, binary=binary)
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        module.fail_json(msg='binary: %s is not an executable file' % binary)
    return binary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path', required=True),
            probe_dir=dict(type='path'),
            missing_ok=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    binary = _binary(module)

    def run(command, cwd):
        # Probe without the caller's UWSGI_* variables (uWSGI reads them as options).
        return module.run_command(without_uwsgi_env(command), cwd=cwd)

    try:
        facts = buildinfo.detect(run, binary, module.params['probe_dir'])
    except buildinfo.BuildInfoError as exc:
        module.fail_json(msg=str(exc), binary=binary)
    for warning in facts.pop('warnings'):
        module.warn(warning)
    facts.pop('probes')
    module.exit_json(changed=False, exists=True, **facts)


if __name__ == '__main__':
    main()

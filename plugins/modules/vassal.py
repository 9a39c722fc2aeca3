#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vassal
short_description: Write one uWSGI vassal config file, validated by the target's uWSGI
version_added: 0.1.0
description:
  - Compiles the spec of one uWSGI instance (or takes a ready option list), renders it as
    an INI file and puts it at O(path), where a uWSGI Emperor or a service picks it up.
  - The file is replaced only when its content differs, and atomically. Before it is put in
    place, the new content is checked with the target's uWSGI binary
    (C(uwsgi --strict --ini FILE --version)), which refuses options the binary does not know
    and some user or group names the host does not have. A rejected config leaves the old file
    untouched and fails the task with uWSGI's output.
  - The content is checked in a temporary file in the same directory, named
    C(.<name>.<random>.tmp) so that an Emperor watching the directory does not start it;
    it is removed afterwards.
  - Private keys never go through this module; the config only names their paths.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.files
  - uwsgi.topology.attributes
  - uwsgi.topology.attributes.files
  - uwsgi.topology.build
attributes:
  check_mode:
    support: full
    details:
      - In check mode the new content is still validated (when O(validate=true)); only a
        temporary file is written, and removed again. If the directory or the uWSGI binary is
        missing in check mode (an earlier task that would create it was skipped), the module
        warns, skips validation and predicts a change instead of failing.
  diff_mode:
    support: full
  idempotent:
    support: full
  safe_file_operations:
    support: full
options:
  path:
    description:
      - Path of the vassal file on the target, for example C(/etc/uwsgi-emperor/vassals/app.ini).
      - Its directory must exist.
      - If it is a symbolic link, the file it points to is written and the link stays;
        O(state=absent) removes the link itself.
      - The content is INI, so the name should end in C(.ini); an Emperor picks the parser by
        the extension. The module warns otherwise.
    type: path
    required: true
  spec:
    description:
      - The spec of the uWSGI instance, compiled as by the P(uwsgi.topology.uwsgi_options#filter)
        filter. See that filter's documentation and the collection's spec reference,
        C(docs/spec-reference.md), for its keys.
      - Exactly one of O(spec) and O(options) is required when O(state=present).
    type: dict
  options:
    description:
      - A ready option list, C([name, value]) pairs, for example the output of
        P(uwsgi.topology.uwsgi_options#filter). Written in the given order; O(version) and O(build)
        do not apply to it.
      - Exactly one of O(spec) and O(options) is required when O(state=present).
    type: list
    elements: raw
  version:
    description:
      - The uWSGI version O(spec) is compiled for. Ignored with O(options).
    type: str
    choices: ['2.0', '2.1']
    default: '2.0'
  strict:
    description:
      - Write C(strict = true) into the file, so that uWSGI refuses unknown options at start.
        Ignored with O(options).
    type: bool
    default: true
  state:
    description:
      - V(present) writes the file, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  validate:
    description:
      - Check the new content with O(uwsgi_binary) before putting it in place.
      - The check runs only when the content changes.
    type: bool
    default: true
  uwsgi_binary:
    description:
      - Path of the uWSGI binary on the target that will run this config, used by O(validate).
      - A name without a slash (such as V(uwsgi-core)) is looked up on the target's E(PATH).
      - Defaults to V(uwsgi). It must be found when O(validate=true).
    type: path
notes:
  - Validation is more than a syntax check. uWSGI resolves some user and group names while it
    reads the file (router options such as C(http-uid)), so the check belongs on the host that
    will run the config. It does not start anything, so bind addresses, sockets and file paths
    are not checked.
  - With Debian's C(uwsgi-core), routers are plugins; compile with O(build.plugin_build=true)
    so that the C(plugin) lines come first and the router options are known to the validator.
seealso:
  - plugin: uwsgi.topology.uwsgi_options
    plugin_type: filter
  - plugin: uwsgi.topology.uwsgi_ini
    plugin_type: filter
'''

EXAMPLES = r'''
- name: HTTP router with a subscription server, for Debian's uwsgi-emperor
  uwsgi.topology.vassal:
    path: /etc/uwsgi-emperor/vassals/router.ini
    spec:
      routers:
        - type: http
          bind: 0.0.0.0:80
          forward_to:
            type: subscription_server
            address: 127.0.0.1:2626
    build:
      plugin_build: true
    owner: root
    group: www-data
    mode: "0644"

- name: Application node that subscribes to the router under its host name
  uwsgi.topology.vassal:
    path: /etc/uwsgi-emperor/vassals/app.ini
    spec:
      subscriptions:
        subscribe:
          - server: 10.0.0.10:2626
            key: app.example.com
            address: 10.0.0.21:3031
      options:
        - [socket, 10.0.0.21:3031]
        - [wsgi-file, /srv/app/wsgi.py]
      plugins: [python3]
    build:
      plugin_build: true
    mode: "0644"

- name: Write an option list compiled elsewhere, with a uWSGI built from PyPI
  uwsgi.topology.vassal:
    path: /srv/uwsgi/vassals/app.ini
    options: "{{ app_spec | uwsgi.topology.uwsgi_options(version='2.0') }}"
    uwsgi_binary: /opt/uwsgi/bin/uwsgi

- name: Remove a vassal; the Emperor stops it
  uwsgi.topology.vassal:
    path: /etc/uwsgi-emperor/vassals/old.ini
    state: absent
'''

RETURN = r'''
path:
  description: The path of the vassal file.
  returned: always
  type: str
  sample: /etc/uwsgi-emperor/vassals/router.ini
options:
  description: The option list written, C([name, value]) pairs in file order.
  returned: when O(state=present)
  type: list
  elements: list
  sample: [["strict", "true"], ["master", "true"], ["http", "0.0.0.0:80"], ["http-subscription-server", "127.0.0.1:2626"]]
ini:
  description: The file content written (or that would be written in check mode).
  returned: when O(state=present)
  type: str
  sample: "[uwsgi]\nstrict = true\nmaster = true\nhttp = 0.0.0.0:80\nhttp-subscription-server = 127.0.0.1:2626\n"
diff:
  description:
    - The change, as Ansible shows it with C(--diff).
    - The first entry holds the file content before and after (V('') for no file), with the
      path in both headers. A second entry lists changed file attributes (owner, group, mode, ...)
      when there are any.
  returned: in diff mode
  type: list
  elements: dict
  sample: [{"before_header": "/etc/uwsgi-emperor/vassals/app.ini", "after_header": "/etc/uwsgi-emperor/vassals/app.ini",
            "before": "", "after": "[uwsgi]\nstrict = true\n"}]
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils import vassal_file


def present(module, result):
    params = module.params
    options, ini = vassal_file.compile_text(params['spec'], params['options'], params['version'],
                                            params['build'], params['strict'])
    result.update(options=options, ini=ini)

    if not params['path'].endswith('.ini'):
        module.warn('%s does not end in .ini: an Emperor chooses the config parser by the extension'
                    % params['path'])
    # A link (Debian's apps-enabled/x.ini -> ../apps-available/x.ini) stays a link:
    # the file it points to is the one written, staged in that file's directory.
    path = vassal_file.resolve(params['path'])
    try:
        vassal_file.check_directory(path)
    except TopologyError:
        if not module.check_mode:
            raise
        module.warn('%s: its directory does not exist; predicting its creation' % path)
        result['changed'] = True
        result['diff'] = [vassal_file.content_diff(path, '', ini)]
        return

    validator = vassal_file.Validator(module, params['validate'], params['uwsgi_binary'])
    changed, diff = vassal_file.put(module, path, ini, validator)
    result['diff'] = [diff]
    result['changed'], attributes = vassal_file.set_attributes(module, path, changed)
    if attributes is not None:
        result['diff'].append(attributes)


def absent(module, result):
    path = module.params['path']
    if not os.path.lexists(path):
        return
    # A link is removed, not the file it points to; a dangling one reads as empty.
    current = vassal_file.read_current(path) if os.path.exists(path) else b''
    result['changed'] = True
    result['diff'] = [vassal_file.content_diff(path, vassal_file.as_text(current), '')]
    if not module.check_mode:
        try:
            os.unlink(path)
        except OSError as exc:
            raise TopologyError(path, 'cannot remove the file: %s' % exc)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            spec=dict(type='dict'),
            options=dict(type='list', elements='raw'),
            version=dict(type='str', default='2.0', choices=['2.0', '2.1']),
            build=dict(type='dict', options=dict(
                ssl=dict(type='bool'),
                plugin_build=dict(type='bool'),
                routers=dict(type='list', elements='str'),
                zlib=dict(type='bool'),
                spdy=dict(type='bool'),
            )),
            strict=dict(type='bool', default=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            validate=dict(type='bool', default=True),
            uwsgi_binary=dict(type='path'),
        ),
        mutually_exclusive=[('spec', 'options')],
        required_if=[('state', 'present', ('spec', 'options'), True)],
        add_file_common_args=True,
        supports_check_mode=True,
    )

    result = dict(changed=False, path=module.params['path'])
    try:
        if module.params['state'] == 'present':
            present(module, result)
        else:
            absent(module, result)
    except TopologyError as exc:
        # Nothing was changed; the file content is not echoed, only the reason.
        module.fail_json(msg=str(exc), path=module.params['path'])
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()

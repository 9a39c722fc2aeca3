#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: files
short_description: Place a host's planned keys, certificates and files, and prune what the plan no longer names
version_added: 0.1.0
description:
  - Applies the C(directories), C(files) and C(prune) parts of one host's manifest
    (C(plan.hosts[HOST].manifest), see the collection's C(docs/manifest.md)) in one task.
  - Creates the O(directories) in order, then places the O(files) in order, then removes from each
    O(prune) directory what the plan does not name.
  - Each O(files[].src) is read on the controller by the module's action plugin and its content is
    carried to the host with the module's arguments, hidden from every output.
  - A file is written only when its content differs, through a temporary file in the same directory
    (C(.<name>.<random>.tmp)) that gets its owner and mode before it is renamed over the old one, so
    a secret is never readable by anyone else, not even for a moment. When only its mode or owner
    differ, they are corrected in place.
  - The order of O(files) is kept, which matters to a router that reloads when a certificate changes
    (C(touch-reload)), so its private key must be in place before the certificate.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
  - uwsgi.topology.attributes.files
attributes:
  action:
    description: Has an action plugin that runs on the controller and reads the sources there.
    support: full
  check_mode:
    support: full
    details:
      - Nothing is written, created or removed; the result and the diff predict what would be.
      - A O(files[].src) missing on the controller (the key store's action ran in check mode too) is
        predicted as a change of its dest instead of a failure, as is a private entry whose O(owner)
        or O(group) does not exist yet on the host (with a warning).
  diff_mode:
    support: full
    details:
      - Text files show their content before and after; files with O(files[].secret=true) show only
        that their content changes. Mode and owner changes, created directories and pruned paths
        have their own entries.
  idempotent:
    support: full
  safe_file_operations:
    support: full
options:
  directories:
    description:
      - Directories to create, in this order, with missing parents. An existing one gets its mode
        (and owner, when private) corrected.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory on the host.
        type: path
        required: true
      mode:
        description:
          - Its mode, an octal string such as V('0755').
          - Defaults to V('0700') when O(directories[].private=true), else V('0755').
        type: raw
      private:
        description: Owned by O(owner) and O(group) (when they are set).
        type: bool
        default: false
  files:
    description:
      - Files to place, in this order.
      - Each dest's directory must exist or be among O(directories).
      - A dest that is a symbolic link is replaced by the file; one that is a directory fails the task.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description:
          - Path of the content on the controller, read by the action plugin (vault-encrypted files are
            decrypted). A relative path is looked up like M(ansible.builtin.copy) does, in C(files/).
          - Missing, it fails the task naming it and the dest, except in check mode.
        type: str
        required: true
      dest:
        description: Absolute path of the file on the host.
        type: path
        required: true
      mode:
        description:
          - Its mode, an octal string such as V('0644').
          - Defaults to V('0600') when O(files[].secret=true) or O(files[].private=true), else V('0644').
          - A secret file's mode must not give others any access.
        type: raw
      secret:
        description:
          - The content is secret (a private key) and never appears in a result, a diff or a log.
        type: bool
        default: false
      private:
        description: Owned by O(owner) and O(group) (when they are set).
        type: bool
        default: false
      kind:
        description:
          - What the file is (V(signing_key), V(public_key), V(sni_key), V(sni_cert), V(router_key),
            V(router_cert), V(ca_cert), V(app), ...). Groups RV(changed_files_by_kind).
        type: str
        default: file
      key:
        description: The subscription key the file belongs to, if any. Informational.
        type: str
      stage:
        description:
          - Another path in the directory of O(files[].dest). When O(files[].dest) exists with other
            content, the new content is written there instead and O(files[].dest) stays as it is
            (reported in RV(staged)); whoever hands the use of the file over moves it into place
            (M(uwsgi.topology.subscription_handover) for a rotated signing key). Pruning keeps it.
        type: path
  prune:
    description:
      - Directories in which every entry (file, link or subdirectory, searched recursively) that is
        neither a dest of O(files), nor one of O(directories), nor an ancestor of one, nor in O(keep)
        is removed. A directory that does not exist is skipped.
      - With O(state=absent), everything in them is removed except O(keep).
    type: list
    elements: path
    default: []
  keep:
    description:
      - Paths that pruning leaves alone although the plan does not place them, for example the
        certificate and key files an operator put in a pruned directory for a router.
    type: list
    elements: path
    default: []
  owner:
    description:
      - User (name or number) that owns the entries with O(directories[].private=true) or
        O(files[].private=true). Unset keeps the connecting user (or the one C(become) switches to).
      - Other entries keep the owner they have, or get the connecting user when created.
    type: str
  group:
    description:
      - Group (name or number) of the entries with O(directories[].private=true) or
        O(files[].private=true). Unset keeps the connecting user's group.
    type: str
  state:
    description:
      - V(present) places everything and prunes.
      - V(absent) removes every dest of O(files) and everything in the O(prune) directories (except
        O(keep)); the O(prune) directories and the O(directories) stay. Sources are not read.
    type: str
    choices: [present, absent]
    default: present
  _contents:
    description:
      - Internal, set by the action plugin; do not set it. The base64 content of each of O(files), in
        order (null for a source that does not exist yet, in check mode only).
    type: list
    elements: raw
notes:
  - One task places a whole host's files, one module call where ten files took ten
    M(ansible.builtin.copy) tasks with their checks.
  - Pruning never follows a symbolic link; a link the plan does not name is removed as a link.
seealso:
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: Place this host's keys, public keys and certificates as the plan says
  uwsgi.topology.files:
    directories: "{{ plan.hosts[inventory_hostname].manifest.directories }}"
    files: "{{ plan.hosts[inventory_hostname].manifest.files }}"
    prune: "{{ plan.hosts[inventory_hostname].manifest.prune }}"
    owner: www-data
    group: www-data
  register: placed

- name: Touch the node vassals when the application file changed
  ansible.builtin.file:
    path: "/etc/uwsgi-emperor/vassals/{{ item }}"
    state: touch
    mode: "0644"
  loop: "{{ plan.hosts[inventory_hostname].manifest.app_reloads }}"
  when: placed.changed_files_by_kind.app | default([]) | length > 0

- name: Place a private key and its certificate, the key first
  uwsgi.topology.files:
    directories:
      - {path: /etc/uwsgi/certs, mode: "0755", private: false}
    files:
      - {src: /srv/store/sni/app.example.com.key, dest: /etc/uwsgi/certs/app.example.com.key,
         mode: "0600", secret: true, private: true, kind: sni_key}
      - {src: /srv/store/sni/app.example.com.crt, dest: /etc/uwsgi/certs/app.example.com.crt,
         mode: "0644", kind: sni_cert}
    prune: [/etc/uwsgi/certs]
    owner: uwsgi

- name: Remove the planned files and empty the pruned directories
  uwsgi.topology.files:
    files: "{{ plan.hosts[inventory_hostname].manifest.files }}"
    prune: "{{ plan.hosts[inventory_hostname].manifest.prune }}"
    state: absent
'''

RETURN = r'''
placed:
  description:
    - The dests whose content was written (created or replaced), in the order they were written.
    - With O(state=absent), empty.
  returned: always
  type: list
  elements: str
  sample: [/srv/uwsgi/certs/app.test.key, /srv/uwsgi/certs/app.test.crt]
updated_attributes:
  description: Files and directories whose content was right but whose mode or owner was corrected.
  returned: always
  type: list
  elements: str
  sample: [/srv/uwsgi/keys]
created_directories:
  description: The directories created, in order.
  returned: always
  type: list
  elements: str
  sample: [/srv/uwsgi/keys, /srv/uwsgi/certs]
pruned:
  description:
    - The paths removed from the O(prune) directories. A removed directory is listed, not its content.
  returned: always
  type: list
  elements: str
  sample: [/srv/uwsgi/certs/old.example.com.crt, /srv/uwsgi/pubkeys/old-router]
staged:
  description:
    - The O(files[].stage) paths that hold a replacement of their O(files[].dest) (which exists with
      other content), written by this run or waiting since an earlier one to be moved into place.
  returned: always
  type: list
  elements: str
  sample: [/srv/uwsgi/keys/app.example.com.pem.next]
removed:
  description: With O(state=absent), the dests of O(files) removed; else empty.
  returned: always
  type: list
  elements: str
  sample: []
changed_files_by_kind:
  description:
    - Each O(files[].kind) of the task mapped to its dests that were written (or, with O(state=absent),
      removed); an empty list when none was. A role reads for example whether the application file
      changed.
  returned: always
  type: dict
  sample: {"sni_key": [], "sni_cert": [], "app": ["/srv/uwsgi/apps/demo_app.py"]}
diff:
  description:
    - The changes, as Ansible shows them with C(--diff). A file's content before and after (only
      C(changes) for a secret), mode and owner changes, created directories, removed paths.
  returned: in diff mode
  type: list
  elements: dict
  sample: [{"before_header": "/srv/uwsgi/certs/app.test.crt", "after_header": "/srv/uwsgi/certs/app.test.crt",
            "before": "", "after": "-----BEGIN CERTIFICATE-----\n..."}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.placement import Placer


def _selinux_hook(module):
    """Give a staged file the SELinux context its dest should have, where SELinux is on."""
    if not module.selinux_enabled():
        return None

    def hook(tmp, dest):
        module.set_context_if_different(tmp, module.selinux_default_context(dest), False)
    return hook


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                mode=dict(type='raw'),
                private=dict(type='bool', default=False),
            )),
            files=dict(type='list', elements='dict', default=[], options=dict(
                src=dict(type='str', required=True),
                dest=dict(type='path', required=True),
                mode=dict(type='raw'),
                secret=dict(type='bool', default=False),
                private=dict(type='bool', default=False),
                kind=dict(type='str', default='file'),
                key=dict(type='str', no_log=False),
                stage=dict(type='path'),
            )),
            prune=dict(type='list', elements='path', default=[]),
            keep=dict(type='list', elements='path', default=[]),
            owner=dict(type='str'),
            group=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            _contents=dict(type='list', elements='raw', no_log=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    placer = None
    try:
        placer = Placer(params['directories'], params['files'], params['prune'], contents=params['_contents'],
                        owner=params['owner'], group=params['group'], keep=params['keep'],
                        check_mode=module.check_mode, warn=module.warn,
                        before_replace=None if module.check_mode else _selinux_hook(module))
        if params['state'] == 'present':
            placer.present()
        else:
            placer.absent()
    except TopologyError as exc:
        # What was done before the error, never a file's content.
        done = dict(placer.result) if placer is not None else {}
        module.fail_json(msg=str(exc), **done)
    result = dict(placer.result)
    if module._diff:
        result['diff'] = placer.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()

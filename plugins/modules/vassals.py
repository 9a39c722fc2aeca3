#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vassals
short_description: Write a host's planned set of uWSGI vassals and remove the rest
version_added: 0.1.0
description:
  - Makes a uWSGI Emperor's vassal directory O(path) hold exactly the planned vassals, the
    C(vassals) of a host's manifest (see the P(uwsgi.topology.topology_plan#filter) filter and the
    collection's C(docs/manifest.md)).
  - Each planned vassal's spec is compiled and rendered as INI as by M(uwsgi.topology.vassal), checked
    with the target's uWSGI binary (C(uwsgi --strict --ini FILE --version)) in a hidden staging file,
    and put in place atomically, only when its content differs. All specs are compiled before
    anything is changed; a spec that does not compile or content the binary rejects fails the task
    and names the vassal.
  - With O(prune=true), every other file in O(path) whose name ends with one of O(suffixes) is
    removed, and the Emperor stops its instance. For each removed file the module reads, before
    removing it, the addresses the instance listens on (its C(socket), C(uwsgi-socket) and
    C(http-socket) lines, parsed as uWSGI parses INI) and then waits until none of them accepts
    connections any more, up to O(stop_timeout) seconds. A node that stops unsubscribes from its
    routers (signed with its key when it signs), so this wait is what lets a following task remove
    the node's key or its application.
  - A removed vassal that listens where a planned vassal about to be written will listen (a renamed
    instance keeping its port) is removed and waited for first, so that the new instance finds its
    address free; the others are removed after the planned vassals are written, so new instances
    join their pools before old ones leave.
  - O(touch) names planned vassals to reload (an Emperor reloads a vassal whose file's modification
    time changes), for example those whose application changed. A vassal written in the same run is
    reloaded by the write and is not touched again.
  - O(vassals[].depends) names files a vassal loads when it starts (a router's certificates); a digest of
    their content is written into the vassal file as a comment, so the vassal is rewritten (and the
    Emperor reloads it) when one of them changes.
  - A vassal with O(vassals[].rolling) (a router replica, planned by the collection) is replaced in
    steps when it changes, one replica after the other, so that no request fails (see the collection's
    README, "Router changes without a failed request"). With O(vassals[].rolling.leave) its listening
    socket is shut down first (the kernel gives its connections to the replicas sharing the address)
    and the module waits until the requests in flight through it completed (O(drain_timeout)); then
    the file is written, and the module waits until a new router process answers on the replica's
    stats server (O(start_timeout)). The subscriptions of the nodes the replica held before (built and,
    when the router checks signatures, signed on the controller by the action plugin of the same name,
    O(refill)) are sent as soon as the new master bound its subscription server, before its router
    process reads it, and the module waits until they are in the pools, before the next replica.
    Run without the action plugin (O(defer_rolling) and O(rolling_step) unset), the module writes
    such a vassal at once, like any other.
  - A node vassal that loses C(unsubscribe-on-graceful-reload) (the planner drops it for a key's only node)
    would still leave its pools when the write reloads it, under its running configuration; its announces
    are blocked first through its C(master-fifo) (C(S)), unless the drain module's record beside the FIFO
    says it is drained, so that it stays in its pools while it reloads.
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
      - In check mode the content of each vassal that would change is still validated (when
        O(validate=true)) in a temporary file, which is removed again. Nothing is written, removed
        or touched and nothing is waited for; the result lists what would be.
      - If O(path) or the uWSGI binary is missing in check mode (an earlier task that would create it
        was skipped), the module warns, skips validation and predicts every planned vassal written.
  diff_mode:
    support: full
    details:
      - One entry per vassal written (content before and after) and per vassal removed (content before,
        V('') after), one per vassal whose file attributes change, and one line per touched vassal.
  idempotent:
    support: partial
    details:
      - Not when O(touch) is set, as each run touches the named vassals again.
  safe_file_operations:
    support: full
options:
  path:
    description:
      - The vassal directory the Emperor watches, for example C(/etc/uwsgi-emperor/vassals). It must
        exist when O(state=present).
    type: path
    required: true
  vassals:
    description:
      - The planned vassals (the manifest's C(vassals)). Ignored with O(state=absent).
    type: list
    elements: dict
    default: []
    suboptions:
      file:
        description:
          - The file name in O(path), without a directory. It must end with one of O(suffixes), so
            that a later run can prune it.
          - If it is a symbolic link, the file it points to is written and the link stays.
        type: str
        required: true
      instance:
        description: The instance's name, shown in messages.
        type: str
      role:
        description: The instance's role (V(router) or V(node)), shown in messages.
        type: str
      spec:
        description:
          - The spec of the uWSGI instance, compiled as by the P(uwsgi.topology.uwsgi_options#filter)
            filter.
        type: dict
        required: true
      socket:
        description:
          - The address the instance listens on, or V(null). A removed vassal listening on the same
            address is stopped before this one is written. The addresses in the compiled spec
            (C(socket), C(uwsgi-socket), C(http-socket)) count as well.
        type: str
      depends:
        description:
          - Files the instance loads when it starts (for a router, its certificate and key and the SNI
            certificates of its keys). The SHA-256 of their content (or of their absence) is written
            into the vassal file as a comment, so that a change of any of them rewrites the file and
            reloads the vassal. For a vassal with O(vassals[].rolling), the uWSGI binary
            (O(uwsgi_binary)) counts too, so a new binary reloads the router replicas onto it, one by one.
        type: list
        elements: path
        default: []
      rolling:
        description:
          - How to replace this router replica without failing a request (the plan's C(rolling) entry).
        type: dict
        suboptions:
          stats:
            description: The replica's stats server, as this host reaches it (V(host:port)).
            type: str
            required: true
          server:
            description:
              - The replica's subscription server, as this host reaches it (V(host:port)), where the action
                plugin sends the subscriptions to after the reload.
            type: str
          listen:
            description: The addresses the replica accepts connections on (V(host:port)).
            type: list
            elements: str
            default: []
          leave:
            description:
              - Take the replica out of its address before it reloads (only when other replicas share the
                address).
            type: bool
            default: false
          announces:
            description:
              - The subscriptions of the nodes that announce to this replica, which the action plugin builds
                O(refill) from (ignored by the module).
            type: list
            elements: dict
            default: []
  defer_rolling:
    description:
      - Do not write the vassals with O(vassals[].rolling) whose content changes; list them in
        RV(deferred) instead. Set by the action plugin, which then replaces them one by one.
    type: bool
    default: false
  rolling_step:
    description:
      - Replace the one vassal of O(vassals) in steps (leave, write, wait for the new process), and return
        the pools it held before in RV(pools_before). Set by the action plugin.
    type: bool
    default: false
  refill:
    description:
      - With O(rolling_step), the subscribe datagrams (base64) the action plugin built and signed for the
        replica's nodes. Those of the nodes the replica held before are sent as soon as its new master
        bound the subscription server, so that its pools are full before it takes a connection. Not
        logged.
    type: list
    elements: dict
    suboptions:
      key:
        description: The key the datagram subscribes.
        type: str
        required: true
      address:
        description: The node address the datagram subscribes.
        type: str
        required: true
      data:
        description: The datagram, base64.
        type: str
        required: true
  refresh:
    description:
      - Subscribe datagrams (built like O(refill)) to send, before anything else, to replicas replaced earlier
        in the same run, for the nodes their stats show. Set by the action plugin. Not logged.
    type: list
    elements: dict
    suboptions:
      server:
        description: The replica's subscription server.
        type: str
        required: true
      stats:
        description: The replica's stats server.
        type: str
        required: true
      packets:
        description: The datagrams, as in O(refill).
        type: list
        elements: dict
        required: true
  drain_timeout:
    description:
      - Seconds to wait, after a replica left its address, until the requests in flight through it
        completed. The task fails then, without reloading it.
    type: int
    default: 120
  start_timeout:
    description:
      - Seconds to wait, after a replica's file was written, until its new process answers on its stats
        server.
    type: int
    default: 60
  suffixes:
    description:
      - The file name endings that mark a vassal as managed by this task, for example
        V(.node.topology.ini) (the manifest's C(vassal_suffixes)). Files with other names in O(path)
        are never touched.
    type: list
    elements: str
    required: true
  version:
    description:
      - The uWSGI version the specs are compiled for.
    type: str
    choices: ['2.0', '2.1']
    default: '2.0'
  strict:
    description:
      - Write C(strict = true) into each file, so that uWSGI refuses unknown options at start.
    type: bool
    default: true
  validate:
    description:
      - Check each new content with O(uwsgi_binary) before putting it in place.
      - The check runs only for vassals whose content changes.
    type: bool
    default: true
  uwsgi_binary:
    description:
      - Path of the uWSGI binary on the target that runs the vassals, used by O(validate).
      - A name without a slash (such as V(uwsgi-core)) is looked up on the target's E(PATH).
      - Defaults to V(uwsgi). It must be found when O(validate=true) and a vassal changes.
    type: path
  prune:
    description:
      - Remove the files in O(path) that end with one of O(suffixes) and are not planned, and wait
        until their instances stopped.
    type: bool
    default: true
  state:
    description:
      - V(present) makes O(path) hold the planned vassals; V(absent) removes every file in O(path)
        whose name ends with one of O(suffixes) (and waits until their instances stopped).
    type: str
    choices: [present, absent]
    default: present
  stop_timeout:
    description:
      - Seconds to wait, after removing vassals, until none of their addresses accepts connections
        any more. The removed instances stop in parallel; this is the time allowed for all of them.
      - The task fails when an address still accepts connections then (is the Emperor running and
        watching O(path)?).
    type: int
    default: 60
  touch:
    description:
      - File names of planned vassals to reload by updating their modification time, when they are
        not written in this run. Each must be the O(vassals[].file) of a planned vassal.
      - Ignored with O(state=absent).
    type: list
    elements: str
    default: []
notes:
  - The wait connects to each address, TCP or UNIX socket; V(:PORT) and V(0.0.0.0:PORT) are tried
    through V(127.0.0.1). Addresses that cannot be connected to (C(=N) shared sockets, unexpanded
    C(%(placeholder))) are not waited for.
  - A removed file is unlinked; if it is a symbolic link, the link goes and the file it points to stays.
seealso:
  - module: uwsgi.topology.vassal
  - plugin: uwsgi.topology.uwsgi_options
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Write this host's planned vassals, remove the others and wait until they stopped
  uwsgi.topology.vassals:
    path: /etc/uwsgi-emperor/vassals
    vassals: "{{ manifest.vassals }}"
    suffixes: "{{ manifest.vassal_suffixes }}"
    build:
      plugin_build: true
    uwsgi_binary: /usr/bin/uwsgi-core
    touch: "{{ manifest.app_reloads if app_file.changed else [] }}"
    mode: "0644"

- name: Two vassals by hand, with a uWSGI built from PyPI
  uwsgi.topology.vassals:
    path: /srv/uwsgi/vassals
    suffixes: [.topology.ini]
    uwsgi_binary: /opt/uwsgi/bin/uwsgi
    vassals:
      - file: edge.topology.ini
        spec:
          routers:
            - type: http
              bind: 0.0.0.0:80
              forward_to: {type: subscription_server, address: 127.0.0.1:2626}
      - file: app.topology.ini
        socket: 127.0.0.1:3031
        spec:
          options: {socket: 127.0.0.1:3031, wsgi-file: /srv/app/wsgi.py}
          subscriptions:
            subscribe:
              - {server: 127.0.0.1:2626, key: app.example.com, address: 127.0.0.1:3031}

- name: Remove every vassal of the collection
  uwsgi.topology.vassals:
    path: /etc/uwsgi-emperor/vassals
    suffixes: [.router.topology.ini, .node.topology.ini]
    state: absent
'''

RETURN = r'''
written:
  description: File names of the planned vassals whose content was written (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [app1.node.topology.ini]
removed:
  description: File names removed from O(path) (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [app3.node.topology.ini]
touched:
  description: File names of the planned vassals touched to reload them (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [app2.node.topology.ini]
unchanged:
  description:
    - File names of the planned vassals neither written nor touched. Their file attributes may still
      have been set (see RV(attributes_set)).
  returned: always
  type: list
  elements: str
  sample: [edge-http.router.topology.ini]
attributes_set:
  description:
    - File names of the planned vassals whose owner, group, mode or other file attributes were set
      (or would be, in check mode) while their content was already right.
  returned: always
  type: list
  elements: str
  sample: []
stopped:
  description:
    - The addresses of removed vassals that were waited for until they no longer accepted connections.
  returned: always
  type: list
  elements: str
  sample: [127.0.0.1:13033]
deferred:
  description:
    - With O(defer_rolling), the file names of the rolling vassals left for the action plugin to replace;
      the action plugin returns an empty list once it replaced them.
  returned: always
  type: list
  elements: str
  sample: []
rolled:
  description:
    - The router replicas replaced in steps, each with the seconds it took to leave its address (V(null)
      when it did not have to), from the write until its new process answered, and until its pools were
      refilled, and the number of subscriptions sent to it.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "edge-http.router.topology.ini", "left": 0.21, "started": 0.31, "refilled": 0.33, "pushed": 3}]
kept_in_pools:
  description:
    - Node vassals that lost C(unsubscribe-on-graceful-reload) (they became a key's only node) and were sent
      C(S) on their master FIFO before the write, so that the reload the write causes keeps them in their pools.
  returned: when any
  type: list
  elements: str
  sample: [app1.node.topology.ini]
pools_before:
  description:
    - With O(rolling_step), the pools of the replica before it reloaded (key to node addresses), or V(null)
      when it was not running.
  returned: always
  type: dict
  sample: {"app.test": ["127.0.0.1:13031", "127.0.0.1:13032"]}
diff:
  description:
    - The changes, as Ansible shows them with C(--diff). A content entry per vassal written or removed
      (V('') for no file), with the file's path in both headers; an attribute entry per file whose
      attributes change; a prepared line per touched vassal.
  returned: in diff mode
  type: list
  elements: dict
  sample: [{"before_header": "/etc/uwsgi-emperor/vassals/app1.node.topology.ini",
            "after_header": "/etc/uwsgi-emperor/vassals/app1.node.topology.ini",
            "before": "", "after": "[uwsgi]\nstrict = true\n"}]
'''

import base64
import hashlib
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils import vassal_file
from ansible_collections.uwsgi.topology.plugins.module_utils import router_reload
from ansible_collections.uwsgi.topology.plugins.module_utils import packet as _packet
from ansible_collections.uwsgi.topology.plugins.module_utils import drain


class Planned(object):
    """One planned vassal, compiled."""

    def __init__(self, index, item, options, ini):
        self.index = index
        self.file = item['file']
        self.label = self.file
        if item.get('role') or item.get('instance'):
            self.label = '%s (%s)' % (self.file, ' '.join(v for v in (item.get('role'), item.get('instance')) if v))
        self.ini = ini
        self.sockets = [value for name, value in options if name in vassal_file.SOCKET_OPTIONS]
        if item.get('socket'):
            self.sockets.append(item['socket'])
        self.path = None   # the file written: the link's target for a link
        self.needs_write = True
        self.item = item


class Stale(object):
    """A file to remove, with the addresses its instance listens on."""

    def __init__(self, name, path, content):
        self.name = name
        self.path = path
        self.content = content
        self.sockets = vassal_file.listening_sockets(content)


def _check_names(params):
    """Refuse file names and suffixes that would make pruning unsafe, before anything is read."""
    suffixes = params['suffixes']
    if not suffixes:
        raise TopologyError('suffixes', 'must name at least one file name ending (such as .node.topology.ini): '
                                        'it decides which files in %s are managed here' % params['path'])
    for i, suffix in enumerate(suffixes):
        if not suffix or '/' in suffix:
            raise TopologyError('suffixes[%d]' % i, 'must be a non-empty file name ending without "/", got %r'
                                % suffix)
    if params['state'] == 'absent':
        return
    seen = {}
    for i, item in enumerate(params['vassals']):
        name = item['file']
        where = 'vassals[%d].file' % i
        if not name or '/' in name or name.startswith('.'):
            raise TopologyError(where, 'must be a file name in %s, without a directory and not hidden, got %r'
                                % (params['path'], name))
        if not name.endswith(tuple(suffixes)):
            raise TopologyError(where, '%r does not end with one of the suffixes (%s): a later run could not '
                                       'prune it' % (name, ', '.join(suffixes)))
        if name in seen:
            raise TopologyError(where, '%r is planned twice (also vassals[%d].file)' % (name, seen[name]))
        seen[name] = i
    for i, name in enumerate(params['touch']):
        if name not in seen:
            raise TopologyError('touch[%d]' % i, '%r is not one of the planned vassals (%s)'
                                % (name, ', '.join(sorted(seen)) or 'none'))


def _compile(module):
    params = module.params
    planned = []
    for i, item in enumerate(params['vassals']):
        try:
            options, ini = vassal_file.compile_text(item['spec'], None, params['version'], params['build'],
                                                    params['strict'])
        except TopologyError as exc:
            raise TopologyError('vassals[%d] (%s): spec' % (i, item['file']), str(exc))
        if not item['file'].endswith('.ini'):
            module.warn('%s does not end in .ini: an Emperor chooses the config parser by the extension'
                        % item['file'])
        _check_backlog(options, 'vassals[%d] (%s)' % (i, item['file']))
        depends = list(item.get('depends') or [])
        if item.get('rolling'):
            # A router replica also reloads onto a new uWSGI binary, one replica after the other.
            binary = params['uwsgi_binary'] or 'uwsgi'
            found = binary if '/' in binary else module.get_bin_path(binary)
            if found:
                depends.append(found)
        if depends:
            ini += depends_line(depends)
        planned.append(Planned(i, item, options, ini))
    return planned


def drain_blocked(fifo):
    """Whether the drain module's record beside ``fifo`` (``<node>.drain``) says the running node is blocked."""
    record_path = fifo[:-len('.fifo')] + '.drain' if fifo.endswith('.fifo') else None
    if record_path is None:
        return False
    try:
        record = drain.read_record(record_path)
        identity = drain.fifo_identity(fifo)
    except TopologyError:
        return False
    return bool(record and record.get('blocked') and record.get('fifo') == identity)


def _check_backlog(options, where, somaxconn='/proc/sys/net/core/somaxconn'):
    """uWSGI refuses to start when its listen backlog exceeds the host's net.core.somaxconn: say so first."""
    wanted = [value for name, value in options if name == 'listen']
    if not wanted:
        return
    try:
        with open(somaxconn) as handle:
            limit = int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return  # not Linux, or not readable: uWSGI checks it at start
    if int(wanted[-1]) > limit:
        raise TopologyError(where + ': listen', '%s exceeds this host\'s net.core.somaxconn (%d): uWSGI would refuse '
                            'to start; set the instance\'s listen to %d or less, or raise net.core.somaxconn'
                            % (wanted[-1], limit, limit))


def depends_line(paths):
    """The comment line that makes a vassal file change when a file it loads changes."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode('utf-8') + b'\0')
        try:
            with open(path, 'rb') as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        except (IOError, OSError):
            digest.update(b'absent')
    return '; uwsgi.topology: the files it loads (%d) have sha256 %s\n' % (len(paths), digest.hexdigest())


def _stale(directory, suffixes, keep):
    """The files in ``directory`` ending with a suffix and not in ``keep``, sorted, with their content."""
    if not os.path.isdir(directory):
        return []
    stale = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name in keep or not name.endswith(tuple(suffixes)) or os.path.isdir(path):
            continue
        # A dangling link has no content; the link itself is what goes.
        content = vassal_file.read_current(path) if os.path.exists(path) else b''
        stale.append(Stale(name, path, content))
    return stale


class VassalSet(object):
    """Decide, then act: the planned vassals written, the stale ones removed and waited for."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.directory = self.params['path']
        self.result = dict(changed=False, written=[], removed=[], touched=[], unchanged=[], attributes_set=[],
                           stopped=[], deferred=[], rolled=[], pools_before=None, diff=[])
        self.validator = vassal_file.Validator(module, self.params['validate'], self.params['uwsgi_binary'])

    def run(self):
        _check_names(self.params)
        if self.params['state'] == 'absent':
            stale = _stale(self.directory, self.params['suffixes'], ())
            self._remove_and_wait(stale, skip=())
            return self.result
        planned = _compile(self.module)
        if not os.path.isdir(self.directory):
            if not self.module.check_mode:
                raise TopologyError(self.directory, 'the vassal directory does not exist; create it first '
                                                    '(for example with ansible.builtin.file, state=directory)')
            self.module.warn('%s: the vassal directory does not exist; predicting every vassal written'
                             % self.directory)
            for vassal in planned:
                self._written(vassal, vassal_file.content_diff(os.path.join(self.directory, vassal.file), '',
                                                               vassal.ini))
            return self.result

        for vassal in planned:
            vassal.path = vassal_file.resolve(os.path.join(self.directory, vassal.file))
            try:
                vassal_file.check_directory(vassal.path)
                current = vassal_file.read_current(vassal.path)
            except TopologyError as exc:
                raise TopologyError('vassals[%d] (%s)' % (vassal.index, vassal.label), str(exc))
            vassal.needs_write = current != vassal.ini.encode('utf-8')
        stale = _stale(self.directory, self.params['suffixes'], set(v.file for v in planned)) \
            if self.params['prune'] else []

        # A stale instance on an address a vassal about to be written needs goes first: the new
        # instance could not bind it while the old one runs.  An address an unchanged planned
        # vassal holds is not waited for: that vassal keeps it open.
        rewritten = [s for v in planned if v.needs_write for s in v.sockets]
        kept = [s for v in planned if not v.needs_write for s in v.sockets]
        first = [f for f in stale if any(vassal_file.sockets_clash(a, b) for a in f.sockets for b in rewritten)]
        later = [f for f in stale if f not in first]
        self._remove_and_wait(first, skip=kept)

        touch = set(self.params['touch'])
        if not self.module.check_mode:
            self._refresh()
        if self.params['rolling_step']:
            if len(planned) != 1 or not planned[0].item.get('rolling'):
                raise TopologyError('vassals', 'rolling_step replaces exactly one vassal with rolling, got %d vassals'
                                    % len(planned))
            self._roll(planned[0])
            return self.result
        for vassal in planned:
            if self.params['defer_rolling'] and vassal.needs_write and vassal.item.get('rolling') \
                    and not self.module.check_mode:
                self.result['changed'] = True
                self.result['deferred'].append(vassal.file)
                continue
            self._put(vassal, vassal.file in touch)
        self._remove_and_wait(later, skip=kept)
        return self.result

    # --- acting -------------------------------------------------------------------------------

    def _keep_in_pools(self, vassal):
        """A node that loses unsubscribe-on-graceful-reload (it became a key's only node) would still leave its
        pools when the write reloads it, under its running configuration: block its announces first (master
        FIFO ``S``; a blocked master sends no unsubscribe, core/subscription.c:1089-1090), so that it stays in
        them while it reloads, as the new configuration wants. The reloaded master starts unblocked."""
        try:
            current = vassal_file.read_current(vassal.path)
        except TopologyError:
            return
        if not current:
            return
        before = dict(vassal_file.ini_options(vassal_file.as_text(current)))
        after = dict(vassal_file.ini_options(vassal.ini))
        fifo = after.get('master-fifo')
        if not fifo or fifo != before.get('master-fifo') or before.get('unsubscribe-on-graceful-reload') != 'true' \
                or after.get('unsubscribe-on-graceful-reload') == 'true':
            return
        if drain_blocked(fifo):
            return  # drained: its announces are blocked already, and S would resume them
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # not running: nothing to keep
        try:
            os.write(fd, b'S')
            self.result.setdefault('kept_in_pools', []).append(vassal.file)
        finally:
            os.close(fd)
        time.sleep(0.2)  # the master reads its FIFO in its loop

    def _refresh(self):
        """Send the replicas replaced earlier in this run their nodes' subscriptions again (signed anew), for
        the nodes they hold: while a rotated signing key waits for its handover after the routers, the nodes'
        own announces (signed with the old key) are refused there, and must not let them expire."""
        for item in self.params['refresh'] or []:
            held = router_reload.pools(router_reload.try_stats(item['stats']))
            packets = router_reload.refill_order(item['packets'], held)
            for packet in packets:
                _packet.send(item['server'], base64.b64decode(packet['data']))
            self.result['refreshed'] = self.result.get('refreshed', 0) + len(packets)

    def _roll(self, vassal):
        """Leave (when planned), write, refill, wait for the new router process: one replica, in steps."""
        rolling = vassal.item['rolling']
        replica = router_reload.Replica(vassal.label, rolling['stats'], rolling.get('listen') or [])
        before = None if self.module.check_mode or not vassal.needs_write else replica.snapshot()
        step = {'file': vassal.file, 'left': None, 'started': None, 'refilled': None, 'pushed': 0}
        server = rolling.get('server')
        packets = []
        if before is not None:
            held = router_reload.pools(before)
            self.result['pools_before'] = dict((k, sorted(v)) for k, v in held.items())
            packets = router_reload.refill_order(self.params['refill'] or [], held) if server else []
            old_udp = router_reload.listening_inodes(int(server.rsplit(':', 1)[1]), udp=True) if server else set()
            if rolling.get('leave'):
                step['left'] = round(replica.leave(before, self.params['drain_timeout'])[0], 3)
        start = time.monotonic()
        self._put(vassal, False)
        if before is not None:
            if packets:
                # Sent as soon as the new master bound the subscription server, before its router process
                # reads it: the pools are full before it takes its first connection.
                replica.wait_bound(server, old_udp, self.params['start_timeout'])
                for item in packets:
                    _packet.send(server, base64.b64decode(item['data']))
                step['pushed'] = len(packets)
            replica.wait_new(before.get('pid'), self.params['start_timeout'])
            step['started'] = round(time.monotonic() - start, 3)
            if packets:
                replica.wait_pools([(p['key'], p['address']) for p in packets], self.params['start_timeout'])
                step['refilled'] = round(time.monotonic() - start, 3)
        if vassal.needs_write:
            self.result['rolled'].append(step)

    def _written(self, vassal, diff):
        self.result['changed'] = True
        self.result['written'].append(vassal.file)
        self.result['diff'].append(diff)

    def _put(self, vassal, touch):
        module = self.module
        if vassal.needs_write and not module.check_mode:
            self._keep_in_pools(vassal)
        try:
            changed, diff = vassal_file.put(module, vassal.path, vassal.ini, self.validator)
        except TopologyError as exc:
            raise TopologyError('vassals[%d] (%s)' % (vassal.index, vassal.label), str(exc))
        if changed:
            self._written(vassal, diff)
        elif touch:
            self.result['changed'] = True
            self.result['touched'].append(vassal.file)
            self.result['diff'].append({'prepared': 'touch %s (the Emperor reloads it)\n' % vassal.path})
            if not module.check_mode:
                try:
                    os.utime(vassal.path, None)
                except OSError as exc:
                    raise TopologyError(vassal.path, 'cannot touch the file to reload it: %s' % exc)
        else:
            self.result['unchanged'].append(vassal.file)
        attributes_changed, attributes = vassal_file.set_attributes(module, vassal.path, False)
        if attributes_changed:
            self.result['changed'] = True
            if not changed:
                self.result['attributes_set'].append(vassal.file)
        if attributes is not None:
            self.result['diff'].append(attributes)

    def _remove_and_wait(self, stale, skip):
        module = self.module
        waits = []
        for old in stale:
            self.result['changed'] = True
            self.result['removed'].append(old.name)
            self.result['diff'].append(vassal_file.content_diff(old.path, vassal_file.as_text(old.content), ''))
            for address in old.sockets:
                if any(vassal_file.sockets_clash(address, other) for other in skip):
                    module.warn('%s listened on %s, which a planned vassal holds: not waiting for it to close'
                                % (old.name, address))
                    continue
                target = vassal_file.socket_target(address)
                if target is None:
                    module.warn('%s listened on %s: cannot connect there, not waiting for it to stop'
                                % (old.name, address))
                    continue
                waits.append((old, address, target))
            if module.check_mode:
                continue
            try:
                os.unlink(old.path)
            except OSError as exc:
                raise TopologyError(old.path, 'cannot remove the vassal file: %s' % exc)
        if module.check_mode or not waits:
            return
        deadline = time.monotonic() + self.params['stop_timeout']
        still = vassal_file.wait_closed([target for _old, _address, target in waits], deadline)
        open_ones = [(old, address) for old, address, target in waits if target in still]
        self.result['stopped'].extend(address for _old, address, target in waits if target not in still)
        if open_ones:
            listed = ', '.join('%s (from %s)' % (address, old.name) for old, address in open_ones)
            raise TopologyError(self.directory, 'removed %s, but %s still %s connections after %s s: the Emperor '
                                'has not stopped %s (is it running and watching this directory?)' % (
                                    ', '.join(sorted(set(old.name for old, _a in open_ones))), listed,
                                    'accepts' if len(open_ones) == 1 else 'accept', self.params['stop_timeout'],
                                    'it' if len(open_ones) == 1 else 'them'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            vassals=dict(type='list', elements='dict', default=[], options=dict(
                file=dict(type='str', required=True),
                instance=dict(type='str'),
                role=dict(type='str'),
                spec=dict(type='dict', required=True),
                socket=dict(type='str'),
                depends=dict(type='list', elements='path', default=[]),
                rolling=dict(type='dict', options=dict(
                    stats=dict(type='str', required=True),
                    server=dict(type='str'),
                    listen=dict(type='list', elements='str', default=[]),
                    leave=dict(type='bool', default=False),
                    announces=dict(type='list', elements='dict', default=[]),
                )),
            )),
            defer_rolling=dict(type='bool', default=False),
            rolling_step=dict(type='bool', default=False),
            refill=dict(type='list', elements='dict', no_log=True, options=dict(
                key=dict(type='str', required=True, no_log=False),
                address=dict(type='str', required=True),
                data=dict(type='str', required=True),
            )),
            refresh=dict(type='list', elements='dict', no_log=True, options=dict(
                server=dict(type='str', required=True),
                stats=dict(type='str', required=True),
                packets=dict(type='list', elements='dict', required=True),
            )),
            drain_timeout=dict(type='int', default=120),
            start_timeout=dict(type='int', default=60),
            suffixes=dict(type='list', elements='str', required=True),
            version=dict(type='str', default='2.0', choices=['2.0', '2.1']),
            build=dict(type='dict', options=dict(
                ssl=dict(type='bool'),
                plugin_build=dict(type='bool'),
                routers=dict(type='list', elements='str'),
                zlib=dict(type='bool'),
                spdy=dict(type='bool'),
            )),
            strict=dict(type='bool', default=True),
            validate=dict(type='bool', default=True),
            uwsgi_binary=dict(type='path'),
            prune=dict(type='bool', default=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            stop_timeout=dict(type='int', default=60),
            touch=dict(type='list', elements='str', default=[]),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )

    vassals = VassalSet(module)
    try:
        result = vassals.run()
    except TopologyError as exc:
        # What was done before the failure is reported with it; file contents are not echoed.
        result = vassals.result
        if not module._diff:
            result.pop('diff', None)
        module.fail_json(msg=str(exc), **result)
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()

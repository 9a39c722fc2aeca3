# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's manifest: what the controller's key store holds and what each host gets.

``add_manifests(plan, ...)`` reads the plan that ``topology.plan_topology`` returned and adds,
decided once here:

* ``plan['keystore']``: the key store on the controller (signing key pairs, the CA, the
  certificates it signs), written by the ``uwsgi.topology.keystore`` action after planning;
* ``plan['hosts'][HOST]['manifest']``: directories, files to place (in order: every private key
  before any certificate), directories to prune, vassal files, what reloads what, the rotation
  handover, what the host's uWSGI must have, the files the operator must have put there, and the
  router checks of the verification.

Roles hand these parts to modules and compute no name, path or condition themselves.
docs/manifest.md describes the layout. Nothing here touches a file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.uwsgi.topology.plugins.module_utils.topology import key_file_name, sni_file

ROUTER_SUFFIX = '.router.topology.ini'
NODE_SUFFIX = '.node.topology.ini'
DEMO_APP = 'demo_app.py'
CA_FILE = 'topology-ca.pem'
CA_COMMON_NAME = 'uwsgi.topology CA'


def store_layout(root):
    """Where the controller's key store keeps each kind of file."""
    return {
        'root': root,
        'signing': root + '/signing',
        'public': root + '/signing/public',
        'ca': root + '/ca',
        'sni': root + '/sni',
        'routers': root + '/routers',
    }


def add_manifests(plan, store, ca_file=CA_FILE, ca_common_name=CA_COMMON_NAME, demo_app_src=None):
    """Add ``keystore`` to ``plan`` and a ``manifest`` to each host of it; return ``plan``.

    ``store`` is the key store's directory on the controller (``~`` is expanded);
    ``demo_app_src`` the controller path of the demo application placed for nodes that run it.
    """
    layout = store_layout(os.path.abspath(os.path.expanduser(store)).rstrip('/') or '/')
    keystore = _keystore(plan, layout, ca_common_name)
    ca_planned = keystore['ca'] is not None
    names = _node_names(plan)
    servers = _routers_by_server(plan)
    announces = _announces(plan)
    for host in sorted(plan['hosts']):
        host_plan = plan['hosts'][host]
        host_plan['manifest'] = _host_manifest(host, host_plan, layout, ca_planned, ca_file, demo_app_src, names,
                                               announces)
        host_plan['manifest']['nodes']['drain'] = _drain(host_plan, servers)
    plan['keystore'] = keystore
    return plan


def _keystore(plan, layout, ca_common_name):
    signing = [{'key': key, 'private': '%s/%s' % (layout['signing'], key_file_name(key)),
                'public': '%s/%s' % (layout['public'], key_file_name(key))} for key in plan['keys']]
    certificates = []
    for key in plan['sni_keys']:
        base = _sni_base(key)
        name = key.split(':', 1)[0]
        certificates.append({'name': name, 'key': '%s/%s.key' % (layout['sni'], base),
                             'cert': '%s/%s.crt' % (layout['sni'], base), 'common_name': name, 'dns': [name]})
    for host in sorted(plan['hosts']):
        for router in plan['hosts'][host]['routers']:
            if router.get('cert_generated'):
                certificates.append({'name': router['name'], 'key': _router_store(layout, router, 'key'),
                                     'cert': _router_store(layout, router, 'crt'),
                                     'common_name': router['name'], 'dns': [router['name']],
                                     'ip': [plan['hosts'][host]['address']]})
    ca = None
    if certificates:
        ca = {'key': layout['ca'] + '/ca.key', 'cert': layout['ca'] + '/ca.crt', 'common_name': ca_common_name}
    dirs = [layout['root'], layout['signing'], layout['public'], layout['ca'], layout['sni'], layout['routers']]
    return {'root': layout['root'], 'dirs': dirs, 'signing_keys': signing, 'ca': ca, 'certificates': certificates}


def _sni_base(key):
    return sni_file(key, 'crt')[:-len('.crt')]


def _router_store(layout, router, extension):
    return '%s/%s.%s' % (layout['routers'], router['name'], extension)


def _node_names(plan):
    """Every node's address -> its instance name (the demo application answers with the name)."""
    names = {}
    for host_plan in plan['hosts'].values():
        for node in host_plan['nodes']:
            names[node['address']] = node['name']
    return names


def _file(src, dest, kind, secret, key=None):
    entry = {'src': src, 'dest': dest, 'kind': kind, 'secret': secret, 'private': secret,
             'mode': '0600' if secret else '0644'}
    if key is not None:
        entry['key'] = key
    return entry


def _host_manifest(host, host_plan, layout, ca_planned, ca_file, demo_app_src, names, announces=None):
    paths = host_plan['paths']
    routers, nodes = host_plan['routers'], host_plan['nodes']
    secured = [r for r in routers if r['secured']]
    ca_dest = '%s/%s' % (paths['certs'], ca_file)

    keys, publics, certs = [], [], []
    for key in host_plan['private_keys']:
        signing = _file('%s/%s' % (layout['signing'], key_file_name(key)),
                        '%s/%s' % (paths['keys'], key_file_name(key)), 'signing_key', True, key)
        # A rotated key goes beside the one it replaces, for the subscription handover.
        signing['stage'] = signing['dest'] + '.next'
        keys.append(signing)
    for router in secured:
        for public in router['public_keys']:
            publics.append(_file('%s/%s' % (layout['public'], public['file']),
                                 '%s/%s' % (router['pubkey_dir'], public['file']), 'public_key', False,
                                 public['key']))
    for key in host_plan['sni_keys']:
        base = _sni_base(key)
        keys.append(_file('%s/%s.key' % (layout['sni'], base), '%s/%s.key' % (paths['certs'], base),
                          'sni_key', True, key))
        certs.append(_file('%s/%s.crt' % (layout['sni'], base), '%s/%s.crt' % (paths['certs'], base),
                           'sni_cert', False, key))
    for router in routers:
        if router.get('cert_generated'):
            keys.append(_file(_router_store(layout, router, 'key'), router['key'], 'router_key', True))
            certs.append(_file(_router_store(layout, router, 'crt'), router['cert'], 'router_cert', False))
    if routers and ca_planned:
        certs.append(_file(layout['ca'] + '/ca.crt', ca_dest, 'ca_cert', False))
    # Private keys first: a router reloads when a certificate changes (touch-reload) and must then
    # find the new key beside it, not the old one.
    files = keys + publics + certs

    directories = []
    if host_plan['private_keys']:
        directories.append({'path': paths['keys'], 'mode': '0700', 'private': True})
    if secured:
        directories.append({'path': paths['pubkeys'], 'mode': '0755', 'private': False})
        for router in secured:
            directories.append({'path': router['pubkey_dir'], 'mode': '0755', 'private': False})
    if any(f['dest'].startswith(paths['certs'] + '/') for f in files):
        directories.append({'path': paths['certs'], 'mode': '0755', 'private': False})

    app_nodes = _demo_app_nodes(nodes, paths)
    app = {'directories': [], 'files': [], 'prune': [paths['apps']], 'reload': []}
    if app_nodes and demo_app_src:
        app['directories'].append({'path': paths['apps'], 'mode': '0755', 'private': False})
        app['files'].append(_file(demo_app_src, '%s/%s' % (paths['apps'], DEMO_APP), 'app', False))
        app['reload'] = [n['name'] + NODE_SUFFIX for n in app_nodes]

    router_vassals = [_router_vassal(r, layout, (announces or {}).get(r['subscription']) or []) for r in routers]
    node_vassals = [{'file': n['name'] + NODE_SUFFIX, 'instance': n['name'], 'role': 'node',
                     'spec': n['spec'], 'socket': n['address']} for n in nodes]
    reloads = []
    for vassal in router_vassals + node_vassals:
        watched = vassal.get('depends') or \
            [value for option, value in _options(vassal['spec']) if option == 'touch-reload']
        if watched:
            reloads.append({'vassal': vassal['file'], 'on': watched})

    required = _required_files(host, routers)
    return {
        'needs': {
            'ssl': bool(secured or host_plan['private_keys'] or any(r['type'] in ('https', 'ssl') for r in routers)),
            'python': bool(nodes),
        },
        'required_files': required,
        'keys': {
            'directories': directories,
            'files': files,
            'prune': [paths['keys'], paths['pubkeys']] + [r['pubkey_dir'] for r in secured] + [paths['certs']],
            # The operator's own router certificates may live in a pruned directory.
            'keep': [r['path'] for r in required],
            'handover': _handover(host_plan, layout, paths),
        },
        'app': app,
        'routers': {'suffix': ROUTER_SUFFIX, 'vassals': router_vassals},
        'nodes': {'suffix': NODE_SUFFIX, 'vassals': node_vassals},
        'reloads': reloads,
        'verify': [_verify(router, paths, ca_dest if ca_planned else None, names) for router in routers],
    }


def _local(address):
    """``host:port`` as a process on the same host reaches it (the wildcard through 127.0.0.1)."""
    host, _sep, port = address.rpartition(':')
    return '127.0.0.1:%s' % port if host in ('', '0.0.0.0') else address


def _router_vassal(router, layout, announces):
    """A router replica's vassal: its spec, the files it loads, and how to replace it without failing a
    request (``rolling``: only with a stats server, which the steps read; ``leave`` only when other
    replicas share its address)."""
    vassal = {'file': router['name'] + ROUTER_SUFFIX, 'instance': router['name'], 'role': 'router',
              'spec': router['spec'], 'socket': None, 'depends': list(router.get('reload_on') or [])}
    if router.get('secured') and router.get('pubkey_dir'):
        # A rotated signing key takes effect only in a pool created afresh (2.0 reads the public key once):
        # a new public key reloads the replica too, and its refill, signed with the new key, creates them.
        vassal['depends'] += ['%s/%s' % (router['pubkey_dir'], public['file']) for public in router['public_keys']]
    if router.get('stats') and router.get('subscription'):
        vassal['rolling'] = {
            'stats': _local(router['stats']), 'server': _local(router['subscription']),
            'listen': [_local(router['listen'])] if router.get('listen') else [],
            'leave': (router.get('replicas') or 1) > 1,
            'announces': [{'entry': entry, 'signing': '%s/%s' % (layout['signing'], key_file_name(entry['key']))
                           if entry.get('signing') else None} for entry in announces],
        }
    return vassal


def _announces(plan):
    """Every subscription server -> the subscribe entries of the nodes that announce there, in plan order."""
    out = {}
    for host in sorted(plan['hosts']):
        for node in plan['hosts'][host]['nodes']:
            for entry in _subscribe_entries(node):
                if isinstance(entry, dict) and entry.get('server'):
                    out.setdefault(entry['server'], []).append(entry)
    return out


def _options(spec):
    """The [name, value] pairs of a spec's ``options`` (a list of pairs or a mapping)."""
    options = spec.get('options') or []
    if isinstance(options, dict):
        return list(options.items())
    return [tuple(pair) for pair in options if isinstance(pair, (list, tuple)) and len(pair) == 2]


def _demo_app_nodes(nodes, paths):
    """The nodes that run the bundled demo application (no wsgi_file of their own)."""
    app = '%s/%s' % (paths['apps'], DEMO_APP)
    return [n for n in nodes if ['wsgi-file', app] in [list(o) for o in _options(n['spec'])]]


def _subscribe_entries(node):
    subscriptions = node['spec'].get('subscriptions') or {}
    entries = subscriptions.get('subscribe') or []
    return entries if isinstance(entries, list) else [entries]


def _handover(host_plan, layout, paths):
    """Per signing key of this host: the key file its nodes sign with and their subscriptions, so a
    rotated key (a new pair in the key store) is handed over without losing a request."""
    out = []
    for key in host_plan['private_keys']:
        current = '%s/%s' % (paths['keys'], key_file_name(key))
        subscriptions = [entry for node in host_plan['nodes'] for entry in _subscribe_entries(node)
                         if isinstance(entry, dict) and entry.get('key') == key and entry.get('signing')]
        out.append({'key': key, 'current': current, 'next': current + '.next',
                    'src': '%s/%s' % (layout['signing'], key_file_name(key)), 'subscriptions': subscriptions})
    return out


def _routers_by_server(plan):
    """Every router's subscription server -> (the router's plan entry, its host's address)."""
    out = {}
    for host_plan in plan['hosts'].values():
        for router in host_plan['routers']:
            if router['subscription']:
                out[router['subscription']] = (router, host_plan['address'])
    return out


def _stats_seen_from(stats, router_address, node_address):
    """The address a node host reads a router's stats server at, or None when it cannot.

    By default the stats server listens on 127.0.0.1 of the router's host (``stats_address``): only a
    node on the same machine reaches it. On the wildcard address it is reached at the router host's
    address (or 127.0.0.1 on the same machine); on another address, at that address."""
    if stats is None:
        return None
    host, _sep, port = stats.rpartition(':')
    same = router_address == node_address
    if host.startswith('127.'):
        return stats if same else None
    if host == '0.0.0.0':
        return '%s:%s' % ('127.0.0.1' if same else router_address, port)
    return stats


def _drain(host_plan, servers):
    """Per node of this host: what the uwsgi.topology.drain module needs to take it out of its pools
    (the routers' stats servers as this host reaches them: see _stats_seen_from)."""
    paths = host_plan['paths']
    out = []
    for node in host_plan['nodes']:
        entries = [e for e in _subscribe_entries(node) if isinstance(e, dict)]
        routers = []
        for server in sorted(set(e.get('server') for e in entries if e.get('server'))):
            router, address = servers.get(server, (None, None))
            keys = sorted(set(e['key'] for e in entries if e.get('server') == server and e.get('key')))
            if router is None:  # a server the operator's spec names: not one of the plan's routers
                routers.append({'name': server, 'server': server, 'stats': None, 'keys': keys, 'tolerance': None})
                continue
            server_params = (router['spec'].get('subscriptions') or {}).get('server_params') or {}
            routers.append({'name': router['name'], 'server': server,
                            'stats': _stats_seen_from(router['stats'], address, host_plan['address']),
                            'keys': keys, 'tolerance': server_params.get('tolerance')})
        client_params = (node['spec'].get('subscriptions') or {}).get('client_params') or {}
        start_blocked = any(name == 'start-unsubscribed' and value in (True, 'true', 'True', '1', 1)
                            for name, value in _options(node['spec']))
        out.append({'instance': node['name'], 'fifo': node['fifo'],
                    'state_file': '%s/%s.drain' % (paths['run'], node['name']), 'subscriptions': entries,
                    'routers': routers, 'start_blocked': start_blocked,
                    'announce_interval': client_params.get('announce_interval')})
    return out


def _required_files(host, routers):
    """The certificate and key files an https or ssl router names itself: they must be on the host
    before anything changes (uWSGI loads them when it reads the vassal)."""
    out = []
    for router in routers:
        if router.get('replica'):
            continue  # another replica of an instance: its files are replica 0's, listed there
        if router.get('cert') and not router.get('cert_generated'):
            for field in ('cert', 'key'):
                if router.get(field):
                    out.append({
                        'path': router[field], 'router': router['name'],
                        'message': 'host %s: %s.%s: %s is not a file on %s; router %s (%s) loads it when it '
                                   'starts. Put it there first, or leave cert and key out to get a certificate '
                                   'signed by the collection\'s CA.'
                                   % (host, router['path'], field, router[field], host, router['name'],
                                      router['type'])})
    return out


def _verify(router, paths, ca_dest, names):
    """What the verification checks on one router: its pools, then requests for each key.

    The replicas of one instance (``replicas: N``) each have their pools checked; the requests go through
    their shared address once, with replica 0 (the kernel spreads the connections among them): the others get
    no ``connect``, their probes only name the nodes of their pools."""
    bind_host, _sep, port = router['bind'].rpartition(':')
    connect = None
    if router['type'] in ('http', 'https') and not router['bind'].startswith('/') and port.isdigit() \
            and not router.get('replica'):
        connect = {'host': bind_host if bind_host not in ('', '0.0.0.0') else '127.0.0.1', 'port': int(port)}
    answers = router.get('answers')
    if answers is None:
        answers = router['expect']
    https = router['type'] == 'https'
    generated = bool(router.get('cert_generated'))
    probes = []
    for key in sorted(answers):
        sni = key in router['sni_keys']
        named = https and (sni or generated)
        server_name = None
        if https:
            server_name = key.split(':', 1)[0] if sni or not generated else router['name']
        probes.append({
            'key': key,
            'server_name': server_name,
            'ca': ca_dest if named else None,
            'certificate': (router.get('certificates') or {}).get(key) if https else None,
            'common_name': (key.split(':', 1)[0] if sni else router['name']) if named else None,
            'answers': dict((address, names.get(address, address)) for address in answers[key]),
        })
    stats = router['stats']
    if stats is not None and stats.startswith('0.0.0.0:'):
        stats = '127.0.0.1:' + stats.rsplit(':', 1)[1]  # the verification runs on the router's host
    return {'router': router['name'], 'type': router['type'], 'bind': router['bind'], 'stats': stats,
            'pools': router['expect'], 'connect': connect, 'probes': probes}

# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed class ``Subscriptions``: subscription server, verification and client options,
``subscribe()`` and the balancing ``algorithms``.

Input (``spec['subscriptions']``)::

    server_params:              {client_notify_address, mountpoints_depth, require_vassal,
                                 tolerance, tolerance_inactive, key_dot_split, balancing_algo}
    server_verification_params: {digest_algo, dir_cert, tolerance, no_check_uid,
                                 dir_credentials, pass_unix_credentials}
    client_params:              {start_unsubscribed, clear_on_exit, unsubscribe_on_reload,
                                 announce_interval}
    subscribe:                  [{server, key, address, address_vassal, balancing_weight,
                                  balancing_algo, modifier, signing, check_file, protocol,
                                  sni_cert, sni_key, sni_client_ca}, ...]

``server_params.balancing_algo`` is this collection's home for the router-side
``subscription-algo`` (the 2.0 way to choose an algorithm; the per-subscription
``balancing_algo`` exists only in 2.1).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.uwsgi.topology.plugins.module_utils.core import (
    BOOL, UIDLIST, INT, POSINT, Param, STR, TopologyError, check_int, check_mapping, check_str,
    check_strlist, check_udp_or_unix, emit_params, gate, is_decimal, is_unix_path, join, kv_join, type_name,
)


class algorithms(object):  # noqa: N801 - the seed's name
    """The seed's ``Subscriptions.algorithms``: seed name -> uWSGI name.

    ``ip_hash`` exists only on 2.1; the others exist in 2.0 as the router-side
    ``subscription-algo`` and in 2.1 also per subscription (``algo=``).
    """

    weighted_round_robin = 'wrr'
    least_reference_count = 'lrc'
    weighted_least_reference_count = 'wlrc'
    ip_hash = 'iphash'

    NAMES = {
        'weighted_round_robin': 'wrr', 'wrr': 'wrr',
        'least_reference_count': 'lrc', 'lrc': 'lrc',
        'weighted_least_reference_count': 'wlrc', 'wlrc': 'wlrc',
        'ip_hash': 'iphash', 'iphash': 'iphash',
    }
    MASTER_ONLY = ('iphash',)

    @classmethod
    def resolve(cls, value, path, target):
        """Return ``(uwsgi_name, backup_level)`` for ``name`` or ``{name, backup_level}``."""
        backup = None
        if isinstance(value, dict):
            check_mapping(value, path, ('name', 'backup_level'))
            if 'name' not in value:
                raise TopologyError(join(path, 'name'), 'is required: one of %s' % ', '.join(_SEED_ALGOS))
            if value.get('backup_level') is not None:
                backup = check_int(value['backup_level'], join(path, 'backup_level'))
            value = value['name']
            path = join(path, 'name')
        if not isinstance(value, str) or value not in cls.NAMES:
            raise TopologyError(path, 'unknown balancing algorithm %s; choose one of %s'
                                % (type_name(value), ', '.join(_SEED_ALGOS)))
        name = cls.NAMES[value]
        if name in cls.MASTER_ONLY and not target.is_master:
            raise TopologyError(path, 'ip_hash exists only in uWSGI 2.1 (master, never released): 2.0 turns an '
                                      'unknown algorithm silently into wrr; choose weighted_round_robin, '
                                      'least_reference_count or weighted_least_reference_count')
        return name, backup


_SEED_ALGOS = ('weighted_round_robin', 'least_reference_count', 'weighted_least_reference_count', 'ip_hash')

# Routing modifiers (modifier1) by name, as in uwsgiconf's routing_modifiers.
MODIFIERS = {
    'wsgi': 0, 'psgi': 5, 'lua': 6, 'rack': 7, 'jvm': 8, 'cgi': 9, 'manage': 10, 'gccgo': 11,
    'php': 14, 'mono': 15, 'spooler': 17, 'symcall': 18, 'ssi': 19, 'eval': 22, 'xslt': 23,
    'v8': 24, 'gridfs': 25, 'fastfunc': 26, 'glusterfs': 27, 'rados': 28, 'manage_path_info': 30,
    'message': 31, 'message_array': 32, 'message_marshal': 33, 'webdav': 35, 'snmp': 48, 'raw': 72,
    'multicast_announce': 73, 'multicast': 74, 'cluster_node': 95, 'remote_logging': 96,
    'reload_brutal': 97, 'reload': 98, 'config_from_node': 99,
}

_DIGEST = re.compile(r'^[A-Za-z0-9-]{2,32}$')

SUBSCRIBE_KEYS = (
    'server', 'key', 'address', 'address_vassal', 'balancing_weight', 'balancing_algo', 'modifier',
    'signing', 'check_file', 'protocol', 'sni_cert', 'sni_key', 'sni_client_ca',
)


def resolve_modifier(value, path):
    """``modifier``: a modifier1 number, a name (``wsgi``, ``psgi``, ...) or
    ``{modifier1: N|name, modifier2: N}``.  Returns ``(modifier1, modifier2)``."""
    modifier2 = None
    if isinstance(value, dict):
        check_mapping(value, path, ('modifier1', 'modifier2'))
        if value.get('modifier1') is None:
            raise TopologyError(join(path, 'modifier1'), 'is required in the mapping form')
        if value.get('modifier2') is not None:
            modifier2 = check_int(value['modifier2'], join(path, 'modifier2'), 0, 255)
        path = join(path, 'modifier1')
        value = value['modifier1']
    if isinstance(value, str) and not is_decimal(value):
        if value not in MODIFIERS:
            raise TopologyError(path, 'unknown modifier name %r; use a number 0-255 or one of %s'
                                % (value, ', '.join(sorted(MODIFIERS))))
        return MODIFIERS[value], modifier2
    return check_int(value, path, 0, 255), modifier2


class Subscriptions(object):
    """The seed class ``Subscriptions``."""

    SERVER_PARAMS = {
        'client_notify_address': Param('subscription-notify-socket', STR),
        'mountpoints_depth': Param('subscription-mountpoints', INT, since='2.1',
                                   alt='distinct keys per application (2.0 matches the whole Host)'),
        'require_vassal': Param('subscription-vassal-required', BOOL, since='2.1'),
        'tolerance': Param('subscription-tolerance', POSINT),
        'tolerance_inactive': Param('subscription-tolerance-inactive', POSINT, since='2.1',
                                    alt='subscriptions.server_params.tolerance'),
        'key_dot_split': Param('subscription-dotsplit', BOOL),
        'balancing_algo': Param('subscription-algo', STR),
    }

    VERIFICATION_PARAMS = {
        'digest_algo': None,  # combined with dir_cert below
        'dir_cert': None,
        'tolerance': Param('subscriptions-sign-check-tolerance', POSINT, needs='ssl'),
        'no_check_uid': Param('subscriptions-sign-skip-uid', UIDLIST, needs='ssl'),
        'dir_credentials': None,  # trailing slash added below
        'pass_unix_credentials': Param('subscriptions-use-credentials', BOOL),
    }

    CLIENT_PARAMS = {
        'start_unsubscribed': Param('start-unsubscribed', BOOL),
        'clear_on_exit': Param('subscription-clear-on-shutdown', BOOL, since='2.1',
                               alt='the default unsubscribe on shutdown (2.0 always unsubscribes)'),
        'unsubscribe_on_reload': Param('unsubscribe-on-graceful-reload', BOOL),
        'announce_interval': Param('subscribe-freq', POSINT),
    }

    GROUPS = ('server_params', 'server_verification_params', 'client_params', 'subscribe')

    def __init__(self, spec, target, path='subscriptions'):
        self.spec = check_mapping(spec, path, self.GROUPS)
        self.target = target
        self.path = path

    @property
    def signs_check(self):
        verification = self.spec.get('server_verification_params') or {}
        return bool(verification.get('digest_algo') or verification.get('dir_cert'))

    def compile_server(self, out):
        """Options of the subscription server side (routers)."""
        spec, target = self.spec, self.target
        path = join(self.path, 'server_params')
        server = check_mapping(spec.get('server_params'), path, self.SERVER_PARAMS)
        if server:
            algo = server.get('balancing_algo')
            if algo is not None:
                name, backup = algorithms.resolve(algo, join(path, 'balancing_algo'), target)
                if backup is not None:
                    raise TopologyError(join(path, 'balancing_algo.backup_level'),
                                        'backup levels are set per subscription (2.1 only), not on the router')
                server = dict(server, balancing_algo=name)
            notify = server.get('client_notify_address')
            if notify is not None and not is_unix_path(check_str(notify, join(path, 'client_notify_address'))):
                raise TopologyError(join(path, 'client_notify_address'),
                                    'must be a UNIX datagram socket path: uWSGI sends subscription '
                                    'acknowledgements only over AF_UNIX, never UDP')
            emit_params(out, target, self.SERVER_PARAMS, server, path)

        path = join(self.path, 'server_verification_params')
        verification = check_mapping(spec.get('server_verification_params'), path, self.VERIFICATION_PARAMS)
        if verification:
            digest, directory = verification.get('digest_algo'), verification.get('dir_cert')
            if (digest is None) != (directory is None):
                missing = 'dir_cert' if directory is None else 'digest_algo'
                raise TopologyError(join(path, missing), 'is required with %s: subscriptions-sign-check takes '
                                    '<digest>:<directory of public keys>'
                                    % ('digest_algo' if missing == 'dir_cert' else 'dir_cert'))
            if digest is not None:
                gate(target, Param('subscriptions-sign-check', STR, needs='ssl'), join(path, 'digest_algo'))
                digest = check_digest(digest, join(path, 'digest_algo'))
                directory = check_abs_path(directory, join(path, 'dir_cert'))
                out.append(['subscriptions-sign-check', '%s:%s' % (digest, directory)])
            simple = dict((k, v) for k, v in verification.items() if k in _VERIFICATION_SIMPLE)
            emit_params(out, target, _VERIFICATION_SIMPLE, simple, path)
            credentials = verification.get('dir_credentials')
            if credentials is not None:
                for i, directory in enumerate(check_strlist(credentials, join(path, 'dir_credentials'))):
                    # uWSGI concatenates <dir><key> without a separator.
                    where = join(path, 'dir_credentials') + ('[%d]' % i if isinstance(credentials, list) else '')
                    directory = check_abs_path(directory, where)
                    out.append(['subscriptions-credentials-check', directory.rstrip('/') + '/'])

    def compile_client(self, out):
        """Options of the subscriber side (nodes): client params and one ``subscribe2`` each."""
        spec, target = self.spec, self.target
        emit_params(out, target, self.CLIENT_PARAMS, spec.get('client_params'), join(self.path, 'client_params'))
        subscriptions = spec.get('subscribe')
        if subscriptions is None:
            return
        path = join(self.path, 'subscribe')
        if not isinstance(subscriptions, list):
            raise TopologyError(path, 'must be a list of subscriptions, got %s' % type_name(subscriptions))
        weights = {}
        for i, item in enumerate(subscriptions):
            where = '%s[%d]' % (path, i)
            pairs, weight = self.subscribe(item, where)
            weights[where] = weight
            out.append(['subscribe2', kv_join(pairs)])
        if not target.is_master and len(set(weights.values())) > 1:
            listed = ', '.join('%s=%s' % (k, v) for k, v in weights.items())
            raise TopologyError(path, 'uWSGI 2.0 makes a subscription\'s weight global to the instance (the last '
                                      'one parsed wins for every key), so these would all announce one weight: '
                                      '%s (unset means 1). Give every subscription of this instance the same '
                                      'balancing_weight, or run one instance per weight.' % listed)

    def subscribe(self, item, path):
        """The seed's ``subscribe()``: returns the ``subscribe2`` key/value pairs and the weight."""
        target = self.target
        item = check_mapping(item, path, SUBSCRIBE_KEYS)
        if item.get('server') is None or item.get('key') is None:
            missing = 'server' if item.get('server') is None else 'key'
            raise TopologyError(join(path, missing), 'is required: uWSGI silently drops a subscription '
                                                     'without both server and key')
        pairs = [('server', check_udp_or_unix(item['server'], path + '.server', 'subscription server'))]
        key = check_key(item['key'], path + '.key', target)
        pairs.append(('key', key))

        address = item.get('address')
        if address is None:
            raise TopologyError(path + '.address', 'is required: without it uWSGI announces its first socket '
                                'exactly as written (e.g. ":3031"), which the router reads as its own host; '
                                'give the node\'s routable IPv4:port, a UNIX socket path, or a socket index')
        if isinstance(address, int) and not isinstance(address, bool):
            pairs.append(('socket', str(check_int(address, path + '.address'))))
        else:
            pairs.append(('addr', check_udp_or_unix(address, path + '.address', 'node address')))

        if item.get('address_vassal') is not None:
            where = path + '.address_vassal'
            gate(target, _P_VASSAL, where)
            pairs.append(('vassal', check_str(item['address_vassal'], where)))

        weight = 1
        if item.get('balancing_weight') is not None:
            weight = check_int(item['balancing_weight'], path + '.balancing_weight', 1)
            pairs.append(('weight', str(weight)))

        if item.get('balancing_algo') is not None:
            where = path + '.balancing_algo'
            gate(target, _P_ALGO, where)
            name, backup = algorithms.resolve(item['balancing_algo'], where, target)
            pairs.append(('algo', name))
            if backup is not None:
                pairs.append(('backup', str(backup)))

        if item.get('modifier') is not None:
            modifier1, modifier2 = resolve_modifier(item['modifier'], path + '.modifier')
            pairs.append(('modifier1', str(modifier1)))
            if modifier2 is not None:
                pairs.append(('modifier2', str(modifier2)))

        if item.get('signing') is not None:
            pairs.append(('sign', check_signing(item['signing'], path + '.signing', target)))

        if item.get('check_file') is not None:
            # uWSGI SKIPS the subscription while this file exists (the seed says the opposite).
            pairs.append(('check', check_abs_path(item['check_file'], path + '.check_file')))

        if item.get('protocol') is not None:
            where = path + '.protocol'
            gate(target, _P_PROTO, where)
            protocol = check_str(item['protocol'], where)
            if protocol not in ('uwsgi', 'http'):
                raise TopologyError(where, 'must be uwsgi or http (the router keeps only the first letter), '
                                           'got %r' % protocol)
            pairs.append(('proto', protocol))

        sni = [item.get(name) for name in ('sni_key', 'sni_cert', 'sni_client_ca')]
        if any(value is not None for value in sni):
            if sni[0] is None or sni[1] is None:
                missing = 'sni_key' if sni[0] is None else 'sni_cert'
                raise TopologyError(join(path, missing), 'is required with the other SNI parameters: the router '
                                    'installs an SNI context only when both sni_key and sni_cert are sent')
            for name, key_name, value in zip(('sni_key', 'sni_cert', 'sni_client_ca'),
                                             ('sni_key', 'sni_crt', 'sni_ca'), sni):
                if value is not None:
                    pairs.append((key_name, check_abs_path(value, join(path, name), 'on the router host')))
        return pairs, weight


_P_VASSAL = Param('vassal', STR, since='2.1')
_P_ALGO = Param('algo', STR, since='2.1', alt='the router-side algorithm: subscriptions.server_params.balancing_algo '
                                              '(subscription-algo) in the router\'s spec')
_P_PROTO = Param('proto', STR, since='2.1')
_P_SIGN = Param('sign', STR, needs='ssl')

_VERIFICATION_SIMPLE = dict(
    (name, param) for name, param in Subscriptions.VERIFICATION_PARAMS.items() if param is not None)


def check_digest(value, path):
    value = check_str(value, path)
    if not _DIGEST.match(value):
        raise TopologyError(path, 'digest %r must be an OpenSSL digest name such as SHA1 or SHA256' % value)
    return value


def check_abs_path(value, path, where=''):
    value = check_str(value, path)
    if not value.startswith('/'):
        raise TopologyError(path, 'must be an absolute path%s, got %r' % ((' ' + where) if where else '', value))
    return value


def check_key(value, path, target):
    value = check_str(value, path)
    if len(value.encode('utf-8')) > 255:
        raise TopologyError(path, 'subscription keys are at most 255 bytes (uWSGI drops longer ones)')
    if '/' in value and not target.is_master:
        raise TopologyError(path, 'key %r has a mountpoint: mountpoints exist only in uWSGI 2.1 (master); a 2.0 '
                                  'router matches the whole Host and would never route to it' % value)
    if ' ' in value:
        raise TopologyError(path, 'key %r must not contain spaces' % value)
    return value


def check_signing(value, path, target):
    if isinstance(value, str):
        raise TopologyError(path, 'must be a two-item list [digest, private_key_path], e.g. '
                                  '[SHA1, /etc/uwsgi/keys/example.com.pem], got the string %r' % value)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TopologyError(path, 'must be a two-item list [digest, private_key_path], got %s' % type_name(value))
    if not target.ssl:
        gate(target, _P_SIGN, path)
    digest = check_digest(value[0], path + '[0]')
    key = check_abs_path(value[1], path + '[1]', 'to the PEM private key on the node')
    return '%s:%s' % (digest, key)

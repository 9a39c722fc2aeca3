# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared building blocks of the compiler: the target uWSGI, value checks and
parameter tables.

Nothing here knows about Ansible; every function is pure and raises
:class:`TopologyError` naming the input path at fault.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

VERSIONS = ('2.0', '2.1')
DEFAULT_VERSION = '2.0'

# Kinds of parameter values (see Param).
INT = 'int'          # integer >= 0
POSINT = 'posint'    # integer >= 1
BOOL = 'bool'        # flag: true emits "<option> = true", false emits nothing
STR = 'str'          # non-empty string without newline
STRLIST = 'strlist'  # one string or a list of them: the option is repeated
ID = 'id'            # user/group: a name or a numeric id
ADDRLIST = 'addrlist'  # one or more node addresses (numeric IPv4:port or UNIX path), repeated
UIDLIST = 'uidlist'  # one or more numeric uids (> 0), repeated

_BUILD_KEYS = {
    'ssl': True,
    'plugin_build': False,
    'routers': None,
    'zlib': True,
    'spdy': False,
}

ROUTER_TYPES = ('http', 'https', 'ssl', 'fast', 'raw', 'forkpty', 'tuntap')

_OCTET = r'(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
_IPV4 = re.compile(r'^(?:%s\.){3}%s:([0-9]{1,5})$' % (_OCTET, _OCTET))
_PORT_ONLY = re.compile(r'^:\d{1,5}$')
_DECIMAL = re.compile(r'^[0-9]+$')


def is_decimal(value):
    """A string of ASCII digits only (str.isdigit() also accepts '\u00b2')."""
    return isinstance(value, str) and _DECIMAL.match(value) is not None


class Target(object):
    """The uWSGI that will run the configuration: its version and build facts."""

    __slots__ = ('version', 'ssl', 'plugin_build', 'routers', 'zlib', 'spdy')

    def __init__(self, version=None, build=None):
        if version is None:
            version = DEFAULT_VERSION
        version = str(version)
        if version not in VERSIONS:
            raise TopologyError('version', 'must be one of %s, got %r (2.1 is the unreleased master branch)'
                                % (', '.join(VERSIONS), version))
        self.version = version
        if not build and (build is None or isinstance(build, dict)):
            # No build facts: every default (the common case, kept cheap).
            for key, default in _BUILD_KEYS.items():
                setattr(self, key, default)
            return
        if not isinstance(build, dict):
            raise TopologyError('build', 'must be a mapping of build facts (%s), got %s'
                                % (', '.join(sorted(_BUILD_KEYS)), type_name(build)))
        for key in build:
            if key not in _BUILD_KEYS:
                raise TopologyError('build.%s' % key, 'unknown build fact; known facts: %s'
                                    % ', '.join(sorted(_BUILD_KEYS)))
        for key, default in _BUILD_KEYS.items():
            value = build.get(key, default)
            if key == 'routers':
                if value is not None:
                    # An empty list is a build without any router.
                    value = tuple(check_strlist(value, 'build.routers')) if value != [] else ()
                    for i, item in enumerate(value):
                        if item not in ROUTER_TYPES:
                            raise TopologyError('build.routers[%d]' % i, 'unknown router type %r; known: %s'
                                                % (item, ', '.join(ROUTER_TYPES)))
            elif value is not None and not isinstance(value, bool):
                raise TopologyError('build.%s' % key, 'must be a boolean, got %s' % type_name(value))
            setattr(self, key, value)

    @property
    def is_master(self):
        return self.version == '2.1'


def type_name(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'boolean %r' % value
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if isinstance(value, int):
        return 'integer %r' % value
    if isinstance(value, str):
        return 'string %r' % value
    return type(value).__name__


def check_mapping(value, path, known=None):
    """A mapping (or None, read as empty) whose keys are all in ``known``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TopologyError(path, 'must be a mapping, got %s' % type_name(value))
    if known is not None:
        for key in value:
            if key not in known:
                raise TopologyError(join(path, key), 'unknown parameter; known here: %s'
                                    % ', '.join(sorted(known)))
    return value


def check_list(value, path):
    """A list (a single mapping or string is taken as a list of one)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return value
    return [value]


def join(path, key):
    if not path:
        return str(key)
    if isinstance(key, int):
        return '%s[%d]' % (path, key)
    return '%s.%s' % (path, key)


def check_str(value, path):
    if value.__class__ is str and value and '\n' not in value and '\r' not in value:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TopologyError(path, 'must be a string, got %s' % type_name(value))
    value = str(value)
    if not value:
        raise TopologyError(path, 'must not be empty')
    if '\n' in value or '\r' in value:
        raise TopologyError(path, 'must not contain a line break')
    return value


def check_strlist(value, path):
    if isinstance(value, (list, tuple)):
        if not value:
            raise TopologyError(path, 'must not be an empty list (leave it out instead)')
        return [check_str(item, '%s[%d]' % (path, i)) for i, item in enumerate(value)]
    return [check_str(value, path)]


def check_int(value, path, minimum=0, maximum=None):
    if isinstance(value, bool):
        raise TopologyError(path, 'must be an integer, got %s' % type_name(value))
    if isinstance(value, str) and re.match(r'^\s*-?[0-9]+\s*$', value):
        value = int(value)
    if isinstance(value, float):
        raise TopologyError(path, 'must be an integer, got %r' % value)
    if not isinstance(value, int):
        raise TopologyError(path, 'must be an integer, got %s' % type_name(value))
    if value < minimum:
        raise TopologyError(path, 'must be >= %d, got %d' % (minimum, value))
    if maximum is not None and value > maximum:
        raise TopologyError(path, 'must be <= %d, got %d' % (maximum, value))
    return value


def check_bool(value, path):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'false', 'yes', 'no'):
        return value.lower() in ('true', 'yes')
    raise TopologyError(path, 'must be a boolean, got %s' % type_name(value))


def check_id(value, path):
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise TopologyError(path, 'must be a user/group name or a non-negative id, got %d' % value)
        return str(value)
    return check_str(value, path)


def is_unix_path(value):
    return value.startswith('/') or value.startswith('@')


def check_udp_or_unix(value, path, what):
    """A numeric ``IPv4:port`` or an absolute UNIX socket path (or a uWSGI ``%(placeholder)``)."""
    value = check_str(value, path)
    if value.startswith('%('):
        return value
    if is_unix_path(value):
        if ':' in value:
            raise TopologyError(path, '%s %r: uWSGI reads any address holding ":" as IPv4:port, so this UNIX path '
                                      'can never be reached; rename it without ":"' % (what, value))
        return value
    if _PORT_ONLY.match(value) or value.startswith('0.0.0.0:'):
        raise TopologyError(path, '%s %r is a wildcard address: uWSGI would send to or connect to its own host; '
                                  'give the numeric IPv4 address of the peer, e.g. 10.0.0.5%s'
                            % (what, value, value[value.rindex(':'):]))
    match = _IPV4.match(value)
    if match and 0 < int(match.group(1)) < 65536:
        return value
    if value.startswith('['):
        raise TopologyError(path, '%s %r is IPv6: uWSGI 2.0 subscriptions use inet_addr(), IPv4 only; '
                                  'use a numeric IPv4 address or a UNIX socket path' % (what, value))
    raise TopologyError(path, '%s %r must be a numeric IPv4 address with a port (e.g. 10.0.0.5:2626) or an '
                              'absolute UNIX socket path: uWSGI does no DNS lookup here, a host name becomes '
                              '255.255.255.255 (sendto(): Permission denied)' % (what, value))


def check_bind(value, path):
    """An address a router binds: ``[ip]:port``, a UNIX path, or ``=N`` (a shared socket)."""
    value = check_str(value, path)
    if is_unix_path(value) or value.startswith('=') or value.startswith('%('):
        return value
    if ':' not in value:
        raise TopologyError(path, 'address %r must be [IP]:port, a UNIX socket path or =N (shared socket)' % value)
    port = value[value.rindex(':') + 1:]
    if not is_decimal(port) or not 0 < int(port) < 65536:
        raise TopologyError(path, 'address %r has no valid port' % value)
    return value


def check_udp_bind(value, path, what, unix=True):
    """An address uWSGI binds for datagrams: ``[IPv4]:port`` (empty host = every address) or a UNIX path."""
    value = check_str(value, path)
    if is_unix_path(value) and unix:
        if ':' in value:
            raise TopologyError(path, '%s %r: uWSGI reads any address holding ":" as IPv4:port; rename the UNIX '
                                      'path without ":"' % (what, value))
        return value
    host, sep, port = value.rpartition(':')
    ok = sep and is_decimal(port) and 0 < int(port) < 65536
    if ok and host:
        parts = host.split('.')
        ok = len(parts) == 4 and all(is_decimal(p) and int(p) <= 255 for p in parts)
    if not ok:
        raise TopologyError(path, '%s %r must be [IPv4]:port (uWSGI binds it with inet_addr(): no host names, no '
                                  'IPv6)%s' % (what, value, ' or an absolute UNIX socket path' if unix else ''))
    return value


class Param(object):
    """One seed parameter: its uWSGI option, value kind and the release that has it.

    ``option`` is the full uWSGI option name (router tables give the suffix and
    the router prefix is added).  ``since`` is ``'2.1'`` for master-only
    options, and ``alt`` the 2.0 alternative named in the refusal.
    """

    __slots__ = ('option', 'kind', 'since', 'alt', 'needs')

    def __init__(self, option, kind, since=None, alt=None, needs=None):
        self.option = option
        self.kind = kind
        self.since = since
        self.alt = alt
        self.needs = needs


def gate(target, param, path, prefix=''):
    """Refuse a parameter the target cannot honour."""
    option = prefix + param.option
    if param.since == '2.1' and not target.is_master:
        message = ('exists only in uWSGI 2.1 (master, never released): the 2.0 target has no %r and would '
                   'silently ignore it' % option)
        if param.alt:
            message += '; on 2.0 use %s' % param.alt
        else:
            message += '; there is no 2.0 equivalent, remove it or set version: "2.1"'
        raise TopologyError(path, message)
    if param.needs == 'ssl' and not target.ssl:
        raise TopologyError(path, '%r needs a uWSGI built with SSL; the target build has none (pyuwsgi '
                                  'wheels have no SSL: build uwsgi from source with libssl-dev)' % option)
    if param.needs == 'zlib' and not target.zlib:
        raise TopologyError(path, '%r needs a uWSGI built with zlib; the target build has none' % option)


def emit_value(out, option, kind, value, path):
    """Append ``option`` for ``value`` of ``kind`` to ``out``."""
    if kind == INT or kind == POSINT:
        out.append([option, str(check_int(value, path, 1 if kind == POSINT else 0))])
    elif kind == BOOL:
        if check_bool(value, path):
            out.append([option, 'true'])
    elif kind == STR:
        out.append([option, check_str(value, path)])
    elif kind == STRLIST:
        for item in check_strlist(value, path):
            out.append([option, item])
    elif kind == ID:
        out.append([option, check_id(value, path)])
    elif kind == ADDRLIST:
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise TopologyError(path, 'must not be an empty list (leave it out instead)')
        for i, item in enumerate(values):
            where = join(path, i) if isinstance(value, (list, tuple)) else path
            out.append([option, check_udp_or_unix(item, where, 'node address')])
    elif kind == UIDLIST:
        values = value if isinstance(value, (list, tuple)) else [value]
        for i, item in enumerate(values):
            where = join(path, i) if isinstance(value, (list, tuple)) else path
            if isinstance(item, str) and not is_decimal(item):
                raise TopologyError(where, 'must be a numeric uid: uWSGI reads it with atoi(), so the name %r would '
                                           'mean 0, which never matches' % item)
            out.append([option, str(check_int(item, where, 1))])
    else:  # pragma: no cover - a table error, not an input error
        raise ValueError('unknown kind %r' % kind)


def emit_params(out, target, table, values, path, prefix=''):
    """Emit every parameter of ``values`` (a mapping checked against ``table``)."""
    values = check_mapping(values, path, table)
    for name, param in table.items():
        value = values.get(name)
        if value is None:
            continue
        where = join(path, name)
        if param is None:
            raise TopologyError(where, 'has no uWSGI option on this router')
        if isinstance(param, str):
            # A seed parameter with no uWSGI option: the string says why.
            raise TopologyError(where, param)
        gate(target, param, where, prefix)
        emit_value(out, prefix + param.option, param.kind, value, where)
    return values


def kv_escape(value):
    """Escape a value for uWSGI's key=value lists (``\\``, ``,`` and ``=``)."""
    value = str(value)
    if '\\' in value or ',' in value or '=' in value:
        value = value.replace('\\', '\\\\').replace(',', '\\,').replace('=', '\\=')
    return value


def kv_join(pairs):
    return ','.join('%s=%s' % (key, kv_escape(value)) for key, value in pairs)

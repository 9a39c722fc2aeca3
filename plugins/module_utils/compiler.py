# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compiler: one instance's spec -> an ordered list of uWSGI options -> INI text.

``compile_options(spec, version, build, strict)`` reads a spec::

    subscriptions:  see module_utils/subscriptions.py (the seed class Subscriptions)
    routers:        a list, see module_utils/routers.py (RouterHttp, ..., ForwarderPath, ...)
    options:        extra raw options for the instance ([[name, value], ...] or a mapping)
    plugins:        extra plugins to load on plugin builds (e.g. [python3])
    master:         run the master process (default true; subscriptions need it)

and returns ``[[name, value], ...]`` in this order: ``plugin`` lines (plugin builds),
``strict``, ``master``, ``options``, routers (each: constructor, forwarders, its
groups, tuntap lists), subscription server options, verification options,
client options, ``subscribe2`` lines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.uwsgi.topology.plugins.module_utils.core import (
    DEFAULT_VERSION, VERSIONS, Target, TopologyError, check_bool, check_int, check_mapping, check_str, join, type_name,
)
from ansible_collections.uwsgi.topology.plugins.module_utils.routers import ROUTERS
from ansible_collections.uwsgi.topology.plugins.module_utils.subscriptions import Subscriptions

__all__ = ['compile_options', 'render_ini', 'DEFAULT_VERSION', 'VERSIONS', 'TopologyError', 'Target']

SPEC_KEYS = ('subscriptions', 'routers', 'options', 'plugins', 'master')
_OPTION_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_SNI_OPTIONS = ('sni', 'sni-dir', 'sni-regexp')


def compile_options(spec, version=None, build=None, strict=True):
    """Compile one instance's ``spec`` for the target uWSGI into ``[[name, value], ...]``."""
    target = Target(version, build)
    spec = check_mapping(spec, '', SPEC_KEYS)
    out = []
    tail = []

    routers = _routers(spec.get('routers'), target)
    extra = _raw_options(spec.get('options'))

    if target.plugin_build:
        seen = set()
        for router in routers:
            if router.plugin not in seen:
                seen.add(router.plugin)
                out.append(['plugin', router.plugin])
        plugins = spec.get('plugins')
        if plugins is not None:
            if not isinstance(plugins, list):
                plugins = [plugins]
            for i, name in enumerate(plugins):
                name = check_str(name, 'plugins[%d]' % i)
                if name not in seen:
                    seen.add(name)
                    out.append(['plugin', name])
    elif spec.get('plugins') is not None and not isinstance(spec['plugins'], (list, str)):
        raise TopologyError('plugins', 'must be a list of plugin names, got %s' % type_name(spec['plugins']))

    if check_bool(strict, 'strict'):
        out.append(['strict', 'true'])
    master = True if spec.get('master') is None else check_bool(spec['master'], 'master')
    if master:
        out.append(['master', 'true'])
    out.extend(extra)

    for router in routers:
        router.compile(out)

    subscriptions = Subscriptions(spec.get('subscriptions'), target)
    subscriptions.compile_server(out)
    subscriptions.compile_client(tail)
    if tail and not master:
        raise TopologyError('master', 'must be true for subscriptions: the master process sends the announces')
    out.extend(tail)

    _cross_checks(out, routers, subscriptions)
    return out


def _routers(value, target):
    if value is None:
        return []
    if not isinstance(value, list):
        raise TopologyError('routers', 'must be a list of routers, got %s' % type_name(value))
    routers = []
    owners = {}
    for i, item in enumerate(value):
        path = 'routers[%d]' % i
        if not isinstance(item, dict):
            raise TopologyError(path, 'must be a mapping with a type, got %s' % type_name(item))
        kind = item.get('type')
        if not isinstance(kind, str) or kind not in ROUTERS:
            raise TopologyError(join(path, 'type'), 'unknown router type %s; choose one of %s'
                                % (type_name(kind), ', '.join(ROUTERS)))
        if target.routers is not None and kind not in target.routers:
            raise TopologyError(join(path, 'type'), 'the target uWSGI build has no %s router (it has: %s); PyPI '
                                'builds lack forkpty and tuntap, Debian\'s uwsgi-core has every router'
                                % (kind, ', '.join(target.routers) or 'none'))
        router = ROUTERS[kind](item, path, target)
        # Routers of one prefix in one instance are one gateway: http and https share http-*.
        configured = [k for k in item if k in router.groups or k in ('forward_to',) or k in router.lists]
        if configured:
            if router.prefix in owners:
                raise TopologyError(join(path, configured[0]), 'routers[%d] already configures the %s-* options '
                                    'of this instance (%s routers of one instance are one gateway sharing them): '
                                    'set them there, or run this router in its own vassal'
                                    % (owners[router.prefix], router.prefix, router.prefix))
            owners[router.prefix] = i
        routers.append(router)
    return routers


def _raw_options(value):
    """``options``: extra raw uWSGI options, a mapping or a list of [name, value] pairs."""
    if value is None:
        return []
    if isinstance(value, dict):
        items = [(name, value[name], 'options.%s' % name) for name in value]
    elif isinstance(value, list):
        items = []
        for i, pair in enumerate(value):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise TopologyError('options[%d]' % i, 'must be a [name, value] pair, got %s' % type_name(pair))
            items.append((pair[0], pair[1], 'options[%d]' % i))
    else:
        raise TopologyError('options', 'must be a mapping or a list of [name, value] pairs, got %s'
                            % type_name(value))
    out = []
    for name, val, path in items:
        if not isinstance(name, str) or not _OPTION_NAME.match(name):
            raise TopologyError(path, 'option name %s is not a uWSGI option name' % type_name(name))
        if name in ('plugin', 'plugins', 'strict', 'master'):
            raise TopologyError(path, '%r is set by the compiler: use the spec\'s %s key' % (
                name, 'plugins' if name.startswith('plugin') else name))
        values = val if isinstance(val, list) else [val]
        for item in values:
            if isinstance(item, bool):
                if item:
                    out.append([name, 'true'])
                continue
            out.append([name, check_str(item, path)])
    return out


def _cross_checks(options, routers, subscriptions):
    names = set(name for name, _value in options)
    if 'subscription-dotsplit' in names and ('sni-dir' in names or 'sni-regexp' in names):
        raise TopologyError('subscriptions.server_params.key_dot_split', 'subscription-dotsplit disables '
                            'sni-dir (and sni-regexp) lookups in uWSGI: drop one of them')
    if 'ssl-sessions-use-cache' in names and names.intersection(_SNI_OPTIONS):
        raise TopologyError('options', 'ssl-sessions-use-cache breaks SNI in uWSGI (issue #580): drop it or '
                            'the SNI options')
    if subscriptions.signs_check:
        for router in routers:
            workers = check_int(router.workers, join(router.path, 'basic_params.workers'), 1)
            if router.has_subscription_server and workers > 1:
                raise TopologyError(join(router.path, 'basic_params.workers'), 'must be 1 when subscriptions are '
                                    'signed: a router process forwards a signed announce to its siblings without '
                                    'the data they need to verify it, so only one process registers each node; '
                                    'scale with more router instances instead')


def render_ini(options):
    """Render an option list as the text of a ``[uwsgi]`` INI section.

    ``%`` is doubled (uWSGI expands ``%X`` magic variables in config files, and an
    unknown one becomes empty: ``%s`` of a use-pattern would vanish); ``%(name)``
    placeholders are kept.
    """
    if not isinstance(options, (list, tuple)):
        raise TopologyError('options', 'must be a list of [name, value] pairs, got %s' % type_name(options))
    lines = ['[uwsgi]']
    for i, pair in enumerate(options):
        # What compile_options emits: a plain one-line value under a valid name.
        if pair.__class__ is list and len(pair) == 2:
            name, value = pair
            if name.__class__ is str and value.__class__ is str and value and '%' not in value \
                    and '\n' not in value and '\r' not in value and value == value.strip() \
                    and _OPTION_NAME.match(name):
                lines.append(name + ' = ' + value)
                continue
        path = 'options[%d]' % i
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TopologyError(path, 'must be a [name, value] pair, got %s' % type_name(pair))
        name, value = pair
        if not isinstance(name, str) or not _OPTION_NAME.match(name):
            raise TopologyError(path, 'option name %s is not a uWSGI option name' % type_name(name))
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        value = check_str(value, path)
        if value != value.strip():
            raise TopologyError(path, 'value %r has leading or trailing spaces, which the INI reader drops' % value)
        if '%' in value:
            value = _escape_percent(value)
        lines.append('%s = %s' % (name, value))
    return '\n'.join(lines) + '\n'


def _escape_percent(value):
    out = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == '%' and value.startswith('%(', i):
            out.append('%(')
            i += 2
            continue
        out.append('%%' if char == '%' else char)
        i += 1
    return ''.join(out)

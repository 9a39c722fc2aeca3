# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strict mode protects the operator, and the compiler's 2.0 gating matches reality.

For every master-only (2.1) parameter the compiler gates: compiled for version
"2.1", both real 2.0 binaries refuse the option under strict mode (exit 1,
``unknown config directive: <option>``), accept the very same file silently
without strict (the pitfall), and the compiler refuses the parameter for "2.0".
The compiler's default (``strict = true`` in the file) is enough on its own.

Master-only ``subscribe2`` keys are the blind spot of strict mode: uWSGI 2.0
ignores unknown keys inside the value, so only the compiler's refusal guards them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import realbin_support as support
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.core import TopologyError

FAST = {'type': 'fast', 'bind': '127.0.0.1:13017', 'forward_to': '127.0.0.1:13031'}


def fast(group, params):
    item = dict(FAST)
    item[group] = params
    return {'routers': [item]}


# name, spec, the path the compiler names for 2.0, the option 2.0 does not know.
MASTER_ONLY = [
    ('subscription-mountpoints', {'subscriptions': {'server_params': {'mountpoints_depth': 1}}},
     'subscriptions.server_params.mountpoints_depth', 'subscription-mountpoints'),
    ('subscription-vassal-required', {'subscriptions': {'server_params': {'require_vassal': True}}},
     'subscriptions.server_params.require_vassal', 'subscription-vassal-required'),
    ('subscription-tolerance-inactive', {'subscriptions': {'server_params': {'tolerance_inactive': 30}}},
     'subscriptions.server_params.tolerance_inactive', 'subscription-tolerance-inactive'),
    ('subscription-clear-on-shutdown', {'subscriptions': {'client_params': {'clear_on_exit': True}}},
     'subscriptions.client_params.clear_on_exit', 'subscription-clear-on-shutdown'),
    ('fastrouter-max-retries', fast('connections_params', {'retry_max': 3}),
     'routers[0].connections_params.retry_max', 'fastrouter-max-retries'),
    ('fastrouter-defer-connect-timeout', fast('connections_params', {'defer': 5}),
     'routers[0].connections_params.defer', 'fastrouter-defer-connect-timeout'),
    ('fastrouter-force-key', fast('basic_params', {'subscription_key': 'app.example.com'}),
     'routers[0].basic_params.subscription_key', 'fastrouter-force-key'),
    ('fastrouter-emperor-socket', fast('basic_params', {'emperor_command_socket': '/run/emperor.sock'}),
     'routers[0].basic_params.emperor_command_socket', 'fastrouter-emperor-socket'),
]


def _pairs():
    return [pytest.param(entry, binary, id='%s[%s]' % (entry[0], binary))
            for entry in MASTER_ONLY for binary in support.BINARY_NAMES]


def _show(ini, text, code, output):
    return '----- %s -----\n%s----- exit %d, uwsgi output -----\n%s' % (ini, text, code, output)


@pytest.mark.parametrize('entry,binary_name', _pairs())
def test_master_only_option_refused_by_strict_2_0(entry, binary_name, binaries, tmp_path):
    _name, spec, path, option = entry
    binary = binaries[binary_name]

    # The compiler refuses it for 2.0, naming the parameter.
    with pytest.raises(TopologyError) as refused:
        compile_options(spec, '2.0', binary.build)
    assert path in str(refused.value) and '2.1' in str(refused.value)

    # Compiled for 2.1 (without the compiler's own strict line), the option is there...
    options = compile_options(spec, '2.1', binary.build, strict=False)
    assert option in [name for name, _value in options]
    text = render_ini(options)
    ini = tmp_path / 'master-only.ini'
    ini.write_text(text)

    # ...and a real 2.0 refuses it under strict mode: the gating matches the binary.
    code, output = support.validate(binary.path, str(ini), strict=True)
    assert code == 1 and 'unknown config directive: %s' % option in output, _show(ini, text, code, output)

    # The pitfall: without strict, the same 2.0 accepts the file silently.
    code, output = support.validate(binary.path, str(ini), strict=False)
    assert code == 0, _show(ini, text, code, output)
    assert option not in output and 'unknown' not in output, _show(ini, text, code, output)
    assert binary.version in output

    # The compiler's default writes "strict = true": the file protects itself even
    # when the command line has no --strict.
    strict_text = render_ini(compile_options(spec, '2.1', binary.build))
    assert 'strict = true' in strict_text.splitlines()
    strict_ini = tmp_path / 'master-only-strict.ini'
    strict_ini.write_text(strict_text)
    code, output = support.validate(binary.path, str(strict_ini), strict=False)
    shown = _show(strict_ini, strict_text, code, output)
    assert code == 1 and 'unknown config directive: %s' % option in output, shown


# subscribe item key -> (value, the subscribe2 key 2.1 sends)
MASTER_ONLY_SUBSCRIBE_KEYS = {
    'protocol': ('http', 'proto=http'),
    'balancing_algo': ('least_reference_count', 'algo=lrc'),
    'address_vassal': ('app1', 'vassal=app1'),
}


@pytest.mark.parametrize('binary_name', support.BINARY_NAMES)
@pytest.mark.parametrize('key', sorted(MASTER_ONLY_SUBSCRIBE_KEYS))
def test_master_only_subscribe_key_is_strict_blind_spot(key, binary_name, binaries, tmp_path):
    """uWSGI 2.0 ignores unknown keys inside ``subscribe2``, even under strict: the
    compiler's refusal for 2.0 is the only guard."""
    binary = binaries[binary_name]
    value, sent = MASTER_ONLY_SUBSCRIBE_KEYS[key]
    subscription = {'server': '127.0.0.1:12626', 'key': 'app.example.com', 'address': '127.0.0.1:13031', key: value}
    spec = {'options': [['socket', '127.0.0.1:13031']], 'subscriptions': {'subscribe': [subscription]}}

    with pytest.raises(TopologyError) as refused:
        compile_options(spec, '2.0', binary.build)
    assert 'subscriptions.subscribe[0].%s' % key in str(refused.value)

    text = render_ini(compile_options(spec, '2.1', binary.build))
    assert sent in text
    ini = tmp_path / 'blind-spot.ini'
    ini.write_text(text)
    code, output = support.validate(binary.path, str(ini), strict=True)
    assert code == 0, 'strict 2.0 was expected to accept (and ignore) %s:\n%s' % (sent, _show(ini, text, code, output))

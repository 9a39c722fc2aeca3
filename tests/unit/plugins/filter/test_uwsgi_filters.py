# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi_options and uwsgi_ini filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.uwsgi.topology.plugins.filter import uwsgi_ini as ini_plugin
from ansible_collections.uwsgi.topology.plugins.filter import uwsgi_options as options_plugin
from ansible_collections.uwsgi.topology.plugins.filter.uwsgi_ini import uwsgi_ini
from ansible_collections.uwsgi.topology.plugins.filter.uwsgi_options import uwsgi_options
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

ROUTER = {
    'routers': [{
        'type': 'http',
        'bind': '127.0.0.1:8080',
        'forward_to': {'type': 'subscription_server', 'address': '127.0.0.1:2626'},
    }],
}


def test_filters_are_registered_under_their_names():
    assert options_plugin.FilterModule().filters() == {'uwsgi_options': uwsgi_options}
    assert ini_plugin.FilterModule().filters() == {'uwsgi_ini': uwsgi_ini}


# --- uwsgi_options ---------------------------------------------------------------------------

def test_uwsgi_options_compiles_the_router_example():
    options = uwsgi_options(ROUTER)

    assert sorted(options[:2]) == [['master', 'true'], ['strict', 'true']]
    assert options[2:] == [['http', '127.0.0.1:8080'], ['http-subscription-server', '127.0.0.1:2626']]


def test_uwsgi_options_passes_its_arguments_to_the_compiler():
    build = {'plugin_build': True}

    assert uwsgi_options(ROUTER, version='2.1', build=build, strict=False) == compile_options(
        ROUTER, version='2.1', build=build, strict=False)
    assert ['strict', 'true'] not in uwsgi_options(ROUTER, strict=False)
    assert uwsgi_options(ROUTER, build=build)[0] == ['plugin', 'http']


@pytest.mark.parametrize('spec', [[], 'routers', None, 3])
def test_uwsgi_options_needs_a_mapping(spec):
    with pytest.raises(AnsibleFilterError) as caught:
        uwsgi_options(spec)
    assert str(caught.value).startswith('uwsgi.topology.uwsgi_options: the input must be a dictionary')


def test_uwsgi_options_refuses_a_number_as_version():
    with pytest.raises(AnsibleFilterError) as caught:
        uwsgi_options(ROUTER, version=2.0)
    message = str(caught.value)
    assert message.startswith('uwsgi.topology.uwsgi_options: version must be a string')
    assert "version='2.0'" in message


def test_uwsgi_options_refuses_an_unknown_version():
    with pytest.raises(AnsibleFilterError) as caught:
        uwsgi_options(ROUTER, version='3.0')
    assert "'3.0'" in str(caught.value)
    assert '2.0, 2.1' in str(caught.value)


@pytest.mark.parametrize('build', [['ssl'], 'ssl', True])
def test_uwsgi_options_needs_build_as_a_mapping(build):
    with pytest.raises(AnsibleFilterError, match=r'^uwsgi.topology.uwsgi_options: build must be a dictionary'):
        uwsgi_options(ROUTER, build=build)


@pytest.mark.parametrize('strict', ['true', 1, None])
def test_uwsgi_options_needs_strict_as_a_boolean(strict):
    with pytest.raises(AnsibleFilterError, match=r'^uwsgi.topology.uwsgi_options: strict must be a boolean'):
        uwsgi_options(ROUTER, strict=strict)


@pytest.mark.parametrize('spec, build', [
    ({'bogus': 1}, None),
    ({'routers': [{'type': 'http', 'bind': '127.0.0.1:8080', 'bogus': 1}]}, None),
    ({'routers': [{'type': 'carrier-pigeon'}]}, None),
    (ROUTER, {'bogus': True}),
    (ROUTER, {'routers': ['fast']}),
])
def test_uwsgi_options_carries_the_compiler_message(spec, build):
    with pytest.raises(TopologyError) as expected:
        compile_options(spec, build=build)

    with pytest.raises(AnsibleFilterError) as caught:
        uwsgi_options(spec, build=build)

    assert str(caught.value) == 'uwsgi.topology.uwsgi_options: %s' % expected.value


# --- uwsgi_ini -------------------------------------------------------------------------------

def test_uwsgi_ini_renders_the_option_list():
    options = uwsgi_options(ROUTER)

    text = uwsgi_ini(options)

    assert text == render_ini(options)
    assert text.startswith('[uwsgi]\n')
    assert 'http-subscription-server = 127.0.0.1:2626\n' in text


def test_uwsgi_ini_accepts_tuples():
    assert uwsgi_ini((('master', 'true'),)) == '[uwsgi]\nmaster = true\n'


def test_uwsgi_ini_tells_to_compile_a_spec_first():
    with pytest.raises(AnsibleFilterError) as caught:
        uwsgi_ini(ROUTER)
    message = str(caught.value)
    assert message.startswith('uwsgi.topology.uwsgi_ini: got a dictionary')
    assert 'uwsgi.topology.uwsgi_options | uwsgi.topology.uwsgi_ini' in message


@pytest.mark.parametrize('options', ['master = true', b'master', None, 3])
def test_uwsgi_ini_needs_a_list(options):
    with pytest.raises(AnsibleFilterError, match=r'^uwsgi.topology.uwsgi_ini: the input must be a list'):
        uwsgi_ini(options)


@pytest.mark.parametrize('options', [
    [['master']],
    [['master', 'true', 'extra']],
    ['master'],
    [['master', 'true'], ['socket', '127.0.0.1:3031\nplugin = evil']],
    [['bad name', 'x']],
])
def test_uwsgi_ini_carries_the_renderer_message(options):
    with pytest.raises(TopologyError) as expected:
        render_ini(options)

    with pytest.raises(AnsibleFilterError) as caught:
        uwsgi_ini(options)

    assert str(caught.value) == 'uwsgi.topology.uwsgi_ini: %s' % expected.value
    assert 'options[' in str(caught.value)

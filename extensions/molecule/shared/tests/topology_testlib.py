# -*- coding: utf-8 -*-
"""What the scenarios' testinfra verifiers share.

extensions/molecule/config.yml puts this directory on the verifier's PYTHONPATH, so a scenario's tests do
``import topology_testlib as lib``. Everything here runs on the controller and reaches the
scenario's containers through Molecule's inventory (docker connection): the router's stats
server is read on the router's own host, requests are sent from a client container of the
scenario, so no traffic leaves the scenario's network and every load is bounded (a count of
sequential requests, each with a time limit).
"""

import json
import os
import re
import shlex
import subprocess
import time

import testinfra
import yaml


def inventory_dir():
    """Molecule's generated inventory (hosts, group_vars, host_vars) of the running scenario."""
    return os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE'])


def host(name):
    """A testinfra host for inventory host ``name`` (a container of the scenario)."""
    return testinfra.get_host('ansible://' + name, ansible_inventory=inventory_dir())


def host_vars(name):
    """The inventory variables of host ``name`` (group_vars and host_vars merged, untemplated)."""
    return host(name).ansible.get_variables()


def router_pools(router_host, stats, wait_for=None, wait_timeout=30, exact=True):
    """Read a router's stats server on the router's host with uwsgi.topology.router_info.

    ``wait_for`` maps keys to the node addresses expected live (``{'app.test': ['ip:port']}``);
    the module then waits until the pools hold them. Returns ``{key: pool}``, each pool with
    its ``nodes`` (name, weight, death_mark, requests, ...).
    """
    args = {'address': stats}
    if wait_for:
        args['wait_for'] = [{'key': key, 'nodes': list(nodes)} for key, nodes in sorted(wait_for.items())]
        args['wait_timeout'] = wait_timeout
        args['exact'] = exact
    result = router_host.ansible('uwsgi.topology.router_info', json.dumps(args), check=False)
    if result.get('failed'):
        raise AssertionError('router_info on %s (%s) failed: %s'
                             % (router_host.backend.get_hostname(), stats, result.get('msg', result)))
    return dict((pool['key'], pool) for pool in result['pools'])


def live_nodes(pool):
    """``{address: node}`` of the nodes of a pool without a death mark."""
    return dict((node['name'], node) for node in pool['nodes'] if not node['death_mark'])


_LINE = re.compile(r'^(?P<body>.*)\t(?P<code>\d{3})$')


def http_requests(client, address, port, host_header, count, timeout=5, path='/'):
    """Send ``count`` sequential HTTP/1.1 requests (one connection each, curl, at most
    ``timeout`` s each) from container ``client`` to ``address:port`` with ``Host:
    host_header``. Returns a list of ``(status, body)``; status 0 when curl got no answer."""
    if count < 1 or count > 1000:
        raise ValueError('count must be in 1..1000 (bounded load), got %r' % count)
    url = 'http://%s:%d%s' % (address, port, path)
    script = (
        'for i in $(seq %d); do '
        # -w prints the status line even when curl gets no answer (000); its exit status
        # then is not the test's business.
        'curl -s --max-time %d -o - -w "\\t%%{http_code}\\n" -H %s %s; '
        'done' % (count, timeout, shlex.quote('Host: ' + host_header), shlex.quote(url))
    )
    out = client.run(script)
    answers = []
    for line in out.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            answers.append((int(match.group('code')), match.group('body')))
    if len(answers) != count:
        raise AssertionError('expected %d answers from %s (Host: %s), parsed %d from %r (stderr %r)'
                             % (count, url, host_header, len(answers), out.stdout, out.stderr))
    return answers


def converge_playbook():
    """The scenario's converge playbook, as Molecule resolves it (ansible.playbooks.converge,
    relative to the scenario's directory, else <scenario>/converge.yml)."""
    with open(os.environ['MOLECULE_FILE']) as stream:
        config = yaml.safe_load(stream)
    scenario_dir = os.environ['MOLECULE_SCENARIO_DIRECTORY']
    playbook = ((config.get('ansible') or {}).get('playbooks') or {}).get('converge') or 'converge.yml'
    return os.path.normpath(os.path.join(scenario_dir, playbook))


_RECAP = re.compile(r'^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$')


def run_converge(*extra_args):
    """Run the scenario's converge with ansible-playbook and Molecule's inventory and
    configuration (ANSIBLE_CONFIG and the collection path come from the verifier's
    environment). Returns ``(returncode, output, recap)``; recap maps host -> counts."""
    return run_playbook(converge_playbook(), *extra_args)


def run_playbook(playbook, *extra_args):
    """Run ``playbook`` (a path, or a collection playbook's FQCN such as
    ``uwsgi.topology.rolling_restart``) as run_converge runs the converge. Returns
    ``(returncode, output, recap)``."""
    cmd = ['ansible-playbook', '--inventory', inventory_dir()] + list(extra_args) + [playbook]
    started = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=900, check=False)
    recap = {}
    for line in proc.stdout.splitlines():
        match = _RECAP.match(line.strip())
        if match:
            recap[match.group('host')] = dict(
                (k, int(v)) for k, v in (pair.split('=') for pair in match.group('counts').split()))
    print('%s: exit %d in %.1f s; recap %s' % (' '.join(cmd), proc.returncode, time.time() - started,
                                               json.dumps(recap, sort_keys=True)))
    return proc.returncode, proc.stdout, recap


EMPEROR_UNIT = 'uwsgi-topology-emperor'
TOPOLOGY_PATHS = ('/var/lib/uwsgi-topology', '/etc/systemd/system/%s.service' % EMPEROR_UNIT)
TOPOLOGY_UNITS = (EMPEROR_UNIT,)


def emperor_journal(target, since):
    """What the Emperor and its vassals logged on ``target`` (the unit's journal) since epoch ``since``."""
    result = target.run('journalctl -u %s --no-pager -o cat --since @%d' % (EMPEROR_UNIT, int(since)))
    assert result.rc == 0, result.stderr
    return result.stdout


def check_converge_changes_nothing(names, paths=TOPOLOGY_PATHS, units=TOPOLOGY_UNITS, converge_args=()):
    """Run the scenario's converge with --check --diff (and ``converge_args``, e.g. a second
    ``--inventory``) and assert that it reports no change on any of the hosts ``names`` and that
    none of their files (under ``paths``) or supervised processes (``units``) changed. Returns the
    converge's output."""
    hosts = dict((name, host(name)) for name in names)
    before = dict((name, snapshot(h, paths, units=units)) for name, h in hosts.items())
    rc, output, recap = run_converge('--check', '--diff', *converge_args)
    assert rc == 0, output[-4000:]
    for name in hosts:
        assert name in recap, (name, recap, output[-2000:])
        assert recap[name]['changed'] == 0, (name, recap[name], output[-6000:])
        assert recap[name]['failed'] == 0 and recap[name]['unreachable'] == 0, (name, recap[name])
    after = dict((name, snapshot(h, paths, units=units)) for name, h in hosts.items())
    for name in hosts:
        assert after[name] == before[name], name
    return output


def snapshot(target, paths, units=()):
    """What a converge could change on a host: every file under ``paths`` (path, mode, owner,
    size, modification time, sha256) and the main PID and start time of ``units``."""
    quoted = ' '.join(shlex.quote(p) for p in paths)
    files = target.run(
        'for p in %s; do [ -e "$p" ] || continue; '
        'find "$p" -printf "%%p %%y %%m %%u:%%g %%s %%T@\\n"; '
        'find "$p" -type f -exec sha256sum {} +; done | sort' % quoted)
    assert files.rc == 0, files.stderr
    state = {'files': files.stdout}
    for unit in units:
        show = target.run('systemctl show -p MainPID -p ExecMainStartTimestampMonotonic %s' % shlex.quote(unit))
        state[unit] = show.stdout
    return state

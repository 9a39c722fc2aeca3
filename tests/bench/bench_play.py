#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the site play's re-run (``changed=0``): this tree against issue 9's starting commit.

Run from the repository root (``make bench-play`` does)::

    .venv/bin/python tests/bench/bench_play.py [--rounds 3] [--hosts 1,5,20] [--skip-baseline] [--keep]

What it does, on this machine only (``ansible_connection: local``, every socket on 127.0.0.1):

* **Baseline**: the tree of commit ``a03b93d`` (issue 9's starting point), extracted once with
  ``git archive`` into ``.build/bench/baseline`` (no worktree, no change to git's state), and the
  link ``.build/bench/baseline-collections/ansible_collections/uwsgi/topology`` -> that tree.
  **Current**: this working tree through ``.build/collections`` (scripts/collection-link.sh).
  Each runs its own ``site.yml`` with its own ``ansible.cfg`` and ``ANSIBLE_COLLECTIONS_PATH``
  set to its own link directory only (the collections of the ``ansible`` package still resolve).
* For each of the two, one after the other (they use the same ports): the bundled default
  (that tree's ``inventory/local.yml``) is deployed into ``.build/bench/default-<tree>/prefix``,
  re-run ``--rounds`` times (each re-run timed and its PLAY RECAP read), then torn down
  (``teardown.yml``). A re-run that changes something is reported, never hidden.
* Scaling: inventories of ``--hosts`` local hosts (default 1, 5, 20), each host with its own
  prefix, one http router (signed subscriptions, a stats port) and one node subscribing to its
  own router with its own key, every host on distinct ports (20000-24999: below Linux's
  ephemeral range, away from the bundled default's 18xxx/12xxx/19xxx/13xxx and the e2e tests'
  offsets of +100..+300 from them). Deployed, re-run ``--rounds`` times, torn down.
* Every deployment of the benchmark shares one pip virtualenv, ``.build/bench/uwsgi-venv``
  (``emperor_pip_virtualenv``), so uWSGI is built from source at most once. The teardown keeps
  it: the emperor role removes a marked prefix only, and the virtualenv lies outside.

Definitions printed with the figures:

* tasks: the tasks executed on the topology's hosts, i.e. the sum of ok + failed + unreachable
  of the PLAY RECAP over every host except ``localhost`` (a changed task is counted in ok by
  Ansible; the issue's 119 of the starting commit is this figure). Printed beside it: the
  skipped tasks of those hosts, the tasks of the planning play on ``localhost``, and the number
  of ``TASK [...]`` headers of the output (tasks started, once per task whatever the hosts).
* wall s: the wall time of the whole ``ansible-playbook`` process of one re-run; the median of
  the rounds is compared.

It is a measurement, not a test: it exits 0 when every play ran, even when a target is missed
(the targets are printed: at most 50 tasks and at most 0.4x the baseline's time). It exits 1
when a play fails (deploy, re-run or teardown; its output's tail goes to stderr), 2 when it
cannot run (no virtualenv, a port taken). Every ``ansible-playbook`` has a timeout
(``--timeout``), and every deployment is torn down at the end, also on failure or Ctrl-C,
unless ``--keep`` (a later run tears down what an earlier one left). The output of every
``ansible-playbook`` run of the last benchmark is kept in ``.build/bench/logs``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, 'tests', 'e2e'))

import e2e_support as e2e  # noqa: E402  (tests/e2e, a sibling directory)
import yaml  # noqa: E402

BASELINE_COMMIT = 'a03b93d'
BENCH = os.path.join(REPO, '.build', 'bench')
SHARED_VENV = os.path.join(BENCH, 'uwsgi-venv')

TARGET_TASKS = 50
TARGET_RATIO = 0.4

# Scaling inventories: these ports plus 1, 2, ...: every host of every inventory of one run has
# its own (so that --keep can keep them all), at most SCALE_MAX_HOSTS in all.
SCALE_PORTS = {'router': 20000, 'subscription': 21000, 'stats': 22000, 'node': 23000, 'metrics': 24000}
SCALE_MAX_HOSTS = 999

_TASK_HEADER = re.compile(r'^TASK \[', re.M)


class PlayFailed(Exception):
    """An ansible-playbook run that failed or timed out."""

    def __init__(self, what, run=None, detail=None):
        self.what = what
        self.run = run
        self.detail = detail
        super(PlayFailed, self).__init__(what)


class CannotRun(Exception):
    """The benchmark cannot start (no virtualenv, ports taken, no baseline)."""


def log(message):
    print('bench-play: %s' % message, file=sys.stderr)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# The two trees.
# --------------------------------------------------------------------------

class Tree(object):
    """A tree of the collection: its root (site.yml, ansible.cfg, inventory/local.yml) and the
    directory holding ansible_collections/uwsgi/topology -> root."""

    def __init__(self, label, root, collections):
        self.label = label
        self.root = root
        self.collections = collections

    def env(self, prefix=None, forks=None):
        extra = {
            'ANSIBLE_CONFIG': os.path.join(self.root, 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': self.collections,
            'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.default',
        }
        if forks:
            extra['ANSIBLE_FORKS'] = str(forks)
        env = e2e.clean_env(prefix, **extra)
        # No extra callback of the caller's (profile_tasks and the like) in the timed runs.
        env.pop('ANSIBLE_CALLBACKS_ENABLED', None)
        env.pop('ANSIBLE_CALLBACK_WHITELIST', None)
        return env


def current_tree():
    base = subprocess.check_output([os.path.join(REPO, 'scripts', 'collection-link.sh')],
                                   universal_newlines=True).strip()
    return Tree('current', REPO, base)


def _link(target, collections):
    link = os.path.join(collections, 'ansible_collections', 'uwsgi', 'topology')
    if os.path.islink(link) and os.path.realpath(link) != os.path.realpath(target):
        os.unlink(link)
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
    return collections


def baseline_tree(commit):
    """The tree of ``commit`` under .build/bench/baseline (extracted once, reused after)."""
    root = os.path.join(BENCH, 'baseline')
    stamp = os.path.join(root, '.bench-commit')
    try:
        full = subprocess.check_output(['git', '-C', REPO, 'rev-parse', '--verify', commit + '^{commit}'],
                                       universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        raise CannotRun('commit %s is not in this repository' % commit)
    present = None
    if os.path.exists(stamp):
        with open(stamp) as handle:
            present = handle.read().strip()
    if present != full:
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(root)
        log('extracting %s into %s (git archive)' % (commit, os.path.relpath(root, REPO)))
        archive = subprocess.Popen(['git', '-C', REPO, 'archive', '--format=tar', full], stdout=subprocess.PIPE)
        subprocess.check_call(['tar', '-x', '-C', root], stdin=archive.stdout)
        archive.stdout.close()
        if archive.wait() != 0:
            raise CannotRun('git archive %s failed' % commit)
        with open(stamp, 'w') as handle:
            handle.write(full + '\n')
    return Tree('baseline %s' % commit, root, _link(root, os.path.join(BENCH, 'baseline-collections')))


# --------------------------------------------------------------------------
# Inventories.
# --------------------------------------------------------------------------

def default_inventory(tree, offset):
    """The tree's bundled default with the shared virtualenv and its ports moved by ``offset``."""
    with open(os.path.join(tree.root, 'inventory', 'local.yml')) as handle:
        inventory = yaml.safe_load(handle)
    inventory = e2e.shift_ports(inventory, offset)
    e2e.host_vars(inventory)['emperor_pip_virtualenv'] = SHARED_VENV
    return inventory


def scale_inventory(count, workdir, first_port=1):
    """``count`` local hosts; host i (1-based) uses the ports SCALE_PORTS + first_port + i - 1."""
    hosts = {}
    for i in range(1, count + 1):
        port = first_port + i - 1
        tag = '%02d' % i
        hosts['bench-%s' % tag] = {
            'ansible_connection': 'local',
            'ansible_host': '127.0.0.1',
            'ansible_python_interpreter': '{{ ansible_playbook_python }}',
            'uwsgi_topology_advertise_address': '127.0.0.1',
            'uwsgi_topology_prefix': os.path.join(workdir, 'h%s' % tag),
            'emperor_install_method': 'pip',
            'emperor_supervisor': 'standalone',
            'emperor_pip_virtualenv': SHARED_VENV,
            # The router metrics exporter's default (stats port + 1000) would be the node's port here.
            'uwsgi_topology_metrics_port': SCALE_PORTS['metrics'] + port,
            'uwsgi_router_instances': [{
                'name': 'r%s' % tag, 'type': 'http',
                'port': SCALE_PORTS['router'] + port,
                'subscription_port': SCALE_PORTS['subscription'] + port,
                'stats_port': SCALE_PORTS['stats'] + port,
                'tolerance': 10,
            }],
            'uwsgi_node_instances': [{
                'name': 'n%s' % tag,
                'port': SCALE_PORTS['node'] + port,
                'subscriptions': [{'router': 'r%s' % tag, 'key': 'h%s.test' % tag}],
            }],
        }
    names = dict((name, None) for name in sorted(hosts))
    return {'all': {
        'vars': {
            'uwsgi_topology_secured': True,
            'uwsgi_topology_announce_interval': 2,
            'keys_store_dir': os.path.join(workdir, 'keystore'),
        },
        'children': {
            'uwsgi_routers': {'hosts': dict(names)},
            'uwsgi_nodes': {'hosts': dict(names)},
        },
        'hosts': hosts,
    }}


def inventory_ports(inventory):
    ports = []
    for variables in inventory['all']['hosts'].values():
        for name in ('uwsgi_router_instances', 'uwsgi_node_instances'):
            for item in variables.get(name) or []:
                ports.extend(item[k] for k in e2e.PORT_KEYS if isinstance(item.get(k), int))
    return ports


def inventory_prefixes(inventory, default_prefix):
    return sorted(set(v.get('uwsgi_topology_prefix', default_prefix) for v in inventory['all']['hosts'].values()))


# --------------------------------------------------------------------------
# Runs.
# --------------------------------------------------------------------------

PLANNER = 'localhost'


def _topology_hosts(run):
    return [h for name, h in run.recap.items() if name != PLANNER]


def tasks_of(run):
    """The tasks executed on the topology's hosts (see the module's docstring)."""
    return sum(h['ok'] + h['failed'] + h['unreachable'] for h in _topology_hosts(run))


def skipped_of(run):
    return sum(h['skipped'] for h in _topology_hosts(run))


def planner_tasks_of(run):
    host = run.recap.get(PLANNER) or {}
    return host.get('ok', 0) + host.get('failed', 0)


def headers_of(run):
    return len(_TASK_HEADER.findall(run.output))


def changed_of(run):
    return sum(h['changed'] for h in run.recap.values())


def play(tree, playbook_name, inventory_path, env, what, timeout):
    """One ansible-playbook run; its output is kept in .build/bench/logs/<what>.log."""
    try:
        run = e2e.playbook(playbook_name, inventory_path, env, cwd=tree.root, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _save_log(what, _text(exc.output))
        raise PlayFailed(what, detail='timed out after %d s; output so far:\n%s'
                         % (timeout, _text(exc.output)[-6000:]))
    _save_log(what, '%r\n%s' % (run, run.output))
    failed = any(h['failed'] or h['unreachable'] for h in run.recap.values())
    if run.returncode != 0 or failed or not run.recap:
        raise PlayFailed(what, run=run)
    return run


def _save_log(what, text):
    logs = os.path.join(BENCH, 'logs')
    os.makedirs(logs, exist_ok=True)
    name = re.sub(r'[^A-Za-z0-9.]+', '-', what).strip('-')
    with open(os.path.join(logs, name + '.log'), 'w') as handle:
        handle.write(text)


def _text(data):
    if data is None:
        return ''
    if isinstance(data, bytes):
        return data.decode('utf-8', 'replace')
    return data


def leftovers(prefixes):
    """Pids of processes that mention one of ``prefixes`` or run inside one."""
    found = set()
    needles = [p.encode() for p in prefixes]
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                cmdline = handle.read()
            cwd = os.readlink('/proc/%s/cwd' % entry)
        except OSError:
            continue
        if any(n in cmdline for n in needles) or any(cwd == p or cwd.startswith(p + '/') for p in prefixes):
            found.add(int(entry))
    return sorted(found)


def kill_leftovers(prefixes):
    """After a failed teardown: SIGINT each Emperor (it stops its vassals), then SIGKILL the rest."""
    for prefix in prefixes:
        pid = e2e.emperor_pid(prefix)
        if pid:
            os.kill(pid, signal.SIGINT)
            e2e.wait_until(lambda: e2e.emperor_pid(prefix) is None, timeout=30)
    for pid in leftovers(prefixes):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Deployment(object):
    """One inventory of one tree under ``workdir``: deploy, re-run, tear down."""

    def __init__(self, tree, name, inventory, workdir, args):
        self.tree = tree
        self.name = name
        self.inventory = inventory
        self.workdir = workdir
        self.args = args
        self.prefix = os.path.join(workdir, 'prefix')
        self.prefixes = inventory_prefixes(inventory, self.prefix)
        self.inventory_path = os.path.join(workdir, 'inventory.yml')
        self.env = tree.env(self.prefix, args.forks)
        self.deployed = False

    def _play(self, playbook_name, what):
        return play(self.tree, playbook_name, self.inventory_path, self.env, '%s: %s' % (self.name, what),
                    self.args.timeout)

    def prepare(self):
        """Clear what an interrupted earlier run left, check the ports, write the inventory."""
        os.makedirs(self.workdir, exist_ok=True)
        e2e.write_inventory(self.inventory, self.inventory_path)
        if any(os.path.exists(p) for p in self.prefixes):
            log('%s: an earlier run left %s; tearing it down first' % (self.name, os.path.relpath(self.workdir, REPO)))
            self.deployed = True
            self.tear_down()
            os.makedirs(self.workdir, exist_ok=True)
            e2e.write_inventory(self.inventory, self.inventory_path)
        busy = e2e.busy_ports(inventory_ports(self.inventory))
        if busy:
            raise CannotRun('%s: ports %s on 127.0.0.1 are in use (a `make demo`?); the benchmark needs them '
                            'free (for the bundled default, --port-offset moves them)' % (self.name, busy))

    def deploy(self):
        log('%s: deploying (%s)' % (self.name, os.path.relpath(self.workdir, REPO)))
        self.deployed = True
        return self._play('site.yml', 'deploy')

    def rerun(self, index):
        run = self._play('site.yml', 're-run %d' % index)
        log('%s: re-run %d: %.1f s, %d tasks, changed=%d'
            % (self.name, index, run.seconds, tasks_of(run), changed_of(run)))
        return run

    def tear_down(self):
        """The teardown play, then whatever is left is killed and removed. Raises PlayFailed when
        the play failed (after the cleanup)."""
        if not self.deployed:
            return
        self.deployed = False
        failure = None
        log('%s: tearing down' % self.name)
        try:
            play(self.tree, 'teardown.yml', self.inventory_path, self.env, '%s: teardown' % self.name,
                 self.args.timeout)
        except PlayFailed as exc:
            failure = exc
        finally:
            kill_leftovers(self.prefixes)
            shutil.rmtree(self.workdir, ignore_errors=True)
        if failure:
            raise failure


def measure(tree, name, inventory, workdir, args, cleanup, keep=False):
    """Deploy, re-run ``args.rounds`` times, tear down (unless ``keep``). Returns the re-runs."""
    deployment = Deployment(tree, name, inventory, workdir, args)
    cleanup.append(deployment)
    deployment.prepare()
    deployment.deploy()
    runs = [deployment.rerun(i + 1) for i in range(args.rounds)]
    if not keep:
        cleanup.remove(deployment)
        deployment.tear_down()
    return runs


class Figures(object):
    def __init__(self, runs):
        self.runs = runs
        self.seconds = statistics.median(r.seconds for r in runs)
        self.all_seconds = [r.seconds for r in runs]
        self.tasks = tasks_of(runs[-1])
        self.skipped = skipped_of(runs[-1])
        self.planner = planner_tasks_of(runs[-1])
        self.headers = headers_of(runs[-1])
        self.changed = max(changed_of(r) for r in runs)
        self.task_counts = sorted(set(tasks_of(r) for r in runs))


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------

def _met(ok):
    return 'met' if ok else 'MISSED'


def report(default, scale, args, failures):
    rule = '-' * 96
    print()
    print('Re-run (changed=0 expected) of the bundled default, inventory/local.yml of each tree, after one deploy')
    print('  tasks    tasks executed on the topology\'s hosts: ok+failed+unreachable of the PLAY RECAP, localhost')
    print('           (the planning play) aside; skipped: skipped tasks of those hosts; plan: tasks on localhost;')
    print('           headers: TASK [..] lines of the output')
    print('  wall s   the whole ansible-playbook process; median of %d re-run(s), each listed under "rounds s"'
          % args.rounds)
    print(rule)
    print('%-28s %6s %8s %5s %8s %8s %8s   %s'
          % ('re-run of the bundled default', 'tasks', 'skipped', 'plan', 'headers', 'changed', 'wall s', 'rounds s'))
    for label, figures in default:
        if figures is None:
            print('%-28s %s' % (label, 'FAILED (its output is above, on stderr)'))
            continue
        print('%-28s %6d %8d %5d %8d %8d %8.1f   %s'
              % (label, figures.tasks, figures.skipped, figures.planner, figures.headers, figures.changed,
                 figures.seconds, ' '.join('%.1f' % x for x in figures.all_seconds)))
    measured = dict(default)
    current = measured.get('current')
    baseline = [f for label, f in default if label != 'current']
    baseline = baseline[0] if baseline else None
    if current is not None and baseline is not None:
        ratio = current.seconds / baseline.seconds
        print('%-28s %6.2f %8s %5s %8s %8s %8.2f'
              % ('ratio current/baseline', current.tasks / baseline.tasks, '', '', '', '', ratio))
        print('targets: at most %d tasks (%d: %s), at most %.1fx the baseline\'s wall time (%.2fx: %s)'
              % (TARGET_TASKS, current.tasks, _met(current.tasks <= TARGET_TASKS),
                 TARGET_RATIO, ratio, _met(ratio <= TARGET_RATIO)))
    elif current is not None:
        print('targets: at most %d tasks (%d: %s); no baseline measured, so no ratio'
              % (TARGET_TASKS, current.tasks, _met(current.tasks <= TARGET_TASKS)))
    for label, figures in default:
        if figures is not None and figures.changed:
            print('NOTE: a re-run of %s reported changed=%d (expected 0)' % (label, figures.changed))
        if figures is not None and len(figures.task_counts) > 1:
            print('NOTE: the task count of %s varied between rounds: %s' % (label, figures.task_counts))
    if scale:
        print()
        print('Re-run of N local hosts (%s tree), each host: its own prefix, one http router and one node'
              % args.scale_tree)
        print('subscribing to it (signed); forks: %s; wall s: median of %d re-run(s)'
              % (args.forks or 'Ansible\'s default (5)', args.rounds))
        print('  added s/host: (wall s - wall s of the smallest inventory) / (hosts - its hosts)')
        print(rule)
        print('%6s %6s %8s %8s %8s %12s %12s %14s' % ('hosts', 'tasks', 'skipped', 'changed', 'wall s',
                                                      'per host s', 'tasks/host', 'added s/host'))
        first = None
        for count, figures in scale:
            if figures is None:
                print('%6d %s' % (count, 'FAILED (its output is above, on stderr)'))
                continue
            growth = ''
            if first is not None and count != first[0]:
                growth = '%.2f' % ((figures.seconds - first[1].seconds) / (count - first[0]))
            print('%6d %6d %8d %8d %8.1f %12.2f %12.1f %14s'
                  % (count, figures.tasks, figures.skipped, figures.changed, figures.seconds,
                     figures.seconds / count, figures.tasks / count, growth))
            if first is None:
                first = (count, figures)
        for count, figures in scale:
            if figures is not None and figures.changed:
                print('NOTE: a re-run of %d host(s) reported changed=%d (expected 0)' % (count, figures.changed))
    print()
    print('logs of every ansible-playbook run: %s' % os.path.relpath(os.path.join(BENCH, 'logs'), os.getcwd()))
    if failures:
        print('FAILED: %s' % '; '.join(failures))


# --------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=3, help='timed re-runs after each deploy (default 3)')
    parser.add_argument('--hosts', default='1,5,20',
                        help='sizes of the scaling inventories, comma-separated; "" for none (default 1,5,20)')
    parser.add_argument('--skip-baseline', action='store_true', help='do not measure commit %s' % BASELINE_COMMIT)
    parser.add_argument('--skip-current', action='store_true',
                        help='do not measure this tree\'s bundled default (the scaling still runs on --scale-tree)')
    parser.add_argument('--skip-default', action='store_true', help='do not measure the bundled default')
    parser.add_argument('--baseline', default=BASELINE_COMMIT, help='the commit compared with (default %(default)s)')
    parser.add_argument('--scale-tree', choices=('current', 'baseline'), default='current',
                        help='the tree the scaling inventories run on (default current)')
    parser.add_argument('--keep', action='store_true',
                        help='do not tear down (the deployments keep running; of the bundled default only the '
                             'current tree\'s, the two share their ports)')
    parser.add_argument('--timeout', type=int, default=900, help='seconds allowed to each ansible-playbook')
    parser.add_argument('--forks', type=int, default=None, help='ANSIBLE_FORKS (default: Ansible\'s, 5)')
    parser.add_argument('--port-offset', type=int, default=0,
                        help='move the bundled default\'s ports (same for both trees; default 0)')
    args = parser.parse_args(argv)
    try:
        args.host_counts = [int(x) for x in args.hosts.split(',') if x.strip()]
    except ValueError:
        parser.error('--hosts: comma-separated numbers, not %r' % args.hosts)
    if any(n < 1 for n in args.host_counts) or sum(args.host_counts) > SCALE_MAX_HOSTS:
        parser.error('--hosts: positive numbers, at most %d in all' % SCALE_MAX_HOSTS)
    if args.rounds < 1:
        parser.error('--rounds: at least 1')
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.exists(e2e.tool('ansible-playbook')) or not os.path.isabs(e2e.tool('ansible-playbook')):
        log('%s/ansible-playbook not found: run `make venv` first' % e2e.VENV_BIN)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    os.makedirs(BENCH, exist_ok=True)
    shutil.rmtree(os.path.join(BENCH, 'logs'), ignore_errors=True)
    cleanup = []
    failures = []
    default = []
    scale = []
    try:
        current = current_tree()
        baseline = None
        if not args.skip_baseline or args.scale_tree == 'baseline':
            baseline = baseline_tree(args.baseline)
        trees = ([] if args.skip_baseline else [baseline]) + ([] if args.skip_current else [current])
        if args.skip_default:
            trees = []
        for tree in trees:
            label = 'current' if tree is current else tree.label
            workdir = os.path.join(BENCH, 'default-%s' % ('current' if tree is current else 'baseline'))
            # --keep keeps the last one only: both use the same ports.
            keep = args.keep and tree is trees[-1]
            try:
                runs = measure(tree, label, default_inventory(tree, args.port_offset), workdir, args, cleanup, keep)
                default.append((label, Figures(runs)))
            except PlayFailed as exc:
                failures.append(_show_failure(exc))
                default.append((label, None))
                _cleanup(cleanup, failures)
        scale_tree = baseline if args.scale_tree == 'baseline' else current
        first_port = 1
        for count in args.host_counts:
            workdir = os.path.join(BENCH, 'scale-%d' % count)
            inventory = scale_inventory(count, workdir, first_port)
            first_port += count
            try:
                runs = measure(scale_tree, '%d host(s)' % count, inventory, workdir, args, cleanup, args.keep)
                scale.append((count, Figures(runs)))
            except PlayFailed as exc:
                failures.append(_show_failure(exc))
                scale.append((count, None))
                _cleanup(cleanup, failures)
    except CannotRun as exc:
        log(str(exc))
        return 2
    finally:
        if args.keep:
            for deployment in cleanup:
                log('%s kept: %s (tear down: ansible-playbook teardown.yml -i %s with TOPOLOGY_PREFIX=%s)'
                    % (deployment.name, deployment.workdir, deployment.inventory_path, deployment.prefix))
        else:
            _cleanup(cleanup, failures)
    report(default, scale, args, failures)
    return 1 if failures else 0


def _cleanup(cleanup, failures):
    while cleanup:
        deployment = cleanup.pop()
        try:
            deployment.tear_down()
        except PlayFailed as exc:
            failures.append(_show_failure(exc))


def _show_failure(exc):
    log('FAILED: %s' % exc.what)
    if exc.run is not None:
        log('%s\n%s' % (exc.run, exc.run.tail(80)))
    if exc.detail:
        log(exc.detail)
    return exc.what


if __name__ == '__main__':
    sys.exit(main())

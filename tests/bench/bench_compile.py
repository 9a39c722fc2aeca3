#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the topology compiler against uwsgiconf.

Run from anywhere::

    python tests/bench/bench_compile.py [--sizes 100,1000,10000] [--repeat N]

What it does:

* Generates synthetic, deterministic topologies: N node instances (vassals)
  sharing 50 keys (virtual hosts), each node subscribing with a signed
  subscription to 2 of 20 HTTP routers, plus the 20 router instances
  (subscription servers with signature checking).
* Times ``compile_options`` + ``render_ini`` for every instance of each size
  (best of ``--repeat`` runs, ``time.perf_counter``) and prints instances,
  options emitted, seconds, microseconds per instance and the growth ratio
  between consecutive sizes (time ratio / instance-count ratio; 1.0 = linear).
* Compiles the same per-instance configurations with uwsgiconf (the PyPI
  package ``uwsgiconf``: one ``uwsgiconf.config.Section`` per instance,
  rendered with ``Configuration([section]).format()``), after checking on a
  sample node and a sample router that both produce the same subscription
  and router lines, and prints uwsgiconf_time / our_time per size.
* Prints whether the targets are met (never asserts): 10,000 instances well
  under one second, close-to-linear growth, >= 3x faster than uwsgiconf.

It is a measurement, not a test: it exits 0 whenever it ran, non-zero only
when it could not run (our compiler or uwsgiconf cannot be imported; pass
``--no-uwsgiconf`` to measure our compiler alone). No network is used. A
time budget (``--budget``, default 90 s) lowers the number of repeats of the
largest sizes so the whole run stays under ~2 minutes on 2 cores.
"""

from __future__ import absolute_import, division, print_function

import argparse
import copy
import gc
import io
import os
import random
import sys
import time
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

N_KEYS = 50
N_ROUTERS = 20
SUBS_PER_NODE = 2
SEED = 20240531
VERSION = '2.0'

# Targets (printed, never asserted).
TARGET_LARGEST_SECONDS = 0.5       # "10,000 instances well under one second"
TARGET_GROWTH_MAX = 1.3            # time ratio / size ratio between consecutive sizes
TARGET_SPEEDUP = 3.0               # uwsgiconf_time / our_time


# --------------------------------------------------------------------------
# Import of our compiler from a plain script.
# --------------------------------------------------------------------------

def import_compiler():
    """Make ``ansible_collections.uwsgi.topology`` importable and import the compiler.

    Creates ``<repo>/.build/collections/ansible_collections/uwsgi/topology``
    as a symlink to the repository root (the collection root) if missing,
    and puts ``<repo>/.build/collections`` first on ``sys.path``.
    """
    collections = os.path.join(REPO, '.build', 'collections')
    ns_dir = os.path.join(collections, 'ansible_collections', 'uwsgi')
    link = os.path.join(ns_dir, 'topology')
    if not os.path.exists(link):
        try:
            os.makedirs(ns_dir)
        except OSError:
            pass
        try:
            os.symlink(REPO, link)
        except OSError:
            if not os.path.exists(link):  # lost a race with another process is fine
                raise
    if os.path.realpath(link) != os.path.realpath(REPO):
        print('WARNING: %s points to %s, not to this checkout (%s): measuring that code'
              % (link, os.path.realpath(link), REPO), file=sys.stderr)
    if collections not in sys.path:
        sys.path.insert(0, collections)
    from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
    return compile_options, render_ini


# --------------------------------------------------------------------------
# Synthetic topology.
# --------------------------------------------------------------------------

def key_name(k):
    return 'site%d.example.com' % k


def router_host(r):
    return '10.0.0.%d' % (r + 5)


def node_address(i):
    # 10.3.0.1 .. : 250 nodes per /24, then the next /16 every 62,500 nodes.
    return '10.%d.%d.%d:3031' % (3 + i // 62500, (i // 250) % 250, i % 250 + 1)


def gen_router(r):
    host = router_host(r)
    return {
        'subscriptions': {
            'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/etc/uwsgi/pubkeys'},
            'server_params': {'tolerance': 30},
        },
        'routers': [{
            'type': 'http',
            'bind': '%s:80' % host,
            'forward_to': {'type': 'subscription_server', 'address': '%s:2626' % host},
            'basic_params': {'stats_server': '127.0.0.1:%d' % (9191 + r), 'workers': 1},
        }],
    }


def gen_node(i, rng):
    key = key_name(i % N_KEYS)
    addr = node_address(i)
    subscribe = []
    for r in sorted(rng.sample(range(N_ROUTERS), SUBS_PER_NODE)):
        subscribe.append({
            'server': '%s:2626' % router_host(r),
            'key': key,
            'address': addr,
            'balancing_weight': 1 + i % 3,
            'signing': ['SHA1', '/etc/uwsgi/keys/%s.pem' % key],
        })
    return {
        'options': [
            ['socket', addr],
            ['wsgi-file', '/srv/apps/site%d/app.py' % (i % N_KEYS)],
        ],
        'subscriptions': {
            'client_params': {'announce_interval': 10},
            'subscribe': subscribe,
        },
    }


def gen_topology(n_nodes):
    """Return the list of per-instance specs: the routers, then the nodes.

    Deterministic: the same seed for every size, so a smaller topology is a
    prefix of a larger one.
    """
    rng = random.Random(SEED)
    specs = [gen_router(r) for r in range(N_ROUTERS)]
    specs.extend(gen_node(i, rng) for i in range(n_nodes))
    return specs


# --------------------------------------------------------------------------
# Our compiler.
# --------------------------------------------------------------------------

def run_ours(specs, compile_options, render_ini):
    """Compile and render every instance; return the number of options emitted."""
    emitted = 0
    for spec in specs:
        options = compile_options(spec, version=VERSION)
        render_ini(options)
        emitted += len(options)
    return emitted


# --------------------------------------------------------------------------
# uwsgiconf baseline.
# --------------------------------------------------------------------------

# Plugins uwsgiconf would otherwise emit "plugin = http" / "plugin = python3"
# lines for (it activates the plugin of every option group it renders unless
# told the plugin is embedded). Our compiler targets a monolithic uWSGI build,
# so tell uwsgiconf the same.
UWSGICONF_EMBEDDED = ['http', 'corerouter', 'python', 'python%d' % sys.version_info[0]]


class Uwsgiconf(object):
    """Builds one uwsgiconf Section per instance spec and renders it to ini."""

    def __init__(self):
        import uwsgiconf
        from uwsgiconf.config import Configuration, Section
        self.version = getattr(uwsgiconf, 'VERSION', '?')
        self.Configuration = Configuration
        self.Section = Section

    def section(self, spec, subscribe_workaround=True):
        Section = self.Section
        section = Section(strict_config=True, embedded_plugins=list(UWSGICONF_EMBEDDED))
        section.master_process.set_basic_params(enable=True)

        for name, value in spec.get('options', ()):
            if name == 'socket':
                section.networking.register_socket(Section.networking.sockets.default(value))
            elif name == 'wsgi-file':
                section.python.set_wsgi_params(module=value)
            else:
                section._set(name, value, multi=True)

        subs = spec.get('subscriptions') or {}
        subscriptions = section.subscriptions
        if subs.get('client_params'):
            subscriptions.set_client_params(**subs['client_params'])
        if subs.get('server_params'):
            subscriptions.set_server_params(**subs['server_params'])
        if subs.get('server_verification_params'):
            subscriptions.set_server_verification_params(**subs['server_verification_params'])

        # WORKAROUND for a uwsgiconf bug: Subscriptions.subscribe() stores its
        # rule with ``self._set('subscribe2', rule)`` without ``multi=True``,
        # so every call OVERWRITES the previous subscribe2 and only the last
        # subscription survives. We still go through subscribe() (it builds
        # the rule, which is the work being measured), take the rule back out
        # of the section's option dict after each call, and finally set all
        # of them at once with ``multi=True``, which is what subscribe()
        # should have done.
        rules = []
        for sub in subs.get('subscribe', ()):
            subscriptions.subscribe(**sub)
            if subscribe_workaround:
                rules.append(section._opts.pop('subscribe2'))
        if rules:
            subscriptions._set('subscribe2', rules, multi=True)

        routers = section.routing.routers
        for router_spec in spec.get('routers', ()):
            cls = getattr(routers, router_spec['type'])
            forward_to = None
            fwd = router_spec.get('forward_to')
            if fwd:
                forward_to = getattr(cls.forwarders, fwd['type'])(fwd['address'])
            router = cls(router_spec['bind'], forward_to=forward_to)
            if router_spec.get('basic_params'):
                router.set_basic_params(**router_spec['basic_params'])
            section.routing.use_router(router)
        return section

    def render(self, spec, subscribe_workaround=True):
        section = self.section(spec, subscribe_workaround)
        return self.Configuration([section]).format(stamp=False)

    def run(self, specs):
        """Build and render every instance; return the number of options emitted."""
        emitted = 0
        Configuration = self.Configuration
        for spec in specs:
            section = self.section(spec)
            Configuration([section]).format(stamp=False)
            emitted += len(section._get_options())
        return emitted


# --------------------------------------------------------------------------
# Output comparison.
# --------------------------------------------------------------------------

def parse_ini(text):
    """Return [(name, value)] of an ini text (section headers, blanks, comments dropped)."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(('[', '#', ';')):
            continue
        name, sep, value = line.partition('=')
        if sep:
            pairs.append((name.strip(), value.strip()))
    return pairs


def normalise(name, value):
    value = '%s' % value
    if name.startswith('subscribe') and '=' in value:
        # key=value list: compare regardless of the order of its keys.
        value = ','.join(sorted(value.split(',')))
    elif value in ('True', 'true', '1') and name in ('master', 'strict'):
        value = 'true'
    return name, value


# Lines the comparison is about: subscriptions and routers.
def is_compared(name):
    return (name.startswith(('subscribe', 'subscription', 'http', 'https', 'fastrouter', 'rawrouter',
                             'sslrouter'))
            or name in ('master', 'strict', 'socket', 'wsgi-file'))


# Why a line can differ, by option name.
DIFF_REASONS = {
    'subscribe2': 'uwsgiconf bug: subscribe() overwrites the previous subscribe2 (no multi=True)',
    'plugin': 'uwsgiconf adds "plugin = <router>" unless told the plugin is embedded',
    'need-plugin': 'uwsgiconf adds plugin loads unless told the plugin is embedded',
    'workers': 'uwsgiconf quirk: touching section.python initialises the Workers group, whose '
               'defaults emit "workers = %k" (one per CPU core)',
}


def compare(label, ours_pairs, theirs_pairs):
    """Print whether the compared lines match; return True when they do."""
    ours = Counter(normalise(n, v) for n, v in ours_pairs if is_compared(n))
    theirs = Counter(normalise(n, v) for n, v in theirs_pairs if is_compared(n))
    only_ours = ours - theirs
    only_theirs = theirs - ours
    all_ours = Counter(normalise(n, v) for n, v in ours_pairs)
    all_theirs = Counter(normalise(n, v) for n, v in theirs_pairs)
    other_ours = (all_ours - all_theirs) - only_ours
    other_theirs = (all_theirs - all_ours) - only_theirs
    ok = not only_ours and not only_theirs
    print('  %-14s subscription/router lines: %s (%d compared lines)'
          % (label, 'MATCH' if ok else 'DIFFER', sum(ours.values())))
    for tag, diff in (('only ours     ', only_ours), ('only uwsgiconf', only_theirs)):
        for (name, value), count in sorted(diff.items()):
            reason = DIFF_REASONS.get(name, '')
            times = ' (x%d)' % count if count > 1 else ''
            why = ' -- ' + reason if reason else ''
            print('      %s: %s = %s%s%s' % (tag, name, value, times, why))
    for tag, diff in (('other, only ours     ', other_ours), ('other, only uwsgiconf', other_theirs)):
        for (name, value), count in sorted(diff.items()):
            reason = DIFF_REASONS.get(name, 'not part of the comparison')
            print('      %s: %s = %s -- %s' % (tag, name, value, reason))
    return ok


# --------------------------------------------------------------------------
# Timing.
# --------------------------------------------------------------------------

def best_of(func, repeat, deadline):
    """Run func() up to repeat times (at least once, fewer past deadline); return (best seconds, result, runs)."""
    best = None
    result = None
    runs = 0
    while runs < repeat:
        gc.collect()
        start = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - start
        runs += 1
        if best is None or elapsed < best:
            best = elapsed
        if time.perf_counter() + elapsed > deadline:
            break
    return best, result, runs


def fmt_ratio(value):
    return '-' if value is None else '%.2f' % value


def profile_ours(specs, compile_options, render_ini, top):
    import cProfile
    import pstats
    profiler = cProfile.Profile()
    profiler.enable()
    run_ours(specs, compile_options, render_ini)
    profiler.disable()
    print()
    print('cProfile of our compiler, %d instances (top %d by own time, then by cumulative time):'
          % (len(specs), top))
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf)
    stats.sort_stats('tottime').print_stats(top)
    stats.sort_stats('cumulative').print_stats(top)
    # Show file:line relative to the collection root, not through the symlink.
    text = buf.getvalue()
    for prefix in (os.path.join(REPO, '.build', 'collections', 'ansible_collections', 'uwsgi', 'topology', ''),
                   os.path.join(REPO, '')):
        text = text.replace(prefix, '')
    print(text)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--sizes', default='100,1000,10000',
                        help='comma-separated node counts (default: 100,1000,10000)')
    parser.add_argument('--repeat', type=int, default=5, help='best of N runs per size (default: 5)')
    parser.add_argument('--budget', type=float, default=90.0,
                        help='seconds after which remaining sizes run once (default: 90)')
    parser.add_argument('--no-uwsgiconf', action='store_true', help='measure our compiler alone')
    parser.add_argument('--profile', action='store_true',
                        help='also cProfile our compiler on the largest size')
    parser.add_argument('--top', type=int, default=15, help='lines of profile to print (default: 15)')
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(',') if s.strip()]
    except ValueError:
        parser.error('--sizes must be comma-separated integers')
    if not args.sizes or min(args.sizes) < 1:
        parser.error('--sizes must be positive integers')
    if args.repeat < 1:
        parser.error('--repeat must be >= 1')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    deadline = started + args.budget

    try:
        compile_options, render_ini = import_compiler()
    except Exception as exc:  # noqa: BLE001 - report any import failure and stop
        print('ERROR: cannot import our compiler: %s: %s' % (type(exc).__name__, exc), file=sys.stderr)
        return 2

    baseline = None
    if not args.no_uwsgiconf:
        try:
            baseline = Uwsgiconf()
        except ImportError as exc:
            print('ERROR: cannot import uwsgiconf (pip install uwsgiconf, or pass --no-uwsgiconf): %s' % exc,
                  file=sys.stderr)
            return 3

    print('uwsgi.topology compile benchmark: python %s, %d keys, %d routers, %d signed subscriptions per node, '
          'best of %d' % (sys.version.split()[0], N_KEYS, N_ROUTERS, SUBS_PER_NODE, args.repeat))
    if baseline:
        print('baseline: uwsgiconf %s' % baseline.version)

    # ---- sanity: the spec is not modified by compiling it, and outputs agree.
    sample = gen_topology(2)
    sample_router, sample_node = sample[0], sample[N_ROUTERS]
    for spec in (sample_router, sample_node):
        before = copy.deepcopy(spec)
        compile_options(spec, version=VERSION)
        if spec != before:
            print('WARNING: compile_options modified its input spec; timings may be off')

    if baseline:
        print()
        print('Output check on a sample (subscribe2 keys compared regardless of order):')
        all_ok = True
        for label, spec in (('node', sample_node), ('router', sample_router)):
            ours_pairs = [tuple(pair) for pair in compile_options(spec, version=VERSION)]
            ours_text = render_ini(compile_options(spec, version=VERSION))
            text_pairs = parse_ini(ours_text)
            if Counter(normalise(n, v) for n, v in text_pairs) != Counter(normalise(n, v) for n, v in ours_pairs):
                print('  WARNING: render_ini output does not parse back to compile_options output for the %s'
                      % label)
            all_ok &= compare(label, ours_pairs, parse_ini(baseline.render(spec)))
        n_plain = sum(1 for n, _value in parse_ini(baseline.render(sample_node, subscribe_workaround=False))
                      if n == 'subscribe2')
        n_subs = len(sample_node['subscriptions']['subscribe'])
        if n_plain < n_subs:
            print('  uwsgiconf bug reproduced: %d subscribe() calls without the workaround give %d subscribe2 '
                  'line(s); the benchmark uses the workaround (see Uwsgiconf.section)' % (n_subs, n_plain))
        else:
            print('  note: uwsgiconf no longer drops subscribe2 lines; the workaround may be removed')
        print('  => outputs %s' % ('match' if all_ok else 'DIFFER (see above)'))

    # ---- timing
    rows = []
    for n_nodes in args.sizes:
        specs = gen_topology(n_nodes)
        repeat = args.repeat if time.perf_counter() < deadline else 1
        ours_s, ours_opts, ours_runs = best_of(lambda: run_ours(specs, compile_options, render_ini),
                                               repeat, deadline)
        uc_s = uc_opts = uc_runs = None
        if baseline:
            repeat = args.repeat if time.perf_counter() < deadline else 1
            uc_s, uc_opts, uc_runs = best_of(lambda: baseline.run(specs), repeat, deadline)
        rows.append({'nodes': n_nodes, 'instances': len(specs), 'ours_s': ours_s, 'ours_opts': ours_opts,
                     'ours_runs': ours_runs, 'uc_s': uc_s, 'uc_opts': uc_opts, 'uc_runs': uc_runs})

    for i, row in enumerate(rows):
        row['ours_us'] = row['ours_s'] / row['instances'] * 1e6
        row['growth'] = row['uc_growth'] = None
        if i:
            prev = rows[i - 1]
            size_ratio = row['instances'] / prev['instances']
            row['growth'] = (row['ours_s'] / prev['ours_s']) / size_ratio
            if baseline:
                row['uc_growth'] = (row['uc_s'] / prev['uc_s']) / size_ratio
        if baseline:
            row['uc_us'] = row['uc_s'] / row['instances'] * 1e6
            row['speedup'] = row['uc_s'] / row['ours_s']

    print()
    print('Our compiler (compile_options + render_ini); growth = time ratio / size ratio vs previous size:')
    print('  %8s %9s %9s %10s %9s %7s %5s' % ('nodes', 'instances', 'options', 'seconds', 'us/inst',
                                              'growth', 'runs'))
    for row in rows:
        print('  %8d %9d %9d %10.4f %9.1f %7s %5d' % (row['nodes'], row['instances'], row['ours_opts'],
                                                      row['ours_s'], row['ours_us'], fmt_ratio(row['growth']),
                                                      row['ours_runs']))
    if baseline:
        print()
        print('uwsgiconf %s (Section + Configuration.format) on the same instances:' % baseline.version)
        print('  %8s %9s %9s %10s %9s %7s %5s %14s' % ('nodes', 'instances', 'options', 'seconds', 'us/inst',
                                                       'growth', 'runs', 'uwsgiconf/ours'))
        for row in rows:
            print('  %8d %9d %9d %10.4f %9.1f %7s %5d %13.1fx' % (
                row['nodes'], row['instances'], row['uc_opts'], row['uc_s'], row['uc_us'],
                fmt_ratio(row['uc_growth']), row['uc_runs'], row['speedup']))

    # ---- targets (reported, never asserted)
    print()
    print('Targets:')
    largest = max(rows, key=lambda r: r['nodes'])
    met = largest['ours_s'] < TARGET_LARGEST_SECONDS
    print('  [%s] %d node instances well under 1 s (< %.1f s): %.3f s'
          % ('met' if met else 'NOT MET', largest['nodes'], TARGET_LARGEST_SECONDS, largest['ours_s']))
    growths = [r['growth'] for r in rows if r['growth'] is not None]
    if growths:
        met = max(growths) <= TARGET_GROWTH_MAX
        print('  [%s] growth close to linear (<= %.2f): %s'
              % ('met' if met else 'NOT MET', TARGET_GROWTH_MAX, ', '.join('%.2f' % g for g in growths)))
    if baseline:
        speedups = [r['speedup'] for r in rows]
        met = min(speedups) >= TARGET_SPEEDUP
        print('  [%s] >= %.0fx faster than uwsgiconf: %s'
              % ('met' if met else 'NOT MET', TARGET_SPEEDUP, ', '.join('%.1fx' % s for s in speedups)))

    if args.profile:
        profile_ours(gen_topology(largest['nodes']), compile_options, render_ini, args.top)

    print()
    print('total benchmark time: %.1f s' % (time.perf_counter() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())

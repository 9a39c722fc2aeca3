# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the topology picture: the graph model, its DOT and Mermaid renderings, the live variant.

The renderings of the bundled default (inventory/local.yml, read from the file), a federation three
routers deep and a mixed inventory (both from test_topology) are compared with the golden files in
golden/; ``UPDATE_GOLDEN=1`` rewrites them instead. Graphviz's ``dot`` must accept every DOT text:
``make apt`` (scripts/apt-deps.sh) installs it, and a missing ``dot`` fails these tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import difflib
import html
import os
import re
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.uwsgi.topology.plugins.module_utils import graph as graph_utils
from ansible_collections.uwsgi.topology.plugins.module_utils.graph import (
    GraphError, build_graph, dot_escape, mermaid_escape, render, to_dot, to_mermaid)
from ansible_collections.uwsgi.topology.plugins.module_utils.manifest import add_manifests
from ansible_collections.uwsgi.topology.plugins.module_utils.topology import plan_topology
from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_manifest import (
    local_default, plan_of)
from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_topology import _chain, inventory

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, 'golden')
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
UPDATE = os.environ.get('UPDATE_GOLDEN') == '1'
HOSTILE = 'style:a#b;c"d<e>&f|g`h\\N#quot;x'


def bundled_default():
    """The plan of inventory/local.yml as the site play makes it (the prefix's template replaced)."""
    with open(os.path.join(ROOT, 'inventory', 'local.yml')) as handle:
        inventory_file = yaml.safe_load(handle)
    play = inventory_file['all']['vars']
    hosts = {}
    for host, variables in inventory_file['all']['hosts'].items():
        hosts[host] = dict(variables, uwsgi_topology_prefix='/srv/t')
    groups = dict((name, sorted(group['hosts'])) for name, group in inventory_file['all']['children'].items())
    plan = plan_topology(hosts, groups, secured=play['uwsgi_topology_secured'],
                         default_announce_interval=play['uwsgi_topology_announce_interval'])
    return add_manifests(plan, '/ctl/store')


def local():
    """The bundled default as test_manifest writes it (one replica per router): the live and behaviour tests'
    topology, which does not follow changes of inventory/local.yml."""
    return plan_of(local_default())


def federation():
    hosts, groups = _chain()
    return plan_topology(hosts, groups)


def mixed():
    return plan_topology(inventory(), {'uwsgi_routers': ['r1', 'core'], 'uwsgi_nodes': ['n1', 'n2'], 'edges': ['r1']})


# What the routers of the bundled default hold in the live golden: edge-http read by router_info (app2 dead,
# api1 missing, a stranger in app.test's pool), edge-https by verify_router (app1 and app2 live, api.test absent).
LIVE_POOLS = {
    'edge-http': {'router': 'http', 'pools': [
        {'key': 'app.test', 'hits': 3, 'nodes': [
            {'name': '127.0.0.1:13031', 'death_mark': 0}, {'name': '127.0.0.1:13032', 'death_mark': 1},
            {'name': '127.0.0.1:19999', 'death_mark': 0}]}]},
    'edge-https': {'router': 'edge-https', 'pools': [
        {'key': 'app.test', 'hits': 8, 'nodes': [
            {'address': '127.0.0.1:13031', 'name': 'app1', 'live': True},
            {'address': '127.0.0.1:13032', 'name': 'app2', 'live': True}]}]},
}

CASES = {
    'default': (bundled_default, None),
    'federation': (federation, None),
    'mixed': (mixed, None),
    'live': (local, LIVE_POOLS),
}
SUFFIX = {'dot': '.dot', 'mermaid': '.mmd'}


def golden_path(case, fmt):
    return os.path.join(GOLDEN, case + SUFFIX[fmt])


def require_dot():
    path = shutil.which('dot')
    if path is None:
        pytest.fail("Graphviz's dot is not installed: scripts/apt-deps.sh graphviz (make apt installs it)")
    return path


def dot_svg(text):
    result = subprocess.run([require_dot(), '-Tsvg'], input=text.encode('utf-8'), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, check=False)
    assert result.returncode == 0 and not result.stderr, result.stderr.decode('utf-8', 'replace')
    return result.stdout.decode('utf-8')


def svg_texts(svg):
    return [html.unescape(text) for text in re.findall(r'<text[^>]*>([^<]*)</text>', svg)]


# ---------------------------------------------------------------- golden files


@pytest.mark.parametrize('fmt', sorted(SUFFIX))
@pytest.mark.parametrize('case', sorted(CASES))
def test_golden(case, fmt):
    make_plan, pools = CASES[case]
    text = render(make_plan(), fmt, copy.deepcopy(pools))
    path = golden_path(case, fmt)
    if UPDATE:
        with open(path, 'w') as handle:
            handle.write(text)
        return
    with open(path) as handle:
        expected = handle.read()
    if text != expected:
        diff = ''.join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), path, 'rendered'))
        pytest.fail('%s differs from the rendering (UPDATE_GOLDEN=1 rewrites it):\n%s' % (path, diff))


@pytest.mark.parametrize('case', sorted(CASES))
def test_dot_accepts_every_golden_rendering(case):
    make_plan, pools = CASES[case]
    svg = dot_svg(render(make_plan(), 'dot', copy.deepcopy(pools)))
    assert svg.lstrip().startswith('<?xml') and '</svg>' in svg


def test_the_default_picture_shows_routers_ports_keys_and_subscriptions():
    texts = svg_texts(dot_svg(render(local(), 'dot')))
    for expected in ('edge-http: http router', 'clients 127.0.0.1:18443', 'subscriptions 127.0.0.1:12627 (signed, '
                     'SHA256)', 'stats 127.0.0.1:19191', 'app1', '127.0.0.1:13033', 'app.test', 'SNI certificate',
                     'weight 1, signed, SNI', 'weight 1, signed'):
        assert expected in texts, expected


def test_output_does_not_depend_on_the_order_of_the_plan():
    plan = mixed()
    shuffled = dict(reversed(list(plan['hosts'].items())))
    for host_plan in shuffled.values():
        host_plan['routers'] = list(reversed(host_plan['routers']))
        host_plan['nodes'] = list(reversed(host_plan['nodes']))
    shuffled = dict(plan, hosts=shuffled)
    for fmt in SUFFIX:
        assert render(shuffled, fmt) == render(mixed(), fmt)


def test_readme_embeds_the_default_mermaid_and_its_svg():
    with open(os.path.join(ROOT, 'README.md')) as handle:
        readme = handle.read()
    section = readme.split('## Picture of the topology', 1)
    assert len(section) == 2, 'README.md has no "Picture of the topology" section'
    block = re.search(r'```mermaid\n(.*?)```', section[1], re.S)
    assert block, 'the section has no ```mermaid block'
    with open(golden_path('default', 'mermaid')) as handle:
        assert block.group(1) == handle.read(), 'README.md\'s mermaid block is not golden/default.mmd'
    assert 'docs/topology-default.svg' in section[1]
    with open(os.path.join(ROOT, 'docs', 'topology-default.svg')) as handle:
        texts = svg_texts(handle.read())
    assert [t for t in svg_texts(dot_svg(render(bundled_default(), 'dot'))) if t] == [t for t in texts if t], \
        'docs/topology-default.svg is not the drawing of golden/default.dot: dot -Tsvg -o docs/topology-default.svg ' \
        'tests/unit/plugins/module_utils/golden/default.dot'


# ---------------------------------------------------------------- the model


def test_model_of_the_federation():
    graph = build_graph(federation())
    labels = dict((v['id'], v['label']) for v in graph['vertices'])
    federated = [(labels[e['source']][0], labels[e['target']][0], e['label']) for e in graph['edges']
                 if e['kind'] == 'resubscribe']
    assert federated == [('app.test', 'app.test', ['resubscribe as 10.0.0.1:3017']),
                         ('app.test', 'app.test', ['resubscribe as 10.0.0.2:3018'])]
    clusters = dict((c['id'], c) for c in graph['clusters'])
    by_vertex = dict((v['id'], clusters[v['cluster']]['label'][0]) for v in graph['vertices'])
    assert [(by_vertex[e['source']], by_vertex[e['target']]) for e in graph['edges'] if e['kind'] == 'resubscribe'] \
        == [('edge: fast router', 'mid: fast router'), ('mid: fast router', 'core: http router')]
    assert graph['title'] == ['uwsgi.topology: 3 routers, 2 nodes, 1 key']
    assert not graph['live'] and all(v['status'] is None for v in graph['vertices'])


def test_weights_sni_and_unsigned_subscriptions_are_labelled():
    graph = build_graph(mixed())
    labels = dict((v['id'], v['label']) for v in graph['vertices'])
    edges = sorted((labels[e['source']][0], labels[e['target']][0], e['label'][0]) for e in graph['edges'])
    assert ('a1', 'a.example.com', 'weight 2, signed') in edges
    assert ('a1', 'a.example.com', 'weight 2, signed, SNI') in edges
    assert ('b1', 'b.example.com', 'weight 1, signed, SNI') in edges
    core = [c for c in graph['clusters'] if c['label'][0] == 'core: http router'][0]
    assert core['label'][2] == 'subscriptions 10.0.0.9:2626 (unsigned)'
    assert [v['label'] for v in graph['vertices'] if v['cluster'] == core['id']] == [['no pools']]


def replicated():
    hosts = local_default()
    hosts['uwsgi-local']['uwsgi_router_instances'][1]['replicas'] = 2
    return plan_of(hosts)


def test_replicas_are_one_router_with_one_subscription_per_node_and_key():
    graph = build_graph(replicated())
    router = [c for c in graph['clusters'] if c['label'][0] == 'edge-https: https router'][0]
    assert '2 replicas: edge-https, edge-https.r1' in router['label']
    assert router['label'][2:4] == ['subscriptions 127.0.0.1:12627-12628 (signed, SHA256)', 'stats 127.0.0.1:19192-19193']
    pools = [v['id'] for v in graph['vertices'] if v['cluster'] == router['id']]
    assert sorted(e['source'] for e in graph['edges'] if e['target'] in pools) == ['n0', 'n1', 'n2']


def test_addresses_of_replicas():
    assert graph_utils._addresses(['10.0.0.1:2626', '10.0.0.1:2627', '10.0.0.1:2628']) == '10.0.0.1:2626-2628'
    assert graph_utils._addresses(['10.0.0.1:2626']) == '10.0.0.1:2626'
    assert graph_utils._addresses(['10.0.0.1:2626', '10.0.0.1:2628']) == '10.0.0.1:2626, 10.0.0.1:2628'
    assert graph_utils._addresses(['10.0.0.1:2626', '10.0.0.2:2627']) == '10.0.0.1:2626, 10.0.0.2:2627'
    assert graph_utils._addresses(['/run/a.sock', '/run/b.sock']) == '/run/a.sock, /run/b.sock'


def test_a_subscription_server_outside_the_plan_is_drawn_as_such():
    hosts = local_default()
    hosts['uwsgi-local']['uwsgi_router_instances'][0]['secured'] = False
    hosts['uwsgi-local']['uwsgi_node_instances'][2]['spec'] = {'subscriptions': {'subscribe': [
        {'server': '127.0.0.1:4040', 'key': 'other.test', 'address': '127.0.0.1:13033'}]}}
    graph = build_graph(plan_of(hosts))
    external = [v for v in graph['vertices'] if v['kind'] == 'external']
    assert [v['label'] for v in external] == [['subscription server 127.0.0.1:4040', 'not a router of the plan']]
    assert [e['label'] for e in graph['edges'] if e['target'] == external[0]['id']] == [
        ['weight 1, unsigned, key other.test']]


# ---------------------------------------------------------------- escaping


def test_dot_escape():
    assert dot_escape('a"b\\c\nd\te') == 'a\\"b\\\\c\\nd e'
    assert dot_escape('\\N \\l') == '\\\\N \\\\l'


def test_mermaid_escape():
    assert mermaid_escape('a"b<c>&d#e|f;g`h') == 'a#quot;b#lt;c#gt;#amp;d#35;e#124;f#59;g#96;h'
    assert mermaid_escape('127.0.0.1:80') == '127.0.0.1:80'
    assert mermaid_escape('x\ny') == 'x y'
    # Mermaid drops the last ";" of a line matching style...:...#...; (meant for style statements).
    assert mermaid_escape('style:a#b') == 'style#58;a#35;b'


def mermaid_decoded(label):
    """What Mermaid shows for a label written ``"label"``: mermaidAPI's encodeEntities (the style and classDef
    rules, then entities) and decodeEntities, applied as Mermaid applies them to a whole line."""
    line = 'p0[%s]' % label
    line = re.sub(r'style.*:\S*#.*;', lambda m: m.group(0)[:-1], line)
    line = re.sub(r'classDef.*:\S*#.*;', lambda m: m.group(0)[:-1], line)
    line = re.sub(r'#(\w+);', lambda m: '&#%s;' % m.group(1) if m.group(1).isdigit() else '&%s;' % m.group(1), line)
    return html.unescape(line[len('p0["'):-len('"]')])


def hostile():
    hosts = local_default()
    hosts['uwsgi-local']['uwsgi_router_instances'][0]['secured'] = False
    hosts['uwsgi-local']['uwsgi_node_instances'][0]['subscriptions'] = [{'router': 'edge-http', 'key': HOSTILE}]
    return plan_of(hosts)


def test_hostile_key_survives_both_formats():
    plan = hostile()
    mermaid = render(plan, 'mermaid')
    labels = re.findall(r'^\s+p\d+(\[".*"\])$', mermaid, re.M)
    assert [mermaid_decoded(label[1:-1]) for label in labels if 'style' in label] == [HOSTILE]
    assert HOSTILE not in mermaid and '"' not in labels[0][2:-2]
    assert HOSTILE in svg_texts(dot_svg(render(plan, 'dot')))


def test_the_mermaid_decoder_sees_a_label_without_the_style_guard_break():
    # The guard matters: written with a plain ":", the label loses its last ";" in Mermaid.
    escaped = mermaid_escape(HOSTILE).replace('#58;', ':')
    assert mermaid_decoded('"%s"' % escaped) != HOSTILE


def test_host_names_are_escaped_too():
    plan = local()
    plan['hosts'] = {'we"b\\1': plan['hosts']['uwsgi-local']}
    assert 'host we\\"b\\\\1' in render(plan, 'dot')
    assert 'host we#quot;b\\1' in render(plan, 'mermaid')
    assert 'host we"b\\1' in svg_texts(dot_svg(render(plan, 'dot')))


# ---------------------------------------------------------------- live


def statuses(graph):
    names = dict((v['id'], v['label'][0]) for v in graph['vertices'])
    routers = dict((c['id'], c['label'][0].split(':')[0]) for c in graph['clusters'] if c['kind'] == 'router')
    cluster = dict((v['id'], v['cluster']) for v in graph['vertices'])
    edges = sorted((names[e['source']], routers.get(cluster[e['target']]), names[e['target']], e['status'],
                    e['label'][-1]) for e in graph['edges'])
    vertices = dict((v['label'][0], v['status']) for v in graph['vertices'] if v['kind'] == 'node')
    return edges, vertices


def test_live_router_info_and_verify_router_results():
    graph = build_graph(local(), copy.deepcopy(LIVE_POOLS))
    edges, nodes = statuses(graph)
    assert edges == [
        ('127.0.0.1:19999', 'edge-http', 'app.test', 'unexpected', 'UNEXPECTED'),
        ('api1', 'edge-http', 'api.test', 'missing', 'MISSING'),
        ('api1', 'edge-https', 'api.test', 'missing', 'MISSING'),
        ('app1', 'edge-http', 'app.test', 'present', 'weight 1, signed'),
        ('app1', 'edge-https', 'app.test', 'present', 'weight 1, signed, SNI'),
        ('app2', 'edge-http', 'app.test', 'dead', 'DEAD'),
        ('app2', 'edge-https', 'app.test', 'present', 'weight 1, signed, SNI'),
    ]
    assert nodes == {'api1': 'missing', 'app1': 'present', 'app2': 'missing'}
    pools = dict(((v['cluster'], v['label'][0]), (v['status'], v['label'])) for v in graph['vertices']
                 if v['kind'] == 'pool')
    assert pools[('r0', 'api.test')] == ('missing', ['api.test', 'no such pool'])
    assert pools[('r1', 'app.test')] == ('present', ['app.test', 'SNI certificate'])
    assert graph['title'][1] == 'live: 3 missing, 1 unexpected, 0 routers not read'
    legend = [c for c in graph['clusters'] if c['kind'] == 'legend']
    assert legend and legend[0]['label'] == ['legend (live: 3 missing, 1 unexpected, 0 routers not read)']
    assert [v['status'] for v in graph['vertices'] if v['kind'] == 'legend'] == [
        'present', 'missing', 'unknown', 'unexpected']


def test_live_colours_and_dashes_in_both_formats():
    plan = local()
    dot = render(plan, 'dot', copy.deepcopy(LIVE_POOLS))
    assert re.search(r'"n0" -> "p0" \[label="weight 1, signed\\nMISSING", color="#c62828", fontcolor="#c62828", '
                     r'style="dashed", penwidth="2"\];', dot)
    assert '"n0" [label="api1\\n127.0.0.1:13033", fillcolor="#ffebee", color="#c62828", ' \
           'style="rounded,filled,dashed", penwidth="2"];' in dot
    mermaid = render(plan, 'mermaid', copy.deepcopy(LIVE_POOLS))
    assert '  n0 -.->|"weight 1, signed<br>MISSING"| p0\n' in mermaid
    assert re.search(r'^  classDef st_missing fill:#ffebee,stroke:#c62828,stroke-width:2px,stroke-dasharray:6 4$',
                     mermaid, re.M)
    missing_edges = re.search(r'^  linkStyle ([\d,]+) stroke:#c62828,stroke-width:2px$', mermaid, re.M).group(1)
    edge_lines = [line for line in mermaid.splitlines() if '-->' in line or '-.->' in line or '==>' in line]
    assert sorted(edge_lines[int(i)].split()[0] for i in missing_edges.split(',')) == ['n0', 'n0', 'n2']
    assert 'subgraph g0["legend (live#58; 3 missing' not in mermaid and 'subgraph g0["legend (live: 3 missing' \
        in mermaid


def test_static_pictures_have_no_legend_and_no_status_colours():
    for fmt in SUFFIX:
        text = render(local(), fmt)
        assert 'legend' not in text and '#c62828' not in text and '#2e7d32' not in text


def test_live_simple_mapping_with_names_and_addresses():
    pools = {'edge-http': {'app.test': ['app1', '127.0.0.1:13032'], 'api.test': ['api1']},
             'edge-https': {'app.test': ['app1', 'app2']}}
    edges, nodes = statuses(build_graph(local(), pools))
    assert [(e[0], e[1], e[3]) for e in edges] == [
        ('api1', 'edge-http', 'present'), ('api1', 'edge-https', 'missing'), ('app1', 'edge-http', 'present'),
        ('app1', 'edge-https', 'present'), ('app2', 'edge-http', 'present'), ('app2', 'edge-https', 'present')]
    assert nodes == {'api1': 'missing', 'app1': 'present', 'app2': 'present'}


def test_live_a_router_not_read_is_grey_and_its_members_unknown():
    # A registered loop over manifest.verify entries: edge-https' read failed, edge-http's was skipped.
    registered = {'changed': False, 'results': [
        {'item': {'router': 'edge-http'}, 'skipped': True},
        {'item': {'router': 'edge-https'}, 'failed': True, 'msg': 'connection refused'}]}
    graph = build_graph(local(), registered)
    edges, nodes = statuses(graph)
    assert set(e[3] for e in edges) == {'unknown'} and set(nodes.values()) == {'unknown'}
    routers = dict((c['label'][0], c) for c in graph['clusters'] if c['kind'] == 'router')
    assert routers['edge-https: https router']['label'][-1] == 'stats unreadable'
    assert routers['edge-http: http router']['label'][-1] == 'stats not read'
    assert all(c['status'] == 'unknown' for c in routers.values())
    assert graph['title'][1] == 'live: 0 missing, 0 unexpected, 2 routers not read'
    assert 'style="rounded,filled,dotted"' in render(local(), 'dot', registered)


def test_live_a_read_that_failed_without_failing_the_task_is_not_read():
    # router_info under failed_when: false, as playbooks/picture.yml registers it: no pools, a message.
    unread = {'item': {'router': 'edge-https', 'stats': '127.0.0.1:19192'}, 'changed': False, 'failed': False,
              'failed_when_result': False, 'waited': 0.0, 'msg': 'router stats server 127.0.0.1:19192: refused'}
    graph = build_graph(local(), {'edge-https': unread, 'edge-http': {'app.test': [], 'api.test': []}})
    edges, _nodes = statuses(graph)
    assert set((e[1], e[3]) for e in edges) == {('edge-https', 'unknown'), ('edge-http', 'missing')}
    assert [c['label'][-1] for c in graph['clusters'] if c['kind'] == 'router'] == [
        'stats 127.0.0.1:19191', 'stats unreadable']


def test_live_list_of_results_and_replicas():
    results = [
        {'item': {'router': 'edge-https'}, 'pools': [{'key': 'app.test', 'nodes': [
            {'name': '127.0.0.1:13031', 'death_mark': 0}, {'name': '127.0.0.1:13032', 'death_mark': 0}]},
            {'key': 'api.test', 'nodes': [{'name': '127.0.0.1:13033', 'death_mark': 0}]}]},
        {'item': {'router': 'edge-https.r1'}, 'pools': [{'key': 'app.test', 'nodes': [
            {'name': '127.0.0.1:13031', 'death_mark': 0}]}]},
    ]
    edges, _nodes = statuses(build_graph(replicated(), results))
    https = [(e[0], e[2], e[3], e[4]) for e in edges if e[1] == 'edge-https']
    assert https == [('api1', 'api.test', 'missing', 'MISSING (edge-https.r1)'),
                     ('app1', 'app.test', 'present', 'weight 1, signed, SNI'),
                     ('app2', 'app.test', 'missing', 'MISSING (edge-https.r1)')]
    assert set(e[3] for e in edges if e[1] == 'edge-http') == {'unknown'}
    # One replica unreadable: the members are judged by the other, and the router says so.
    results[1] = {'item': {'router': 'edge-https.r1'}, 'failed': True, 'msg': 'refused'}
    graph = build_graph(replicated(), results)
    edges, _nodes = statuses(graph)
    assert set(e[3] for e in edges if e[1] == 'edge-https') == {'present'}
    router = [c for c in graph['clusters'] if c['label'][0] == 'edge-https: https router'][0]
    assert router['label'][-1] == 'stats unreadable: edge-https.r1' and router['status'] is None


def test_live_federation_edge_missing_from_the_core():
    pools = {'core': {'app.test': ['10.0.0.2:3018']}, 'mid': {'app.test': ['10.0.1.1:3032']},
             'edge': {'app.test': ['a1']}}
    graph = build_graph(federation(), pools)
    federated = [(e['label'], e['status']) for e in graph['edges'] if e['kind'] == 'resubscribe']
    assert federated == [(['resubscribe as 10.0.0.1:3017', 'MISSING'], 'missing'),
                         (['resubscribe as 10.0.0.2:3018'], 'present')]
    # Hosts in order c, e, m: p0 is core's pool, p1 edge's, p2 mid's.
    assert '"p1" -> "p2" [label="resubscribe as 10.0.0.1:3017\\nMISSING", color="#c62828", fontcolor="#c62828", ' \
           'style="dashed,bold", penwidth="2"];' in to_dot(graph)
    assert '  p1 -.->|"resubscribe as 10.0.0.1:3017<br>MISSING"| p2\n' in to_mermaid(graph)
    assert '  p2 ==>|"resubscribe as 10.0.0.2:3018"| p0\n' in to_mermaid(graph)


def test_live_unplanned_pool_and_known_node_in_the_wrong_pool():
    pools = {'edge-http': {'app.test': ['app1', 'app2'], 'api.test': ['api1', 'app1'], 'rogue.test': ['app2']},
             'edge-https': {'app.test': ['app1', 'app2'], 'api.test': ['api1']}}
    graph = build_graph(local(), pools)
    edges, nodes = statuses(graph)
    assert [e for e in edges if e[3] == 'unexpected'] == [
        ('app1', 'edge-http', 'api.test', 'unexpected', 'UNEXPECTED'),
        ('app2', 'edge-http', 'rogue.test', 'unexpected', 'UNEXPECTED')]
    rogue = [v for v in graph['vertices'] if v['label'][0] == 'rogue.test'][0]
    assert rogue['label'] == ['rogue.test', 'not planned'] and rogue['status'] == 'unexpected'
    assert nodes == {'api1': 'present', 'app1': 'present', 'app2': 'present'}
    assert graph['title'][1] == 'live: 0 missing, 3 unexpected, 0 routers not read'
    dot_svg(to_dot(graph))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize('plan, pools, message', [
    ('not a plan', None, 'plan: must be the plan of the uwsgi.topology.topology_plan filter'),
    ({'hosts': {'h': 'x'}}, None, "plan.hosts['h']: must be a host plan"),
    ({'hosts': {'h': {'routers': [{'type': 'http'}], 'nodes': []}}}, None,
     "plan.hosts['h'].routers[0]: must be a router plan with a name"),
    ({'hosts': {'h': {'routers': [], 'nodes': [{}]}}}, None, "plan.hosts['h'].nodes[0]: must be a node plan"),
    (None, {'nowhere': {}}, "pools['nowhere']: router 'nowhere' is not in the plan; its routers: edge-http, "
                            "edge-https"),
    (None, 'text', 'pools: must be a mapping router -> pools, or a list'),
    (None, ['x'], 'pools[0]: must be a router_info or verify_router result, got str'),
    (None, [{'pools': []}], 'pools[0]: names no router'),
    (None, {'edge-http': {'app.test': 'app1'}}, "pools['edge-http']['app.test']: must be a list of the node"),
    (None, {'edge-http': [{'nodes': []}]}, "pools['edge-http'][0]: must be a pool as uwsgi.topology.router_info"),
    (None, {'edge-http': [{'key': 'a', 'nodes': ['x']}]}, "pools['edge-http'][0].nodes: must list mappings"),
    (None, {'edge-http': 3}, "pools['edge-http']: must be a router_info or verify_router result"),
])
def test_errors_name_the_value_at_fault(plan, pools, message):
    with pytest.raises(GraphError) as info:
        build_graph(local() if plan is None else plan, pools)
    assert str(info.value).startswith(message), str(info.value)


def test_unknown_format():
    with pytest.raises(GraphError, match=r"^format: must be one of dot, mermaid, got 'svg'$"):
        render(local(), 'svg')
    assert graph_utils.FORMATS == ('dot', 'mermaid')

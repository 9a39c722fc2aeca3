#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: http_probe
short_description: Send bounded HTTP(S) requests to a uWSGI router and report what answered
version_added: 0.1.0
description:
  - Sends O(count) C(GET) requests, one after the other, to a router at O(host) and O(port), with
    a subscription key as the C(Host) header, and tallies the answers. Response statuses and bodies are
    counted, so that requests spread over several nodes (round robin) show up as several bodies.
  - With O(tls=true) the request goes over TLS with O(server_name) as SNI name, and the certificate
    the router presented is reported. With O(ca_path) the chain and the name are verified;
    without it nothing is verified, but the certificate is still reported.
  - The task fails when a request fails (no connection, timeout, TLS error, no HTTP answer) or
    an answer has another status than O(expect_status), unless O(fail_on_error=false).
  - Only the Python standard library is used on the target.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - The requests are sent in check mode too. They are C(GET) requests, which read only, but the
        application behind the router decides what a request does.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - The module never reports a change. The answers can differ from run to run.
options:
  host:
    description:
      - Address of the router, as seen from the target. A name or an IP address.
    type: str
    default: 127.0.0.1
  port:
    description:
      - Port of the router's C(http) or C(https) socket.
    type: int
    required: true
  host_header:
    description:
      - The C(Host) header to send, which is the subscription key the router looks up, for example
        V(app.example.com) or V(app.example.com:8080) (the key must match what the nodes announce,
        port included).
      - Defaults to O(host) and O(port), as a browser would send.
    type: str
  path:
    description:
      - The request path, with its query string if any.
    type: str
    default: /
  tls:
    description:
      - Send the requests over TLS (to a router's C(https) socket).
    type: bool
    default: false
  server_name:
    description:
      - The TLS SNI name, which also selects the certificate a router with SNI contexts presents.
      - Defaults to O(host_header) without its port, else O(host). An IP address sends no SNI.
      - Only with O(tls=true).
    type: str
  ca_path:
    description:
      - A PEM file (or a C(c_rehash) directory) of CA certificates. When given, the router's
        certificate chain must verify against it and the certificate must match O(server_name);
        otherwise each request fails.
      - When omitted, nothing is verified.
      - Only with O(tls=true).
    type: path
  expect_certificate:
    description:
      - A PEM certificate file on the target. The certificate the router presented must be this
        one (same SHA-256 of the DER certificate), else the task fails (unless
        O(fail_on_error=false)); RV(certificate_matches) tells.
      - Proves that a router presents the current certificate after a rotation, which a name check
        cannot (a stale certificate carries the same name).
      - Only with O(tls=true).
    type: path
    version_added: 0.1.0
  count:
    description:
      - How many requests to send, from 1 to 10000. They are sent one after the other.
    type: int
    default: 1
  timeout:
    description:
      - Seconds allowed for each step of one request (connecting, the TLS handshake, each read).
    type: float
    default: 5
  expect_status:
    description:
      - The HTTP status every answer should have.
    type: int
    default: 200
  keepalive:
    description:
      - If V(false), every request uses a new connection and asks the router to close it.
      - If V(true), a connection is kept for the next request while the router keeps it open
        (the http router does so only with C(http-keepalive)); a connection the router closed is
        replaced by a new one.
    type: bool
    default: false
  fail_on_error:
    description:
      - If V(false), failed requests and unexpected statuses are only reported, and the task
        succeeds.
    type: bool
    default: true
notes:
  - Only the body's first 1 MiB is read; longer answers are cut there (and their connection is
    not kept).
  - The requests leave from the target host, so O(host) must be reachable from there.
seealso:
  - module: uwsgi.topology.router_info
'''

EXAMPLES = r'''
- name: Ask the router for app.example.com
  uwsgi.topology.http_probe:
    port: 8080
    host_header: app.example.com:8080

- name: Twenty requests over TLS, verified against the topology CA; both nodes must answer
  uwsgi.topology.http_probe:
    host: 10.0.0.10
    port: 443
    host_header: app.example.com
    tls: true
    ca_path: /etc/uwsgi/pki/ca.pem
    count: 20
  register: probe

- name: Check that the requests were spread over two nodes
  ansible.builtin.assert:
    that:
      - probe.bodies | length == 2
      - probe.peer_certificate.subject_cn == 'app.example.com'

- name: A key no node serves yet; report only
  uwsgi.topology.http_probe:
    port: 8080
    host_header: new.example.com
    expect_status: 200
    fail_on_error: false
  register: new_key
'''

RETURN = r'''
requests_total:
  description: The number of requests sent (O(count)).
  returned: when the requests were sent
  type: int
  sample: 20
responses_total:
  description: The number of requests that got an HTTP answer, whatever its status.
  returned: when the requests were sent
  type: int
  sample: 20
failures:
  description:
    - The requests that got no HTTP answer, in order. C(index) counts from 0, and C(error) says why,
      for example V(connection refused), V(timed out after 5.0 s) or a TLS verification failure.
  returned: when the requests were sent
  type: list
  elements: dict
  sample: [{"index": 3, "error": "timed out after 5.0 s"}]
statuses:
  description: How many answers had each HTTP status. The keys are strings.
  returned: when the requests were sent
  type: dict
  sample: {"200": 18, "502": 2}
bodies:
  description:
    - How many answers had each body, keyed by the body decoded as UTF-8, stripped of surrounding
      white space and cut to 200 characters.
  returned: when the requests were sent
  type: dict
  sample: {"hello from node1": 10, "hello from node2": 10}
server_name:
  description: The SNI name used (null for none).
  returned: when O(tls=true) and the requests were sent
  type: str
  sample: app.example.com
peer_certificate:
  description:
    - The certificate the router presented on the first TLS handshake, or null if no handshake
      got that far.
    - If every handshake failed the verification, it is read over one more, unverified handshake
      and C(verified) is V(false).
  returned: when O(tls=true) and the requests were sent
  type: dict
  contains:
    subject_cn:
      description: The subject's common name, or null.
      type: str
      sample: app.example.com
    issuer_cn:
      description: The issuer's common name, or null.
      type: str
      sample: Topology CA
    subject_alt_name:
      description: The subjectAltName entries, as C(DNS:name), C(IP:address), C(email:...) or C(URI:...).
      type: list
      elements: str
      sample: ["DNS:app.example.com", "IP:10.0.0.10"]
    not_after:
      description: The end of validity, as an ASN.1 time in UTC (C(YYYYMMDDHHMMSSZ)).
      type: str
      sample: "20271123110000Z"
    sha256_fingerprint:
      description: SHA-256 of the DER certificate, as colon-separated hex bytes.
      type: str
      sample: "0f:3c:...:9a"
    verified:
      description: Whether the certificate was verified against O(ca_path).
      type: bool
      sample: true
    error:
      description: Why the certificate could not be read (only the fingerprint is given then).
      type: str
      returned: when the certificate could not be read
      sample: "cannot read the certificate: truncated DER element"
certificate_matches:
  description: Whether the presented certificate is the one in O(expect_certificate).
  returned: when O(expect_certificate) is given and the requests were sent
  type: bool
  sample: true
elapsed:
  description: Seconds taken by all requests.
  returned: when the requests were sent
  type: float
  sample: 0.134
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils import probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', default='127.0.0.1'),
            port=dict(type='int', required=True),
            host_header=dict(type='str'),
            path=dict(type='str', default='/'),
            tls=dict(type='bool', default=False),
            server_name=dict(type='str'),
            ca_path=dict(type='path'),
            count=dict(type='int', default=1),
            timeout=dict(type='float', default=5),
            expect_status=dict(type='int', default=200),
            keepalive=dict(type='bool', default=False),
            fail_on_error=dict(type='bool', default=True),
            expect_certificate=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params['tls']:
        for name in ('server_name', 'ca_path', 'expect_certificate'):
            if params[name] is not None:
                module.warn('%s is ignored without tls=true' % name)
    target = '%s:%s' % (params['host'], params['port'])
    expected = None
    if params['tls'] and params['expect_certificate']:
        where = 'expect_certificate %s' % params['expect_certificate']
        try:
            with open(params['expect_certificate']) as stream:
                expected = probe.pem_fingerprint(stream.read(), where)
        except (IOError, OSError, UnicodeDecodeError) as exc:
            module.fail_json(msg='%s: %s' % (where, exc))
        except probe.ProbeError as exc:
            module.fail_json(msg=str(exc))
    try:
        result = probe.probe(
            params['host'], params['port'], host_header=params['host_header'], path=params['path'],
            tls=params['tls'], server_name=params['server_name'],
            ca_path=params['ca_path'] if params['tls'] else None, count=params['count'],
            timeout=params['timeout'], keepalive=params['keepalive'])
    except probe.ProbeError as exc:
        module.fail_json(msg=str(exc))
    result['changed'] = False
    problem = probe.problems(result, params['expect_status'])
    if expected is not None:
        presented = (result.get('peer_certificate') or {}).get('sha256_fingerprint')
        result['certificate_matches'] = presented == expected
        if not result['certificate_matches'] and not problem:
            problem = 'the router presented certificate %s, not the one in %s (%s)' % (
                presented, params['expect_certificate'], expected)
    if problem and params['fail_on_error']:
        scheme = 'https' if params['tls'] else 'http'
        module.fail_json(msg='%s://%s (Host: %s): %s' % (scheme, target, params['host_header'] or target, problem),
                         **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()

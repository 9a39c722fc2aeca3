#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keystore
short_description: Make the controller's key store hold what the topology plan says
version_added: 0.1.0
description:
  - Makes the key store on the controller hold exactly the planned keys and certificates, given the
    plan's C(keystore) part (the output of the P(uwsgi.topology.topology_plan#filter) filter, see the
    collection's C(docs/manifest.md)) - one RSA signing key pair per signed subscription key, a
    self-signed CA, and certificates signed by that CA (SNI keys, https and ssl routers' generated
    default certificates).
  - Decides first, then acts. A private key file that exists and parses is kept, never overwritten; one
    that exists and cannot be read (or is encrypted) fails the task, naming the file.
  - A public key is derived again when it is missing or does not match its private key.
  - A certificate is issued again when it is missing or unreadable, does not match its key, carries
    another CN or other SAN entries than planned, is not signed by the current CA key, or expires within
    O(renew_before_days). A new CA key therefore re-issues every certificate.
  - The CA certificate is self-signed, with C(basicConstraints CA:TRUE) and C(keyUsage keyCertSign, cRLSign),
    both critical. Other certificates carry the planned CN, the planned C(DNS) (and C(IP)) names as
    subjectAltName and C(extendedKeyUsage serverAuth). All are signed with SHA256.
  - Directories get mode C(0700), private keys C(0600), public keys and certificates C(0644); a wrong mode
    is corrected. Files are written to a temporary file in the same directory and renamed into place.
  - A re-run over a complete store only reads and parses the files; it generates nothing.
  - Files in the store that the plan does not name are left alone.
  - This module is implemented as an action plugin and always runs on the controller; nothing is
    transferred to the target, and private keys never leave the controller through it.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
  check_mode:
    support: full
    details:
      - In check mode nothing is written; RV(created) and RV(renewed) say what would be.
  diff_mode:
    support: full
    details:
      - The diff lists the planned directories and files, relative to the store's root, each with a
        short state (C(private key RSA 2048), C(certificate CN=app.test, expires 2028-01-01)); never key
        material.
  idempotent:
    support: full
requirements:
  - cryptography (on the controller; the library community.crypto uses)
options:
  keystore:
    description:
      - The plan's C(keystore) part, as the P(uwsgi.topology.topology_plan#filter) filter returns it.
      - Every path must be absolute, and no path may be planned twice.
    type: dict
    required: true
    suboptions:
      root:
        description: The key store's directory on the controller.
        type: path
        required: true
      dirs:
        description:
          - Directories to create, in this order, with mode C(0700). Missing parents of the first one
            are created too.
          - Every planned file must go into one of them or into a directory that exists.
        type: list
        elements: path
        default: []
      signing_keys:
        description: One RSA key pair per signed subscription key.
        type: list
        elements: dict
        default: []
        suboptions:
          key:
            description: The subscription key the pair signs for (for messages only).
            type: str
            required: true
          private:
            description: The private key file (PEM, PKCS#1 when generated).
            type: path
            required: true
          public:
            description: The public key file (PEM, SubjectPublicKeyInfo), derived from O(keystore.signing_keys[].private).
            type: path
            required: true
      ca:
        description:
          - The CA that signs O(keystore.certificates). Required when certificates are planned.
        type: dict
        suboptions:
          key:
            description: The CA's private key file.
            type: path
            required: true
          cert:
            description: The CA's self-signed certificate file.
            type: path
            required: true
          common_name:
            description: The CA's common name, unless O(ca_common_name) is set.
            type: str
      certificates:
        description: Certificates signed by the CA, each with its own private key.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The certificate's name in the plan (an SNI key or a router instance).
            type: str
            required: true
          key:
            description: The certificate's private key file.
            type: path
            required: true
          cert:
            description: The certificate file.
            type: path
            required: true
          common_name:
            description: The certificate's subject CN.
            type: str
            required: true
          dns:
            description: DNS names of its subjectAltName.
            type: list
            elements: str
            default: []
          ip:
            description: IP addresses of its subjectAltName.
            type: list
            elements: str
            default: []
  signing_key_size:
    description: Size in bits of the RSA signing keys generated. At least 1024.
    type: int
    default: 2048
  tls_key_size:
    description: Size in bits of the RSA keys generated for the CA and the certificates. At least 1024.
    type: int
    default: 2048
  ca_common_name:
    description:
      - The CA's common name. Defaults to O(keystore.ca.common_name).
      - Changing it re-issues the CA certificate and every certificate it signed.
    type: str
  ca_not_after_days:
    description:
      - Validity of a newly issued CA certificate, in days.
      - An integer, or a string in the keys role's form C(+3650d) (days only).
    type: raw
    default: 3650
  cert_not_after_days:
    description:
      - Validity of a newly issued certificate signed by the CA, in days.
      - An integer, or a string in the keys role's form C(+825d) (days only).
    type: raw
    default: 825
  renew_before_days:
    description:
      - A certificate (the CA's included) that expires within this many days is issued again.
      - Must be less than O(cert_not_after_days) and O(ca_not_after_days).
    type: int
    default: 30
notes:
  - Existing private keys are loaded without cryptography's RSA consistency check (it costs about 60 ms per
    key); a damaged key still fails to parse or no longer matches its certificate or public key.
  - A kept private key that is not RSA of the planned size gives a warning; remove the file to have a new one
    generated.
seealso:
  - plugin: uwsgi.topology.topology_plan
    plugin_type: filter
  - module: community.crypto.openssl_privatekey
  - module: community.crypto.x509_certificate
'''

EXAMPLES = r'''
- name: Make the controller's key store hold what the plan says
  uwsgi.topology.keystore:
    keystore: "{{ uwsgi_topology_plan.keystore }}"
  run_once: true

- name: Same, with the keys role's variables
  uwsgi.topology.keystore:
    keystore: "{{ keys_plan.keystore }}"
    signing_key_size: "{{ keys_signing_key_size }}"
    tls_key_size: "{{ keys_tls_key_size }}"
    ca_common_name: "{{ keys_ca_common_name }}"
    ca_not_after_days: "{{ keys_ca_not_after }}"
    cert_not_after_days: "{{ keys_cert_not_after }}"
    renew_before_days: 30
  run_once: true

- name: A store written by hand
  uwsgi.topology.keystore:
    keystore:
      root: /srv/keystore
      dirs: [/srv/keystore, /srv/keystore/signing, /srv/keystore/signing/public, /srv/keystore/ca, /srv/keystore/sni]
      signing_keys:
        - {key: app.test, private: /srv/keystore/signing/app.test.pem, public: /srv/keystore/signing/public/app.test.pem}
      ca: {key: /srv/keystore/ca/ca.key, cert: /srv/keystore/ca/ca.crt, common_name: Example CA}
      certificates:
        - {name: app.test, key: /srv/keystore/sni/app.test.key, cert: /srv/keystore/sni/app.test.crt,
           common_name: app.test, dns: [app.test]}
'''

RETURN = r'''
root:
  description: The key store's root directory.
  returned: success
  type: str
  sample: /home/me/.ansible/uwsgi-topology/keystore
created:
  description: Directories and files that were created (in check mode, that would be), in plan order.
  returned: success
  type: list
  elements: str
  sample: [/home/me/.ansible/uwsgi-topology/keystore/signing/app.test.pem]
renewed:
  description:
    - Files that existed and were replaced (in check mode, that would be) - public keys derived again,
      certificates issued again. Never a private key.
  returned: success
  type: list
  elements: str
  sample: [/home/me/.ansible/uwsgi-topology/keystore/sni/app.test.crt]
kept:
  description: Planned directories and files that were kept as they are (their mode may have been corrected).
  returned: success
  type: list
  elements: str
  sample: [/home/me/.ansible/uwsgi-topology/keystore/ca/ca.key]
modes:
  description: Kept directories and files whose mode was corrected (in check mode, would be).
  returned: success
  type: list
  elements: str
  sample: [/home/me/.ansible/uwsgi-topology/keystore/ca/ca.key]
reasons:
  description: Why each path in RV(created), RV(renewed) and RV(modes) changes.
  returned: success
  type: dict
  sample: {/home/me/.ansible/uwsgi-topology/keystore/sni/app.test.crt: "expires 2026-06-01, within renew_before_days"}
diff:
  description:
    - The planned directories and files before and after, one line each, C(<path relative to root>) then
      a colon and a short state.
  returned: in diff mode
  type: dict
  sample: {before_header: /srv/keystore, after_header: /srv/keystore, before: "",
           after: "signing/app.test.pem: private key RSA 2048\n"}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils.keystore import argument_spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg='uwsgi.topology.keystore runs as an action plugin on the controller; '
                         'this module file only documents it and cannot run on its own')


if __name__ == '__main__':
    main()

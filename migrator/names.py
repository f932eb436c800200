"""Kubernetes object names: checked before a name from a manifest is used in a file name or in YAML.

Why: a manifest in the scanned repository is untrusted input.  `metadata.name: ../../../ESCAPED`
is not a valid Kubernetes name, but nothing stops it from sitting in a file in git; if it reached a
generated file name (`<name>-ca-secret.yaml`) it would steer a write outside the repository, and
if it reached generated YAML it could inject keys.  Names follow the rules of
k8s.io/apimachinery/pkg/util/validation/validation.go (v0.30): IsDNS1123Subdomain (object names:
Secrets, ServiceAccounts, DestinationRules …) and IsDNS1123Label (namespaces).
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def subdomain_problem(value) -> str | None:
    """Why `value` is not a DNS-1123 subdomain (a valid object name), or None when it is one."""
    if not isinstance(value, str) or not value:
        return f"{_show(value)} is not a Kubernetes name (empty or not a string)"
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"{_show(value)} is longer than {DNS1123_SUBDOMAIN_MAX} characters, not a valid Kubernetes name"
    if not _SUBDOMAIN_RE.match(value):
        return (f"{_show(value)} is not a valid Kubernetes name (DNS-1123: lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit)")
    return None


def label_problem(value) -> str | None:
    """Why `value` is not a DNS-1123 label (a valid namespace name), or None when it is one."""
    if not isinstance(value, str) or not value:
        return f"{_show(value)} is not a Kubernetes namespace name (empty or not a string)"
    if len(value) > DNS1123_LABEL_MAX or not _LABEL_RE.match(value):
        return (f"{_show(value)} is not a valid Kubernetes namespace name (DNS-1123 label: at most 63 lowercase "
                "letters, digits and '-')")
    return None

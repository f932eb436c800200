"""Which CA bundle file belongs to which upstream host (credential-name strategy).

Upstreams have different CAs: one bundle for every DestinationRule would make each host trust the
others' CAs (or fail verification).  So bundles are given per host — `--ca-bundle HOST=FILE`
(repeatable) or, in the config file, `fix.ca_bundle: {HOST: FILE}` — and a DestinationRule whose
host has no bundle is refused.  A single plain `--ca-bundle FILE` is accepted only while every
DestinationRule that originates TLS in the view has the same host; with several hosts it is refused
with a message naming them.  This module only maps hosts to files; reading and checking the PEM
stays with the PEM code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrator.config import ConfigError
from migrator.remedies import Refused


class CaBundleError(ConfigError):
    """A --ca-bundle / fix.ca_bundle value that cannot be understood (a usage error)."""


@dataclass(frozen=True)
class CaBundles:
    by_host: dict = field(default_factory=dict)
    plain: str | None = None  # one FILE without HOST=

    def __bool__(self) -> bool:
        return bool(self.by_host or self.plain)


def parse(value) -> CaBundles:
    """`FILE`, `HOST=FILE`, a list of those (repeated flag) or a {HOST: FILE} mapping (config file)."""
    if not value:
        return CaBundles()
    if isinstance(value, CaBundles):
        return value
    if isinstance(value, dict):
        items = [(str(h).strip(), str(f).strip()) for h, f in value.items()]
        if any(not h or not f for h, f in items):
            raise CaBundleError("fix.ca_bundle: every entry must map an upstream host to a PEM file")
        return CaBundles(dict(items))
    values = [value] if isinstance(value, str) else list(value)
    by_host: dict[str, str] = {}
    plain: list[str] = []
    for v in values:
        host, sep, path = str(v).partition("=")
        if sep and host and "/" not in host and path:
            if host.strip() in by_host and by_host[host.strip()] != path.strip():
                raise CaBundleError(f"--ca-bundle: two bundles for host {host.strip()!r}")
            by_host[host.strip()] = path.strip()
        else:
            plain.append(str(v).strip())
    if len(plain) > 1 or (plain and by_host):
        raise CaBundleError("--ca-bundle: give one bundle per upstream host as HOST=FILE "
                            "(a single plain FILE only works when every DestinationRule has the same host)")
    return CaBundles(by_host, plain[0] if plain else None)


def tls_hosts(view) -> list[str]:
    """Hosts of the DestinationRules in the view that originate TLS (SIMPLE/MUTUAL) without a credentialName yet."""
    from migrator.sds import tls_blocks

    hosts = set()
    for dr in view.of_kind("DestinationRule"):
        if any(str(b.settings.get("mode", "")).upper() in ("SIMPLE", "MUTUAL") and not b.settings.get("credentialName")
               for b in tls_blocks(dr)):
            hosts.add(str((dr.data.get("spec") or {}).get("host") or ""))
    return sorted(hosts)


def bundle_for(value, host: str, view) -> str | None:
    """The PEM file for `host`, None when no bundle was given at all; Refused when bundles were given
    but none fits this host (or a plain bundle would be shared by several hosts)."""
    try:
        bundles = parse(value)
    except CaBundleError as exc:
        raise Refused(str(exc)) from exc
    if not bundles:
        return None
    if host in bundles.by_host:
        return bundles.by_host[host]
    if bundles.plain:
        hosts = tls_hosts(view) if view is not None else [host]
        others = [h for h in hosts if h != host]
        if others:
            raise Refused(f"--ca-bundle {bundles.plain} has no host, and DestinationRules for {', '.join([host] + others)} "
                          f"would all trust it; pass --ca-bundle {host}=FILE for each upstream host")
        return bundles.plain
    raise Refused(f"no CA bundle for host {host!r} (given for {', '.join(sorted(bundles.by_host))}); "
                  f"pass --ca-bundle {host}=FILE")

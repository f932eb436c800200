"""CA bundles that go into a generated Secret: X.509 certificates only, never key material.

Why so strict: the bundle is committed to git in a Secret manifest.  A private key there is a leak
that `git revert` does not undo, so relabelling a key `CERTIFICATE` must not get it in: every PEM
block (any label) is decoded and must be, structurally, an X.509 certificate.

The `cryptography` package is not a dependency of mesh-migrator, so the check is a strict DER
walk of RFC 5280 §4.1 written here:

    Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
    TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, signature AlgorithmIdentifier,
                                  issuer Name, validity SEQUENCE { Time, Time }, subject Name,
                                  subjectPublicKeyInfo SEQUENCE { AlgorithmIdentifier, BIT STRING },
                                  [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions (all OPTIONAL) }

with definite, minimal DER lengths and nothing after the outer SEQUENCE.  It proves the shape,
not the signature: that is what tells a certificate from a key (PKCS#1, SEC1, PKCS#8 and
encrypted PKCS#8 keys all fail it, and are named as keys in the error).

Kubernetes refuses Secrets over 1 MiB (MaxSecretSize = 1 * 1024 * 1024 in
kubernetes/pkg/apis/core/types.go, v1.30), so a bigger bundle is refused here rather than by the
API server at sync time.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

MAX_SECRET_BYTES = 1024 * 1024
_MAX_FILE_BYTES = 8 * MAX_SECRET_BYTES  # comments between blocks are allowed; an 8 MB file is not a CA bundle

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]*)-----(.*?)-----END ([A-Z0-9 ]*)-----", re.S)
_BEGIN = re.compile(r"-----BEGIN ([^-\n]*)-----")

# DER tags used below
SEQUENCE, INTEGER, BIT_STRING, OCTET_STRING, UTC_TIME, GENERALIZED_TIME = 0x30, 0x02, 0x03, 0x04, 0x17, 0x18


class PemError(ValueError):
    """A CA bundle that must not go into a Secret: one line naming the file and the block."""


def read_ca_bundle(path: str) -> list[str]:
    """The certificates of the PEM file at `path`, normalised; PemError for anything else in it."""
    try:
        size = os.stat(path).st_size
        if size > _MAX_FILE_BYTES:
            raise PemError(f"{path}: {size} bytes is not a CA bundle (over {_MAX_FILE_BYTES} bytes)")
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise PemError(f"{path}: is a directory, not a PEM file") from None
    except OSError as exc:
        raise PemError(f"{path}: cannot read a PEM file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise PemError(f"{path}: not a PEM file (non-ASCII byte at offset {exc.start})") from None
    return parse_bundle(text, path)


def parse_bundle(text: str, where: str = "CA bundle") -> list[str]:
    """Every PEM block must be a CERTIFICATE whose DER is an X.509 certificate; returns them normalised."""
    if "PRIVATE KEY" in text or "Proc-Type:" in text:
        raise PemError(f"{where}: contains a private key; refusing to put it in a manifest")
    blocks = list(_BLOCK.finditer(text))
    if len(_BEGIN.findall(text)) != len(blocks):
        raise PemError(f"{where}: a PEM block has no matching END line")
    if not blocks:
        raise PemError(f"{where}: no PEM certificate found")
    out = []
    for i, m in enumerate(blocks, 1):
        label, body, end = m.group(1), m.group(2), m.group(3)
        if "KEY" in label or "KEY" in end:
            raise PemError(f"{where}: block {i} is labelled {label!r}: key material; refusing to put it in a manifest")
        if label != "CERTIFICATE" or end != "CERTIFICATE":
            raise PemError(f"{where}: block {i} is {label!r}, not CERTIFICATE; only certificates go into the Secret")
        if ":" in body:
            raise PemError(f"{where}: block {i} has PEM headers (encrypted content?); not a plain certificate")
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PemError(f"{where}: block {i} is not valid base64") from None
        problem = certificate_problem(der)
        if problem:
            raise PemError(f"{where}: block {i} is not a DER X.509 certificate ({problem})")
        b64 = base64.b64encode(der).decode("ascii")
        out.append("-----BEGIN CERTIFICATE-----\n" + "\n".join(b64[j:j + 64] for j in range(0, len(b64), 64))
                   + "\n-----END CERTIFICATE-----")
    total = sum(len(p) + 1 for p in out)
    if total > MAX_SECRET_BYTES:
        raise PemError(f"{where}: {len(out)} certificates make {total} bytes, over the 1 MiB Kubernetes Secret limit")
    return out


# ----------------------------------------------------------------------------------------- DER walk


class _Bad(Exception):
    pass


def _tlv(buf: bytes, i: int, end: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at i; strict definite minimal lengths."""
    if i + 2 > end:
        raise _Bad("truncated")
    tag = buf[i]
    if tag & 0x1F == 0x1F:
        raise _Bad("multi-byte tag")
    first = buf[i + 1]
    j = i + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or j + n > end:
            raise _Bad("indefinite or oversized length")
        length = int.from_bytes(buf[j:j + n], "big")
        if length < 0x80 or buf[j] == 0:
            raise _Bad("non-minimal length (not DER)")
        j += n
    if j + length > end:
        raise _Bad("length runs past the end")
    return tag, j, j + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out, i = [], start
    while i < end:
        tag, s, e = _tlv(buf, i, end)
        out.append((tag, s, e))
        i = e
    return out


def _expect(child, tag: int, what: str) -> None:
    if child[0] != tag:
        raise _Bad(f"{what}: expected tag 0x{tag:02x}, found 0x{child[0]:02x}")


def _algorithm(buf: bytes, child, what: str) -> None:
    _expect(child, SEQUENCE, what)
    inner = _children(buf, child[1], child[2])
    if not inner or inner[0][0] != 0x06:  # OBJECT IDENTIFIER
        raise _Bad(f"{what}: no algorithm OID")


def _key_shape(buf: bytes, top: list) -> str | None:
    """Name the key format when the outer SEQUENCE has the shape of one."""
    tags = [c[0] for c in top]
    if tags[:2] == [SEQUENCE, OCTET_STRING] and len(tags) == 2:
        return "an encrypted PKCS#8 private key"
    if tags[:3] == [INTEGER, SEQUENCE, OCTET_STRING]:
        return "a PKCS#8 private key"
    if len(tags) >= 9 and all(t == INTEGER for t in tags[:9]):
        return "a PKCS#1 RSA private key"
    if tags[:2] == [INTEGER, OCTET_STRING]:
        return "an EC private key"
    return None


def certificate_problem(der: bytes) -> str | None:
    """None when `der` is structurally an X.509 certificate, else what it is or where it breaks."""
    try:
        tag, s, e = _tlv(der, 0, len(der))
        if tag != SEQUENCE:
            raise _Bad("not a SEQUENCE")
        if e != len(der):
            raise _Bad("bytes after the certificate")
        top = _children(der, s, e)
        key = _key_shape(der, top)
        if key:
            return f"it is {key}"
        if [c[0] for c in top] != [SEQUENCE, SEQUENCE, BIT_STRING]:
            raise _Bad("not SEQUENCE { tbsCertificate, signatureAlgorithm, signature BIT STRING }")
        _algorithm(der, top[1], "signatureAlgorithm")
        _tbs(der, top[0])
    except _Bad as exc:
        return str(exc)
    return None


def _tbs(der: bytes, tbs) -> None:
    fields = _children(der, tbs[1], tbs[2])
    if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
        fields = fields[1:]
    if len(fields) < 6:
        raise _Bad("tbsCertificate has too few fields")
    serial, sig, issuer, validity, subject, spki = fields[:6]
    _expect(serial, INTEGER, "serialNumber")
    _algorithm(der, sig, "signature")
    _expect(issuer, SEQUENCE, "issuer")
    _expect(validity, SEQUENCE, "validity")
    times = _children(der, validity[1], validity[2])
    if len(times) != 2 or any(t[0] not in (UTC_TIME, GENERALIZED_TIME) for t in times):
        raise _Bad("validity is not two times")
    _expect(subject, SEQUENCE, "subject")
    _expect(spki, SEQUENCE, "subjectPublicKeyInfo")
    parts = _children(der, spki[1], spki[2])
    if len(parts) != 2 or parts[1][0] != BIT_STRING:
        raise _Bad("subjectPublicKeyInfo is not { algorithm, BIT STRING }")
    _algorithm(der, parts[0], "subjectPublicKeyInfo.algorithm")
    for extra in fields[6:]:
        if extra[0] not in (0x81, 0xA1, 0x82, 0xA2, 0xA3):
            raise _Bad(f"unexpected field 0x{extra[0]:02x} in tbsCertificate")

"""How to spell a scalar so that every reader of the file gets the same value back.

Kubernetes (sigs.k8s.io/yaml → go-yaml v2) and PyYAML read YAML 1.1: `yes`, `on`, `N` are bools,
`0755` is octal, `12:30` is a base-60 int.  ruamel.yaml and most newer tools read YAML 1.2, where
those are strings or decimals.  A value we write must mean the same thing to both, so a plain
(unquoted) scalar is only used when both resolvers agree it is the intended type; anything else is
quoted.  yaml-editing.md §1 pitfalls 5–7 list the real-world breakages this prevents.

Nothing here parses a document: these helpers are pure functions over single scalars.
"""

from __future__ import annotations

import io
import math
import re

import yaml
from ruamel.yaml.nodes import ScalarNode as _RuamelScalarNode
from ruamel.yaml.resolver import VersionedResolver

STR_TAG = "tag:yaml.org,2002:str"
NULL_SPELLINGS = frozenset({"", "~", "null", "Null", "NULL"})
BOOL_SPELLINGS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}

# go-yaml v2 (what Kubernetes uses) also reads these one-letter words as bools; PyYAML does not,
# so the 1.1 resolver below would call them strings.  Quote them anyway.
_GO_YAML_V2_BOOLS = frozenset({"y", "Y", "n", "N"})

_R11 = yaml.resolver.Resolver()
_R12 = VersionedResolver(version=(1, 2))
_EMITTER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)

# Characters a double-quoted scalar must escape: C0/C1 controls, DEL, the Unicode line and
# paragraph separators, the BOM (a reader may strip it) and the non-characters YAML forbids.  Everything else, emoji included, is
# written literally so that no new `\u` escapes appear in a diff.
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff\"\\\\]")
_SHORT_ESCAPES = {"\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f",
                  "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
                  "\u2028": "L", "\u2029": "P"}
_NOT_SINGLE_QUOTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def resolve_11(text: str) -> str:
    """Tag a YAML 1.1 reader (PyYAML, go-yaml v2) gives the plain scalar `text`."""
    return _R11.resolve(yaml.ScalarNode, text, (True, False))


def resolve_12(text: str) -> str:
    """Tag a YAML 1.2 reader (ruamel.yaml) gives the plain scalar `text`."""
    return str(_R12.resolve(_RuamelScalarNode, text, (True, False)))


def plain_is_string(text: str, *, flow: bool = False) -> bool:
    """May `text` be written unquoted and still be read back as this exact string by 1.1 and 1.2?

    The emitter's analysis answers "is it syntactically a plain scalar" (no `: `, ` #`, leading
    indicators, edge spaces, line breaks); the two resolvers answer "is it still a string".
    """
    if not text or text in _GO_YAML_V2_BOOLS:
        return False
    analysis = _EMITTER.analyze_scalar(text)
    if analysis.multiline or not (analysis.allow_flow_plain if flow else analysis.allow_block_plain):
        return False
    return resolve_11(text) == STR_TAG and resolve_12(text) == STR_TAG


def single_quoted(text: str) -> str | None:
    """`'text'`, or None when single quotes cannot hold it on one line (they have no escapes)."""
    if _NOT_SINGLE_QUOTABLE.search(text):
        return None
    return "'" + text.replace("'", "''") + "'"


def double_quoted(text: str) -> str:
    """`"text"` with the minimum escaping; always possible and always one line."""
    def esc(m: re.Match) -> str:
        ch = m.group(0)
        if ch in _SHORT_ESCAPES:
            return "\\" + _SHORT_ESCAPES[ch]
        code = ord(ch)
        return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"

    return '"' + _NEEDS_ESCAPE.sub(esc, text) + '"'


def quote(text: str, preferred: str) -> str:
    """Quote with the preferred style (`'` or `"`), falling back to double quotes."""
    if preferred == "'":
        single = single_quoted(text)
        if single is not None:
            return single
    return double_quoted(text)


def render_str(text: str, *, style: str = "", flow: bool = False, preferred_quote: str = '"') -> str:
    """Spell a string, keeping `style` (the old scalar's: '', "'" or '"') unless it is too weak.

    Quoting only ever gets stronger: plain → quoted when plain would change the value, single →
    double when single quotes cannot hold the text.  A quoted value is never unquoted, because
    "keep the author's quote style" is what reviewers expect (yaml-editing.md §6 invariant 6).
    """
    if style == '"':
        return double_quoted(text)
    if style == "'":
        return single_quoted(text) or double_quoted(text)
    if plain_is_string(text, flow=flow):
        return text
    return quote(text, preferred_quote)


def render_bool(value: bool, like: str | None = None) -> str:
    """`true`/`false`, in the capitalisation of the bool it replaces (True/TRUE) when there was one.

    Only these six spellings are bools in both YAML 1.1 and 1.2; `yes`/`on` are never written.
    """
    word = "true" if value else "false"
    if like in BOOL_SPELLINGS:
        if like.isupper():
            return word.upper()
        if like[0].isupper():
            return word.capitalize()
    return word


def render_float(value: float) -> str:
    """A float spelling both resolvers read as float: PyYAML 1.1 needs a `.` before an exponent."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}.0e{exp}"
    if "e" in text and text.split("e")[1][0] not in "+-":
        mantissa, exp = text.split("e")
        text = f"{mantissa}e+{exp}"
    return text


def render_scalar(value, *, style: str = "", flow: bool = False, preferred_quote: str = '"',
                  like: str | None = None) -> str:
    """Spell any non-collection value; `like` is the plain text of the scalar being replaced.

    Raises TypeError for values YAML cannot express as a plain scalar here (dates, bytes, sets):
    the edit engine turns that into a refusal rather than guessing a representation.
    """
    if value is None:
        return like if like in NULL_SPELLINGS and like else "null"
    if isinstance(value, bool):
        return render_bool(value, like)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return render_float(value)
    if isinstance(value, str):
        return render_str(value, style=style, flow=flow, preferred_quote=preferred_quote)
    raise TypeError(f"cannot write a {type(value).__name__} value as a YAML scalar")


def render_key(key, *, flow: bool = False, preferred_quote: str = '"') -> str:
    """Spell a mapping key; `on:` or `yes:` keys are quoted for the same reason values are."""
    return render_scalar(key, flow=flow, preferred_quote=preferred_quote)

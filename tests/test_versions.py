"""Version pins as written in real repos: v prefixes, variant suffixes, revisions, pre-releases."""

import pytest
from packaging.version import Version

from migrator.versions import VersionError, in_range, parse_revision, parse_tag, replace_version_in_tag, require_version


@pytest.mark.parametrize("text,version,suffix", [
    ("1.22.3", "1.22.3", ""), ("v1.22.3", "1.22.3", ""), ("1.22.3-distroless", "1.22.3", "-distroless"),
    ("1.26.0-rc.0", "1.26.0rc0", ""), ("1.26.0-beta.1-debug", "1.26.0b1", "-debug"), ("1.24", "1.24", ""),
])
def test_parse_tag(text, version, suffix):
    tag = parse_tag(text)
    assert tag.version == Version(version) and tag.suffix == suffix


@pytest.mark.parametrize("text", ["latest", "auto", "", None, True, "master-abc"])
def test_not_versions(text):
    assert parse_tag(text) is None


def test_yaml_float_pin():
    assert parse_tag(1.22).version == Version("1.22")


def test_revision_label():
    assert parse_revision("1-22-3") == Version("1.22.3")
    assert parse_revision("canary") is None


def test_prerelease_of_the_fix_counts_as_fixed():
    assert not in_range(parse_tag("1.26.0-rc.0").version, ">=1.21,<1.26")
    assert in_range(parse_tag("1.25.5").version, ">=1.21,<1.26")


def test_replace_keeps_prefix_and_suffix():
    assert replace_version_in_tag("v1.22.3-distroless", "1.26.2") == "v1.26.2-distroless"


def test_require_version_message():
    with pytest.raises(VersionError, match="'x.y' is not a version"):
        require_version("x.y")

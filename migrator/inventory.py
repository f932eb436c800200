"""The mesh as the repository declares it: versions with provenance, proxies, SPIRE, flags, resources.

Rules never look at YAML; they look at this inventory.  Each extractor below knows one shape in
which people keep Istio/SPIRE configuration in git (IstioOperator, Helm values, Argo CD
Applications, Flux HelmReleases, kustomize, raw workloads, a `kubectl get -o yaml` List) and records
what it found with the file and line it came from, so every finding and every pin can be traced back.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml

from migrator.documents import Document, embedded_document
from migrator.model import FlagSetting, InjectorTemplate, Labels, LineIndex, Pin, Proxy, Resource
from migrator.versions import parse_revision, parse_tag

#: the charts that install istiod itself (a control plane); base/cni/ztunnel/gateway do not
ISTIOD_CHARTS = {"istiod", "istiod-remote"}
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ISTIO_CHARTS = {"base", "istiod", "gateway", "cni", "ztunnel", "istio-base", "istiod-remote", "istio-cni", "istio-ingress", "istio-egress"}
SPIRE_CHARTS = {"spire", "spire-nested"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
KEPT_KINDS = {"DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "Role", "ClusterRole", "RoleBinding",
              "ClusterRoleBinding", "ServiceAccount", "Namespace", "ClusterSPIFFEID"}
#: istiod env vars that change what TLS clusters look like (domain.md, "The 1.21 default change")
TRACKED_FLAGS = {"VERIFY_CERTIFICATE_AT_CLIENT", "VERIFY_CERT_AT_CLIENT", "ENABLE_AUTO_SNI", "ENABLE_NATIVE_SIDECARS",
                 "PILOT_FILTER_GATEWAY_CLUSTER_CONFIG"}
LEGACY_REGISTRIES = ("gcr.io/istio-release", "istio-release.storage.googleapis.com", "registry.istio.io/release")
SPIRE_SOCKET_DIRS = ("/run/spire", "/var/run/spire", "spire-agent", "agent-sockets")
_ISTIO_IMAGE = re.compile(r"(?:^|/)(?:istio|istio-release|istio-testing|registry\.istio\.io/release)/(pilot|proxyv2|install-cni|ztunnel)(?::([^@\s]+))?")
_TAG_KEYS = {"revisionTags", "revision", "defaultRevision", "global"}  # values of a revision-tag-only release
_SPIRE_IMAGE = re.compile(r"spiffe/(spire-server|spire-agent)(?::([^@\s]+))?")


@dataclass(frozen=True)
class RegistryRef:
    """A chart repository or image registry reference (used for the 1.31 registry move)."""

    url: str
    path: str
    line: int
    via: str
    env: str | None = None


@dataclass(frozen=True)
class ChartImageOverride:
    """A SPIRE chart pin and an explicit image tag override in its values (they must agree)."""

    chart_version: str
    component: str  # spire-server | spire-agent
    tag: str
    path: str
    line: int
    env: str | None = None


@dataclass(frozen=True)
class IstiodConfig:
    """Where the repo configures istiod values, so a remedy can set pilot.env there."""

    path: str
    doc: int  # document index in the file
    values_path: tuple  # key path of the values mapping (inside the embedded text when `embedded`)
    embedded: tuple  # path of the YAML-in-a-string scalar in the outer document, or ()
    via: str
    env: str | None = None
    flat_env: bool = False  # the values already use the 1.24+ flattened `env:` key
    tags_only: bool = False  # only revisionTags/defaultRevision: a release for revision tags, not istiod's settings


@dataclass(frozen=True)
class SpireAgentConfig:
    """The SDS-relevant settings of a SPIRE agent's agent.conf (HCL or the hardened chart's JSON)."""

    path: str
    line: int
    socket_path: str
    trust_domain: str
    sds: tuple  # ((key, value), ...) of the agent's sds block
    env: str | None = None
    server_address: str = ""

    def sds_name(self, key: str, default: str) -> str:
        return dict(self.sds).get(key, default)


@dataclass(frozen=True)
class Link:
    """A deployment wiring edge: a file that makes another file or folder live (topology.py follows them).

    kind: "kustomize" (resources/components/patches of a kustomization), "flux" (a Flux Kustomization's
    spec.path), "argo" (an Argo CD Application's source path), "argo-glob" (an ApplicationSet git
    directory generator).  Flux and Argo links are entry points: they name the cluster they deploy to.
    """

    src: str
    target: str  # normalised path relative to the scan root ("" = the root itself)
    kind: str
    cluster: str | None = None
    line: int = 0
    pattern: str = ""  # "argo-git": the ApplicationSet git directories generator's path glob
    artifact: str = ""  # "flux" from an ExternalArtifact: the artifact's name (target is inside the artifact)


@dataclass(frozen=True)
class ArtifactCopy:
    """One copy rule of a Flux ArtifactGenerator: repo folder `source` appears as `dest` in artifact `name`."""

    path: str
    name: str
    source: str  # folder in the repository ("" = the root)
    dest: str  # folder inside the artifact ("" = its root)


@dataclass(frozen=True)
class Install:
    """A declared istiod installation (a control plane), before versions are resolved."""

    path: str
    line: int
    via: str
    revision: str = ""
    cluster: str | None = None  # where an Argo CD Application deploys it ("" = Argo's own cluster; None: wherever its file is applied)


@dataclass(frozen=True)
class SpireServerConfig:
    """The trust domain a SPIRE server serves (its server.conf), so agents pair with their own server."""

    path: str
    line: int
    trust_domain: str


@dataclass(frozen=True)
class Region:
    """Lines of a file covered by a suppression (inline comment or resource annotation)."""

    path: str
    start: int
    end: int
    rules: tuple[str, ...]
    how: str
    reason: str


@dataclass
class Inventory:
    """Everything the rules may ask about the repository."""

    pins: list[Pin] = field(default_factory=list)
    flags: list[FlagSetting] = field(default_factory=list)
    templates: list[InjectorTemplate] = field(default_factory=list)
    proxies: list[Proxy] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    registries: list[RegistryRef] = field(default_factory=list)
    chart_overrides: list[ChartImageOverride] = field(default_factory=list)
    injected_namespaces: dict[str, str] = field(default_factory=dict)  # namespace -> label that injects
    suppressions: list[Region] = field(default_factory=list)
    istiod_configs: list[IstiodConfig] = field(default_factory=list)
    spire_agent_configs: list[SpireAgentConfig] = field(default_factory=list)
    spire_server_configs: list[SpireServerConfig] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    artifact_copies: list[ArtifactCopy] = field(default_factory=list)
    installs: list[Install] = field(default_factory=list)

    #: the per-file fact lists: merged file by file, and every item names the file it came from
    FACT_LISTS = ("pins", "flags", "templates", "proxies", "resources", "registries", "chart_overrides", "suppressions",
                  "istiod_configs", "spire_agent_configs", "spire_server_configs", "links", "artifact_copies", "installs")

    def merge(self, other: "Inventory") -> None:
        for name in self.FACT_LISTS:
            getattr(self, name).extend(getattr(other, name))
        self.injected_namespaces.update(other.injected_namespaces)

    def pack(self) -> tuple:
        """The non-empty parts only, as one flat tuple: what a --jobs worker sends back for one file.

        Why: the parent holds every file's result until the pool is done (they are merged in file
        order), and an Inventory of fifteen mostly empty lists is ~1.3 KB a file (bench/RESULTS.md
        "Memory").  (injected_namespaces or None, name, list, name, list, …).
        """
        facts = [x for name in self.FACT_LISTS if (lst := getattr(self, name)) for x in (name, lst)]
        return (self.injected_namespaces or None, *facts)

    @classmethod
    def unpack(cls, packed: tuple) -> "Inventory":
        """The inventory pack() described."""
        return cls(**dict(zip(packed[1::2], packed[2::2])), injected_namespaces=packed[0] or {})

    @staticmethod
    def share_packed(packed: tuple, path: str | None = None) -> None:
        """Share the strings of a packed result again, in place: its pickled copy made its own of every
        namespace, kind and label value that the collector had shared (see _share), and of the file's
        path, which the proxies and resources of `path` take again from this process."""
        for name, facts in zip(packed[1::2], packed[2::2]):
            if name == "resources":
                for r in facts:
                    if r.path == path:
                        r.path = path
                    r.kind, r.api_version, r.namespace = _share(r.kind), _share(r.api_version), _share(r.namespace)
                    r.data = _share_kept(r.data, r.name)  # the name stays the worker's object: the pickle kept it one with the data's
            elif name == "proxies":
                for p in facts:
                    if p.path == path:
                        p.path = path
                    name = p.resource.split("/", 2)[-1]  # Kind/namespace/name: neither a kind nor a namespace holds a "/"
                    own = p.service_account if p.service_account == name else name  # the pickle kept label and account one object
                    p.namespace, p.service_account = _share(p.namespace), _share(p.service_account, own)
                    p.labels = _shared_strings(p.labels, own, Labels)
                    # kind, SPIRE reason, confidence, templates, annotations and revision live in the proxy's
                    # profile, which unpickling made this process's equal one already (model.Proxy.__reduce__)


# ---------------------------------------------------------------------------------------------
# environments


_ENV_DIRS = ("clusters", "environments", "envs", "env", "overlays", "stages")


def env_of(path: str) -> str | None:
    """The environment a file belongs to, from the usual GitOps layouts; None = shared by all."""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part in _ENV_DIRS and i + 1 < len(parts) - 1:
            return parts[i + 1]
    return None


# ---------------------------------------------------------------------------------------------
# a place values live: a document plus the key path of the values mapping inside it


@dataclass
class _Values:
    doc: Document
    base: tuple
    data: dict
    embedded: tuple = ()  # path of the YAML-in-a-string scalar in the outer document

    def line(self, *sub: Any) -> int:
        return self.doc.line_of(self.base + tuple(sub))

    def get(self, *sub: Any) -> Any:
        cur: Any = self.data
        for s in sub:
            if not isinstance(cur, dict) or s not in cur:
                return None
            cur = cur[s]
        return cur


class Collector:
    """Turns documents into inventory facts; one instance per file so work can run in parallel."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.env = env_of(path)
        # suppression comments are rare: only split the text into lines when one can be there
        self.text_lines = text.splitlines() if "mesh-migrator" in text else []
        self.inv = Inventory()

    # -- entry point ---------------------------------------------------------------------------
    def add(self, doc: Document) -> None:
        data = doc.data
        if not isinstance(data, dict):
            return
        kind = doc.kind
        self._suppressions(doc)
        if kind == "IstioOperator":
            self._istio_operator(doc)
        elif kind in ("Application", "ApplicationSet") and "argoproj.io" in doc.api_version:
            self._argo(doc)
        elif kind == "HelmRelease":
            self._flux(doc)
        elif kind in ("HelmRepository", "OCIRepository"):
            self._flux_repo(doc)
        elif kind == "Kustomization" and "toolkit.fluxcd.io" in doc.api_version:
            self._flux_kustomization(doc)
        elif kind == "ArtifactGenerator" and "fluxcd.io" in doc.api_version:
            self._artifact_generator(doc)
        elif kind == "Kustomization" or (not kind and ("images" in data or "helmCharts" in data) and ("resources" in data or "bases" in data or "images" in data)):
            self._kustomization(doc)
        elif not kind and self.path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES:
            self._kustomization(doc)
        elif not kind and "dependencies" in data and "apiVersion" in data and "name" in data:
            self._chart_yaml(doc)
        elif not kind and not doc.api_version:
            self._values_file(doc)
        if kind in WORKLOAD_KINDS:
            self._workload(doc)
        if kind == "Namespace":
            self._namespace(doc)
        if kind == "ConfigMap" and isinstance(data.get("data"), dict) and isinstance(data["data"].get("agent.conf"), str):
            self._spire_agent_conf(doc, data["data"]["agent.conf"])
        if kind == "ConfigMap" and isinstance(data.get("data"), dict) and any(k in data["data"] for k in ("values.yaml", "values.yml")):
            self._configmap_values(doc)
        if kind == "ConfigMap" and isinstance(data.get("data"), dict) and isinstance(data["data"].get("server.conf"), str):
            self._spire_server_conf(doc, data["data"]["server.conf"])
        if kind in KEPT_KINDS or doc.api_version.split("/")[0].endswith("istio.io"):
            self._keep(doc)

    # -- suppressions ----------------------------------------------------------------------------
    _IGNORE = re.compile(r"#\s*mesh-migrator:\s*ignore\[([A-Za-z0-9_, ]+)\]\s*(.*)")

    def _suppressions(self, doc: Document) -> None:
        """Inline `# mesh-migrator: ignore[ID] reason` comments and the `mesh-migrator.io/ignore` annotation."""
        start = doc.node.start_mark.line + doc.line_offset  # 0-based
        end = doc.node.end_mark.line + doc.line_offset
        top = start  # the comment block right above a resource belongs to it
        while top > 0 and top - 1 < len(self.text_lines) and self.text_lines[top - 1].lstrip().startswith("#"):
            top -= 1
        for i in range(top, min(len(self.text_lines), end + 1)):
            m = self._IGNORE.search(self.text_lines[i])
            if not m:
                continue
            rules = tuple(r.strip().upper() for r in m.group(1).split(",") if r.strip())
            line_text = self.text_lines[i].split("#", 1)[0].strip()
            if i < start or (i == start and not line_text):
                region = (start + 1, end + 1)  # above the resource: the whole resource
            elif line_text:
                region = (i + 1, i + 1)  # on a line: that line
            else:
                region = (i + 2, i + 2)  # alone on a line: the next line
            self.inv.suppressions.append(Region(self.path, region[0], region[1], rules, "inline", m.group(2).strip()))
        ann = doc.metadata.get("annotations") if isinstance(doc.metadata.get("annotations"), dict) else {}
        value = ann.get("mesh-migrator.io/ignore") if ann else None
        if value:
            rules = tuple(r.strip().upper() for r in str(value).split(",") if r.strip())
            reason = str(ann.get("mesh-migrator.io/ignore-reason", ""))
            self.inv.suppressions.append(Region(self.path, start + 1, end + 1, rules, "annotation", reason))

    # -- pins ------------------------------------------------------------------------------------
    def _pin(self, product: str, raw: Any, doc: Document, key_path: tuple, source: str, component: str, embedded: tuple = ()) -> None:
        tag = parse_tag(raw)
        if tag is None:
            return
        self.inv.pins.append(Pin(product, str(tag.version), self.path, doc.line_of(key_path), source, component,
                                 self.env, str(raw), doc.index, doc.base_path + key_path, embedded))

    def _registry(self, url: Any, doc: Document, key_path: tuple, via: str) -> None:
        if isinstance(url, str) and any(r in url for r in LEGACY_REGISTRIES):
            self.inv.registries.append(RegistryRef(url, self.path, doc.line_of(key_path), via, self.env))

    def _image(self, image: Any, doc: Document, key_path: tuple, where: str) -> None:
        if not isinstance(image, str):
            return
        self._registry(image, doc, key_path, f"{where} image")
        m = _ISTIO_IMAGE.search(image)
        if m and m.group(2):
            self._pin("istio", m.group(2), doc, key_path, f"{where} image {m.group(1)}", "proxy" if m.group(1) == "proxyv2" else m.group(1))
        m = _SPIRE_IMAGE.search(image)
        if m and m.group(2):
            component = m.group(1).split("-")[1]
            if component == "agent" and not where.startswith(("DaemonSet ", "Pod ")):
                component = "agent-cli"  # the spire-agent image run as a Workload API client (`spire-agent api fetch`), not an agent
            self._pin("spire", m.group(2), doc, key_path, f"{where} image {m.group(1)}", component)

    # -- IstioOperator ---------------------------------------------------------------------------
    def _istio_operator(self, doc: Document) -> None:
        spec = doc.data.get("spec") or {}
        if not isinstance(spec, dict):
            return
        name = f"IstioOperator/{doc.namespace or 'istio-system'}/{doc.name}"
        self._install(doc, (), name, spec.get("revision"))
        self._pin("istio", spec.get("tag"), doc, ("spec", "tag"), f"{name} spec.tag", "istiod")
        self._registry(spec.get("hub"), doc, ("spec", "hub"), f"{name} spec.hub")
        if "compatibilityVersion" in spec:
            self._flag("compatibilityVersion", spec["compatibilityVersion"], doc, ("spec", "compatibilityVersion"), f"{name} spec.compatibilityVersion")
        values = spec.get("values")
        if isinstance(values, dict):
            self._istio_values(_Values(doc, ("spec", "values"), values), "istiod", f"{name} spec.values")
        components = spec.get("components") or {}
        if not isinstance(components, dict):
            return
        pilot = components.get("pilot")
        if isinstance(pilot, dict):
            self._pin("istio", pilot.get("tag"), doc, ("spec", "components", "pilot", "tag"), f"{name} components.pilot.tag", "istiod")
            env = (pilot.get("k8s") or {}).get("env") if isinstance(pilot.get("k8s"), dict) else None
            self._env_list(env, doc, ("spec", "components", "pilot", "k8s", "env"), f"{name} components.pilot.k8s.env")
        for group in ("ingressGateways", "egressGateways"):
            for i, gw in enumerate(components.get(group) or []):
                if isinstance(gw, dict) and gw.get("enabled", True) is not False:
                    self._operator_gateway(doc, gw, ("spec", "components", group, i))

    def _operator_gateway(self, doc: Document, gw: dict, path: tuple) -> None:
        name = str(gw.get("name") or "istio-ingressgateway")
        ns = str(gw.get("namespace") or doc.namespace or "istio-system")
        labels = gw.get("label") if isinstance(gw.get("label"), dict) else {"istio": "ingressgateway" if "ingress" in path[2].lower() else "egressgateway", "app": name}
        self._pin("istio", gw.get("tag"), doc, path + ("tag",), f"IstioOperator gateway {name} tag", "gateway")
        spire, reason = False, ""
        overlays = (gw.get("k8s") or {}).get("overlays") if isinstance(gw.get("k8s"), dict) else None
        for overlay in overlays or []:
            for patch in (overlay or {}).get("patches") or []:
                if isinstance(patch, dict) and "workload-socket" in str(patch.get("path", "")) and _is_spire_volume(patch.get("value")):
                    spire, reason = True, "IstioOperator overlay patches the workload-socket volume to csi.spiffe.io"
        self.inv.proxies.append(Proxy(f"Deployment/{ns}/{name}", "gateway", ns, {str(k): str(v) for k, v in labels.items()}, f"{name}-service-account",
                                      spire, reason, self.path, doc.line_of(path), env=self.env))

    # -- Helm values -----------------------------------------------------------------------------
    def _values_file(self, doc: Document) -> None:
        """A bare values.yaml: decide from its keys (and name) which chart it configures."""
        self._classify_values(_Values(doc, (), doc.data), f"Helm values {self.path}")

    #: keys only istiod chart values have (a bare `global.tag` is too common elsewhere to count alone)
    _ISTIOD_KEYS = ("pilot", "sidecarInjectorWebhook", "meshConfig", "compatibilityVersion", "istiodRemote")

    def _configmap_values(self, doc: Document) -> None:
        """Helm values kept in a ConfigMap for Flux `valuesFrom` (key `values.yaml`, Flux's default):
        read like a values file when its keys are istiod's, with lines mapped into the ConfigMap."""
        for key in ("values.yaml", "values.yml"):
            if not isinstance(doc.data["data"].get(key), str):
                continue
            for inner in embedded_document(doc, ("data", key)):
                if isinstance(inner.data, dict) and any(k in inner.data for k in self._ISTIOD_KEYS):
                    v = _Values(inner, (), inner.data, (doc.index,) + doc.base_path + ("data", key))
                    self._classify_values(v, f"ConfigMap {doc.name} {key}")

    def _classify_values(self, v: _Values, where: str) -> None:
        doc, data = v.doc, v.data
        if any(k in data for k in ("spire-server", "spire-agent")) or (isinstance(data.get("global"), dict) and "spire" in data["global"]):
            self._spire_values(v, None)
        elif "podAnnotations" in data and ("gateway" in self.path.lower() or "service" in data):
            self._gateway_values(v, self._release_from_path(), "istio-system")
        elif any(k in data for k in ("pilot", "sidecarInjectorWebhook", "meshConfig", "compatibilityVersion", "istiodRemote")) or (
            isinstance(data.get("global"), dict) and ("istioNamespace" in data["global"] or "hub" in data["global"] or "tag" in data["global"])
        ):
            self._install(doc, (), where, data.get("revision"))
            self._istio_values(v, "istiod", where)

    def _release_from_path(self) -> str:
        parts = [p for p in self.path.split("/")[:-1] if p not in ("values", "helm")]
        return parts[-1] if parts else "istio-ingressgateway"

    def _istio_values(self, v: _Values, chart: str, where: str) -> None:
        if chart == "istiod":
            doc_index = v.embedded[0] if v.embedded else v.doc.index
            values_path = v.base if v.embedded else v.doc.base_path + v.base
            self.inv.istiod_configs.append(IstiodConfig(self.path, doc_index, values_path, v.embedded[1:] if v.embedded else (),
                                                        where, self.env, isinstance(v.get("env"), dict) and not isinstance(v.get("pilot"), dict),
                                                        "revisionTags" in v.data and set(v.data) <= _TAG_KEYS))
        g = v.get("global")
        if isinstance(g, dict):
            self._pin_values("istio", g.get("tag"), v, ("global", "tag"), f"{where} global.tag", chart)
            self._registry_values(g.get("hub"), v, ("global", "hub"), f"{where} global.hub")
        for key in ("tag",):
            if chart == "istiod":
                self._pin_values("istio", v.get(key), v, (key,), f"{where} {key}", chart)
                pilot_tag = v.get("pilot", "tag")
                self._pin_values("istio", pilot_tag, v, ("pilot", "tag"), f"{where} pilot.tag", chart)
        # only the istiod chart renders istiod's Deployment; another chart's compatibilityVersion selects
        # that chart's own profile (its zzz_profile.yaml) and never reaches istiod's env
        scope = "istiod" if chart == "istiod" else chart
        if v.get("compatibilityVersion") is not None:
            self._flag("compatibilityVersion", v.get("compatibilityVersion"), v.doc, v.base + ("compatibilityVersion",), f"{where} compatibilityVersion",
                       v.embedded, scope)
        # istiod's Deployment reads `.Values.pilot.env` on 1.21-1.23 and the flattened `.Values.env` from 1.24
        # (manifests/charts/istio-control/istio-discovery/templates/deployment.yaml at 1.23.0 and 1.24.0)
        for env_path, env_scope in ((("pilot", "env"), scope), (("env",), "values-env" if scope == "istiod" else scope)):
            env = v.get(*env_path)
            if isinstance(env, dict):
                for name, value in env.items():
                    if str(name) in TRACKED_FLAGS:
                        self._flag(str(name), value, v.doc, v.base + env_path + (name,), f"{where} {'.'.join(env_path)}", v.embedded, env_scope)
        templates = v.get("sidecarInjectorWebhook", "templates")
        if isinstance(templates, dict):
            for name, body in templates.items():
                text = body if isinstance(body, str) else str(body)
                self.inv.templates.append(InjectorTemplate(
                    str(name), _text_is_spire(text), bool(re.search(r"(?m)^\s*containers:", text)),
                    bool(re.search(r"(?m)^\s*initContainers:", text)), self.path, v.line("sidecarInjectorWebhook", "templates", name), self.env))
        pod_ann = v.get("podAnnotations")
        if chart == "gateway" and isinstance(pod_ann, dict):
            pass  # handled by _gateway_values

    def _gateway_values(self, v: _Values, release: str, namespace: str) -> None:
        """Istio `gateway` chart values: a gateway Deployment named after the release."""
        ann = v.get("podAnnotations") if isinstance(v.get("podAnnotations"), dict) else {}
        labels = v.get("labels") if isinstance(v.get("labels"), dict) else {"app": release, "istio": release.removeprefix("istio-")}
        templates = _split_templates(ann.get("inject.istio.io/templates", "gateway"))
        spire, reason, confidence = self._spire_by_templates(templates)
        line = v.line("podAnnotations", "inject.istio.io/templates") if "inject.istio.io/templates" in ann else v.line()
        self.inv.proxies.append(Proxy(f"Deployment/{namespace}/{release}", "gateway", namespace, {str(k): str(x) for k, x in labels.items()},
                                      str(v.get("serviceAccount", "name") or release), spire, reason, self.path, line, confidence,
                                      tuple(templates), {str(k): str(x) for k, x in ann.items()}, self.env))
        self._pin_values("istio", v.get("global", "tag") if isinstance(v.get("global"), dict) else None, v, ("global", "tag"), f"gateway values {release} global.tag", "gateway")
        if v.get("compatibilityVersion") is not None:  # every Istio chart's zzz_profile.yaml resolves it
            self._flag("compatibilityVersion", v.get("compatibilityVersion"), v.doc, v.base + ("compatibilityVersion",),
                       f"gateway values {release} compatibilityVersion", v.embedded, "gateway")

    def _spire_values(self, v: _Values, chart_version: str | None) -> None:
        for comp in ("spire-server", "spire-agent"):
            tag = v.get(comp, "image", "tag")
            if tag:
                self._pin_values("spire", tag, v, (comp, "image", "tag"), f"spire chart values {comp}.image.tag", comp.split("-")[1])
                if chart_version:
                    self.inv.chart_overrides.append(ChartImageOverride(chart_version, comp, str(tag), self.path, v.line(comp, "image", "tag"), self.env))

    def _pin_values(self, product: str, raw: Any, v: _Values, sub: tuple, source: str, component: str) -> None:
        tag = parse_tag(raw)
        if tag is None:
            return
        self.inv.pins.append(Pin(product, str(tag.version), self.path, v.line(*sub), source, component, self.env, str(raw),
                                 v.doc.index if not v.embedded else v.embedded[0], (v.doc.base_path + v.base + sub) if not v.embedded else sub, v.embedded[1:] if v.embedded else ()))

    def _registry_values(self, url: Any, v: _Values, sub: tuple, via: str) -> None:
        if isinstance(url, str) and any(r in url for r in LEGACY_REGISTRIES):
            self.inv.registries.append(RegistryRef(url, self.path, v.line(*sub), via, self.env))

    # -- flags -----------------------------------------------------------------------------------
    def _flag(self, name: str, value: Any, doc: Document, key_path: tuple, via: str, embedded: tuple = (), scope: str = "istiod") -> None:
        text = value if isinstance(value, str) else ("true" if value is True else "false" if value is False else repr(value) if isinstance(value, float) else str(value))
        self.inv.flags.append(FlagSetting(name, text, self.path, doc.line_of(key_path), via, self.env, doc.index, doc.base_path + key_path, scope))

    def _install(self, doc: Document, key_path: tuple, via: str, revision: Any = None, cluster: str | None = None) -> None:
        """This document installs istiod: a control plane that proxies attach to (topology.py)."""
        rev = str(revision) if isinstance(revision, (str, int, float)) and str(revision) not in ("", "default") else ""
        rev = "" if "{{" in rev else rev  # an ApplicationSet/Helm template parameter, not a revision name
        self.inv.installs.append(Install(self.path, doc.line_of(key_path), via, rev, cluster))

    def _env_list(self, env: Any, doc: Document, path: tuple, via: str) -> None:
        for i, item in enumerate(env or []):
            if isinstance(item, dict) and str(item.get("name")) in TRACKED_FLAGS and "value" in item:
                self._flag(str(item["name"]), item["value"], doc, path + (i, "name"), via)

    # -- Argo CD / Flux / kustomize / Chart.yaml --------------------------------------------------
    def _argo(self, doc: Document) -> None:
        spec = doc.data.get("spec") or {}
        base: tuple = ("spec",)
        if doc.kind == "ApplicationSet":
            spec = ((spec.get("template") or {}).get("spec")) or {}
            base = ("spec", "template", "spec")
        if not isinstance(spec, dict):
            return
        dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
        namespace = str(dest.get("namespace") or "istio-system")
        sources = [(base + ("source",), spec.get("source"))] + [(base + ("sources", i), s) for i, s in enumerate(spec.get("sources") or [])]
        for path, src in sources:
            if not isinstance(src, dict):
                continue
            repo = str(src.get("repoURL", ""))
            chart = str(src.get("chart", "") or "")
            self._registry(repo, doc, path + ("repoURL",), f"Argo CD Application {doc.name} repoURL")
            helm = src.get("helm") if isinstance(src.get("helm"), dict) else {}
            release = str(helm.get("releaseName") or doc.name)
            values_list = self._argo_values(doc, path, helm)
            kind = _chart_kind(chart, repo)
            value_files = helm.get("valueFiles") if isinstance(helm.get("valueFiles"), list) else []
            for i, vf in enumerate(value_files):
                # multi-source: `$values/clusters/prod/istiod.yaml` names a file of the source with `ref: values`
                if isinstance(vf, str) and vf.startswith("$") and "/" in vf and doc.kind == "Application":
                    ref, rest = vf[1:].split("/", 1)
                    if any(isinstance(s, dict) and s.get("ref") == ref for _, s in sources):
                        self._link(rest, doc, path + ("helm", "valueFiles", i), "argo", _argo_cluster(dest), from_root=True)
            if not chart and isinstance(src.get("path"), str):
                if doc.kind == "ApplicationSet":
                    self._appset_links(doc, src["path"], dest, path + ("path",))
                else:
                    self._link(src["path"], doc, path + ("path",), "argo", _argo_cluster(dest), from_root=True)
            if kind == "istio" and chart in ISTIOD_CHARTS:
                revs = [v.get("revision") for v in values_list if v.get("revision")]
                self._install(doc, path + ("chart",), f"Argo CD Application {doc.name} ({chart})", revs[0] if revs else None, _argo_cluster(dest) or "")
            if kind == "istio":
                self._pin("istio", src.get("targetRevision"), doc, path + ("targetRevision",), f"Argo CD Application {doc.name} ({chart}) targetRevision", chart)
                for v in values_list:
                    if chart == "gateway":
                        self._gateway_values(v, release, namespace)
                    else:
                        self._istio_values(v, chart, f"Argo CD Application {doc.name} values")
                for i, p in enumerate(helm.get("parameters") or []):
                    if isinstance(p, dict):
                        pname = str(p.get("name", ""))
                        last = pname.split(".")[-1]
                        if pname.startswith(("pilot.env.", "env.")) and last in TRACKED_FLAGS:
                            self._flag(last, p.get("value"), doc, path + ("helm", "parameters", i, "name"), f"Argo CD Application {doc.name} helm.parameters")
                        elif pname == "compatibilityVersion":
                            self._flag("compatibilityVersion", p.get("value"), doc, path + ("helm", "parameters", i, "name"), f"Argo CD Application {doc.name} helm.parameters")
            elif kind == "spire":
                rev = src.get("targetRevision")
                self._spire_chart_pin(rev, doc, path + ("targetRevision",), f"Argo CD Application {doc.name} (spire chart {rev}) targetRevision")
                for v in values_list:
                    self._spire_values(v, str(rev) if rev else None)

    def _argo_values(self, doc: Document, path: tuple, helm: dict) -> list[_Values]:
        out = []
        if isinstance(helm.get("valuesObject"), dict):
            out.append(_Values(doc, path + ("helm", "valuesObject"), helm["valuesObject"]))
        if isinstance(helm.get("values"), str):
            for inner in embedded_document(doc, path + ("helm", "values")):
                if isinstance(inner.data, dict):
                    out.append(_Values(inner, (), inner.data, (doc.index,) + doc.base_path + path + ("helm", "values")))
        elif isinstance(helm.get("values"), dict):
            out.append(_Values(doc, path + ("helm", "values"), helm["values"]))
        return out

    def _appset_links(self, doc: Document, path_template: str, dest: dict, key_path: tuple) -> None:
        """An ApplicationSet deploys its template once per generator item: list elements are expanded here,
        git directory globs in topology.py (they need the repository's folders)."""
        generators = (doc.data.get("spec") or {}).get("generators") if isinstance(doc.data.get("spec"), dict) else None
        dest_template = str(dest.get("name") or dest.get("server") or "")
        for gen in generators if isinstance(generators, list) else []:
            if not isinstance(gen, dict):
                continue
            elements = (gen.get("list") or {}).get("elements") if isinstance(gen.get("list"), dict) else None
            for element in elements if isinstance(elements, list) else []:
                if isinstance(element, dict):
                    params = {str(k): str(v) for k, v in element.items() if isinstance(v, (str, int, float))}
                    target = _fill(path_template, params)
                    cluster = _fill(dest_template, params)
                    if "{{" not in target:
                        self._link(target, doc, key_path, "argo", _argo_cluster({"name": cluster}) if cluster and "{{" not in cluster else None,
                                   from_root=True)
            git = gen.get("git") if isinstance(gen.get("git"), dict) else None
            for d in (git or {}).get("directories") or []:
                if isinstance(d, dict) and isinstance(d.get("path"), str) and not d.get("exclude"):
                    self.inv.links.append(Link(self.path, path_template, "argo-git", dest_template or None, doc.line_of(key_path),
                                               d["path"].strip("/")))

    def _spire_chart_pin(self, rev: Any, doc: Document, key_path: tuple, source: str) -> None:
        """A spire chart version pins SPIRE through the chart → app version map (domain-report §4.2)."""
        from migrator.knowledge import spire_app_version_for_chart

        if rev is None:
            return
        app = spire_app_version_for_chart(str(rev).lstrip("v"))
        if app:
            self.inv.pins.append(Pin("spire", app, self.path, doc.line_of(key_path), f"{source} → SPIRE {app}", "chart", self.env,
                                     str(rev), doc.index, doc.base_path + key_path))

    def _flux(self, doc: Document) -> None:
        spec = doc.data.get("spec") or {}
        if not isinstance(spec, dict):
            return
        chart_spec = ((spec.get("chart") or {}).get("spec")) if isinstance(spec.get("chart"), dict) else None
        chart_spec = chart_spec if isinstance(chart_spec, dict) else {}
        chart = str(chart_spec.get("chart", "") or "")
        source_name = str((chart_spec.get("sourceRef") or {}).get("name", "")) if isinstance(chart_spec.get("sourceRef"), dict) else ""
        kind = _chart_kind(chart, source_name)
        release = str(spec.get("releaseName") or doc.name)
        namespace = str(spec.get("targetNamespace") or doc.namespace or "istio-system")
        values = _Values(doc, ("spec", "values"), spec["values"]) if isinstance(spec.get("values"), dict) else None
        vpath = ("spec", "chart", "spec", "version")
        if kind == "istio" and chart in ISTIOD_CHARTS:
            self._install(doc, ("spec", "chart", "spec", "chart"), f"Flux HelmRelease {doc.name} ({chart})", values.get("revision") if values else None)
        if kind == "istio":
            self._pin("istio", chart_spec.get("version"), doc, vpath, f"Flux HelmRelease {doc.name} ({chart}) chart version", chart)
            if values:
                if chart == "gateway":
                    self._gateway_values(values, release, namespace)
                else:
                    self._istio_values(values, chart, f"Flux HelmRelease {doc.name} values")
        elif kind == "spire":
            self._spire_chart_pin(chart_spec.get("version"), doc, vpath, f"Flux HelmRelease {doc.name} (spire chart) version")
            if values:
                self._spire_values(values, str(chart_spec.get("version")) if chart_spec.get("version") else None)

    def _flux_repo(self, doc: Document) -> None:
        spec = doc.data.get("spec") or {}
        if isinstance(spec, dict):
            self._registry(spec.get("url"), doc, ("spec", "url"), f"Flux {doc.kind} {doc.name} url")

    def _flux_kustomization(self, doc: Document) -> None:
        """A Flux Kustomization deploys `spec.path` (relative to its source's root) to its cluster."""
        spec = doc.data.get("spec")
        if not (isinstance(spec, dict) and isinstance(spec.get("path"), str)):
            return
        ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
        if ref.get("kind") == "ExternalArtifact":  # Flux 2.7: the path is inside an ArtifactGenerator's artifact
            target = posixpath.normpath(spec["path"].strip().lstrip("/"))
            self.inv.links.append(Link(self.path, "" if target == "." else target, "flux", None, doc.line_of(("spec", "path")),
                                       artifact=str(ref.get("name") or "")))
            return
        self._link(spec["path"], doc, ("spec", "path"), "flux", None, from_root=True)

    def _artifact_generator(self, doc: Document) -> None:
        """Flux ArtifactGenerator copy rules (`@repo/apps/**` -> `@artifact/`), so ExternalArtifact paths map back to folders."""
        spec = doc.data.get("spec") if isinstance(doc.data.get("spec"), dict) else {}
        for art in spec.get("artifacts") or []:
            if not isinstance(art, dict) or not art.get("name"):
                continue
            for copy in art.get("copy") or []:
                if not isinstance(copy, dict):
                    continue
                src, dst = str(copy.get("from", "")), str(copy.get("to", ""))
                m, n = re.match(r"@[\w-]+/?(.*?)/?\*\*$", src), re.match(r"@artifact/?(.*?)/?$", dst)
                if m and n:
                    self.inv.artifact_copies.append(ArtifactCopy(self.path, str(art["name"]), m.group(1), n.group(1)))

    def _kustomization(self, doc: Document) -> None:
        for key in ("resources", "bases", "components", "patchesStrategicMerge", "crds"):
            items = doc.data.get(key)
            for i, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, str):
                    self._link(item, doc, (key, i), "kustomize", None)
        patches = doc.data.get("patches")
        for i, item in enumerate(patches if isinstance(patches, list) else []):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                self._link(item["path"], doc, ("patches", i, "path"), "kustomize", None)
        for i, img in enumerate(doc.data.get("images") or []):
            if not isinstance(img, dict):
                continue
            name = str(img.get("newName") or img.get("name") or "")
            self._registry(img.get("newName"), doc, ("images", i, "newName"), "kustomize images newName")
            if "newTag" in img and (_ISTIO_IMAGE.search(name + ":x") or _SPIRE_IMAGE.search(name + ":x")):
                product = "spire" if "spire" in name else "istio"
                comp = name.rsplit("/", 1)[-1]
                self._pin(product, img.get("newTag"), doc, ("images", i, "newTag"), f"kustomize images {name} newTag",
                          {"proxyv2": "proxy", "spire-server": "server", "spire-agent": "agent"}.get(comp, comp))
        for i, hc in enumerate(doc.data.get("helmCharts") or []):
            if not isinstance(hc, dict):
                continue
            kind = _chart_kind(str(hc.get("name", "")), str(hc.get("repo", "")))
            self._registry(hc.get("repo"), doc, ("helmCharts", i, "repo"), "kustomize helmCharts repo")
            if kind == "istio" and hc.get("name") in ISTIOD_CHARTS:
                inline = hc.get("valuesInline") if isinstance(hc.get("valuesInline"), dict) else {}
                self._install(doc, ("helmCharts", i, "name"), f"kustomize helmCharts {hc.get('name')}", inline.get("revision"))
            if kind == "istio":
                self._pin("istio", hc.get("version"), doc, ("helmCharts", i, "version"), f"kustomize helmCharts {hc.get('name')} version", str(hc.get("name")))
                if isinstance(hc.get("valuesInline"), dict):
                    self._istio_values(_Values(doc, ("helmCharts", i, "valuesInline"), hc["valuesInline"]), str(hc.get("name")), "kustomize helmCharts valuesInline")
            elif kind == "spire":
                self._spire_chart_pin(hc.get("version"), doc, ("helmCharts", i, "version"), f"kustomize helmCharts spire {hc.get('version')}")

    def _chart_yaml(self, doc: Document) -> None:
        for i, dep in enumerate(doc.data.get("dependencies") or []):
            if not isinstance(dep, dict):
                continue
            repo = str(dep.get("repository", ""))
            self._registry(repo, doc, ("dependencies", i, "repository"), f"Chart.yaml dependency {dep.get('name')} repository")
            kind = _chart_kind(str(dep.get("name", "")), repo)
            if kind == "istio" and dep.get("name") in ISTIOD_CHARTS:
                self._install(doc, ("dependencies", i, "name"), f"Chart.yaml dependency {dep.get('name')}")
            if kind == "istio":
                self._pin("istio", dep.get("version"), doc, ("dependencies", i, "version"), f"Chart.yaml dependency {dep.get('name')} version", str(dep.get("name")))
            elif kind == "spire":
                self._spire_chart_pin(dep.get("version"), doc, ("dependencies", i, "version"), f"Chart.yaml dependency spire {dep.get('version')}")

    # -- workloads -------------------------------------------------------------------------------
    def _workload(self, doc: Document) -> None:
        data = doc.data
        if doc.kind == "Pod":
            tpl_path: tuple = ()
            tpl = data
        elif doc.kind == "CronJob":
            tpl_path = ("spec", "jobTemplate", "spec", "template")
            tpl = (((data.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template")
        else:
            tpl_path = ("spec", "template")
            tpl = (data.get("spec") or {}).get("template") if isinstance(data.get("spec"), dict) else None
        if not isinstance(tpl, dict):
            return
        meta = tpl.get("metadata") if isinstance(tpl.get("metadata"), dict) else {}
        pod = tpl.get("spec") if isinstance(tpl.get("spec"), dict) else {}
        labels = _shared_strings(meta.get("labels"), doc.name, Labels)
        ann = _shared_strings(meta.get("annotations"))
        namespace = _share(doc.namespace or "default")
        containers = [c for c in (pod.get("containers") or []) if isinstance(c, dict)]
        for i, c in enumerate(containers):
            self._image(c.get("image"), doc, tpl_path + ("spec", "containers", i, "image"), f"{doc.kind} {doc.name}")
            if c.get("name") == "discovery" or (isinstance(c.get("image"), str) and _ISTIO_IMAGE.search(c["image"]) and "/pilot" in c["image"]):
                self._install(doc, ("metadata", "name"), f"istiod {doc.kind} {doc.name}", labels.get("istio.io/rev"))
                self._env_list(c.get("env"), doc, tpl_path + ("spec", "containers", i, "env"), f"istiod Deployment {doc.name} container env")
        for i, c in enumerate(pod.get("initContainers") or []):
            if isinstance(c, dict):
                self._image(c.get("image"), doc, tpl_path + ("spec", "initContainers", i, "image"), f"{doc.kind} {doc.name}")
        rev = labels.get("istio.io/rev")
        if rev and parse_revision(rev):
            self.inv.pins.append(Pin("istio", str(parse_revision(rev)), self.path, doc.line_of(tpl_path + ("metadata", "labels", "istio.io/rev")),
                                     f"{doc.kind} {doc.name} label istio.io/rev={rev}", "revision", self.env, rev, doc.index,
                                     doc.base_path + tpl_path + ("metadata", "labels", "istio.io/rev")))
        proxy = self._proxy_for_pod(doc, tpl_path, labels, ann, pod, containers, namespace)
        if proxy:
            self.inv.proxies.append(proxy)

    def _proxy_for_pod(self, doc, tpl_path, labels, ann, pod, containers, namespace) -> Proxy | None:
        templates = _split_templates(ann.get("inject.istio.io/templates", ""))
        inject = (labels.get("sidecar.istio.io/inject") or ann.get("sidecar.istio.io/inject") or "").lower()
        has_proxy_container = any(c.get("name") == "istio-proxy" for c in containers)
        signals = inject == "true" or bool(templates) or "istio.io/rev" in labels or has_proxy_container
        if inject == "false" or pod.get("hostNetwork") is True:
            return None  # opted out, or a hostNetwork pod: Istio's injector never injects those
        is_gateway = "gateway" in templates or any(c.get("image") == "auto" and "gateway" in str(labels.get("istio", "")) for c in containers) or any(
            "router" in [str(a) for a in (c.get("args") or [])] for c in containers if c.get("name") == "istio-proxy")
        spire, reason, confidence = False, "", "high"
        for v in pod.get("volumes") or []:
            if isinstance(v, dict) and v.get("name") == "workload-socket" and _is_spire_volume(v):
                spire, reason = True, "pod volume workload-socket is " + ("a csi.spiffe.io CSI volume" if "csi" in v else "a hostPath to the SPIRE agent socket")
        if not spire and templates:
            spire, reason, confidence = self._spire_by_templates(templates)
        line = doc.line_of(tpl_path + ("metadata", "annotations", "inject.istio.io/templates")) if templates else doc.line_of(("metadata", "name"))
        if not (signals or spire):
            # injected only if its namespace is labelled for injection somewhere in the repo: decided
            # once every file is read (resolve_proxies), since the Namespace may live in another file
            injected_ns = NAMESPACE_PENDING
        else:
            injected_ns = ""
        return Proxy(f"{doc.kind}/{namespace}/{doc.name}", "gateway" if is_gateway else "sidecar", namespace, labels,
                     _share(str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"), doc.name), spire, _share(reason),
                     self.path, line, confidence if spire else (injected_ns or "high"), _shared_tuple(templates), ann,
                     self.env, labels.get("istio.io/rev", ""))

    def _spire_by_templates(self, templates: list[str]) -> tuple[bool, str, str]:
        """Resolved later against the injector templates of the whole repo; record the wish here."""
        for t in templates:
            if t not in ("sidecar", "gateway", "grpc-agent", "grpc-simple", "init"):
                return True, f"template:{t}", "pending"
        return False, "", "high"

    def _namespace(self, doc: Document) -> None:
        labels = doc.metadata.get("labels") if isinstance(doc.metadata.get("labels"), dict) else {}
        if str(labels.get("istio-injection", "")) == "enabled":
            self.inv.injected_namespaces[doc.name] = "istio-injection=enabled"
        elif labels.get("istio.io/rev"):
            self.inv.injected_namespaces[doc.name] = f"istio.io/rev={labels['istio.io/rev']}"
            rev = parse_revision(str(labels["istio.io/rev"]))
            if rev:
                self.inv.pins.append(Pin("istio", str(rev), self.path, doc.line_of(("metadata", "labels", "istio.io/rev")),
                                         f"Namespace {doc.name} label istio.io/rev={labels['istio.io/rev']}", "revision", self.env,
                                         str(labels["istio.io/rev"]), doc.index, doc.base_path + ("metadata", "labels", "istio.io/rev")))

    _HCL_SETTING = re.compile(r'^\s*(server_address|socket_path|trust_domain|default_svid_name|default_bundle_name|default_all_bundles_name)\s*=\s*"([^"]*)"', re.M)

    def _spire_agent_conf(self, doc: Document, conf: str) -> None:
        """agent.conf: HCL in Istio's quickstart, JSON in the hardened chart (domain-report §4.2)."""
        settings: dict[str, str] = {}
        try:
            import json

            agent = json.loads(conf).get("agent", {})
            settings = {k: str(v) for k, v in agent.items() if k in ("server_address", "socket_path", "trust_domain")}
            settings.update({k: str(v) for k, v in (agent.get("sds") or {}).items()})
        except (ValueError, AttributeError):
            settings = {m.group(1): m.group(2) for m in self._HCL_SETTING.finditer(conf)}
        sds = tuple(sorted((k, v) for k, v in settings.items() if k.startswith("default_")))
        self.inv.spire_agent_configs.append(SpireAgentConfig(self.path, doc.line_of(("data", "agent.conf")), settings.get("socket_path", ""),
                                                             settings.get("trust_domain", ""), sds, self.env, settings.get("server_address", "")))

    _HCL_TRUST_DOMAIN = re.compile(r'^\s*trust_domain\s*=\s*"([^"]*)"', re.M)

    def _spire_server_conf(self, doc: Document, conf: str) -> None:
        """server.conf: HCL (Istio's SPIRE quickstart, spire-tutorials) or JSON (the hardened chart)."""
        import json

        try:
            server = json.loads(conf).get("server", {})
            domain = str(server.get("trust_domain", "")) if isinstance(server, dict) else ""
        except (ValueError, AttributeError):
            m = self._HCL_TRUST_DOMAIN.search(conf)
            domain = m.group(1) if m else ""
        if domain:
            self.inv.spire_server_configs.append(SpireServerConfig(self.path, doc.line_of(("data", "server.conf")), domain))

    def _link(self, target: str, doc: Document, key_path: tuple, kind: str, cluster: str | None, from_root: bool = False) -> None:
        """Record that this file makes `target` live; remote bases (URLs) are outside the repo."""
        target = target.strip()
        if not target or "://" in target or target.startswith(("git@", "github.com/", "{{")) or "?ref=" in target:
            return
        base = "" if from_root else posixpath.dirname(self.path)
        joined = posixpath.normpath(posixpath.join(base, target.lstrip("/") if from_root else target))
        if joined.startswith(".."):
            return
        self.inv.links.append(Link(self.path, "" if joined == "." else joined, kind, cluster, doc.line_of(key_path)))

    def _keep(self, doc: Document) -> None:
        lines: dict[tuple, int] = {}
        _index_lines(doc.node, (), lines, 0, doc.line_offset + 1)
        data = _share_kept(doc.data, doc.name)
        self.inv.resources.append(Resource(doc.kind, doc.api_version, doc.name, doc.namespace, data, self.path, doc.index,
                                           LineIndex.of(lines), self.env, base_path=doc.base_path))


#: strings up to this length are shared between facts (sys.intern): the values that repeat across a
#: repository's resources (namespaces, kinds, apiVersions, TLS modes, label values, template names)
_SHARED_MAX = 128


def _share(text: Any, own: str | None = None) -> Any:
    """One string object per distinct short text, however many files repeat it.

    Why: every file's parse makes its own copy of "networking.istio.io/v1beta1", its namespace, "ISTIO_MUTUAL",
    "sidecar,spire" …, and the inventory keeps them for the whole scan (bench/RESULTS.md "Memory").
    Interned strings are freed with their last user, so this holds nothing beyond the scan.

    `own` is the resource's own name: a text equal to it (its `app` label, its service account) is that
    object instead.  A name is unique to its resource, so interning it would add an entry to the
    interpreter's table per workload and share nothing (bench/RESULTS.md "Memory", third round).
    """
    if type(text) is not str:
        return text
    if own is not None and text == own:
        return own
    return sys.intern(text) if len(text) <= _SHARED_MAX else text


#: annotation mappings by the hash of their content (labels: see _shared_strings): pods of one app template carry identical
#: annotations, and one dict serves them all (nothing changes a proxy's labels or annotations after
#: collection; bounded).  Keyed by the hash, not the items: every workload's labels differ (its `app`),
#: and a tuple of pairs per workload was ~230 bytes kept for nothing (bench/RESULTS.md "Memory", third round)
_MAPPINGS: dict[int, dict] = {}


def _shared_strings(mapping: Any, own: str | None = None, kind: type = dict) -> Mapping[str, str]:
    """A label/annotation mapping as str -> str (as the rules compare them), with shared strings (`own`:
    see _share), and the same object for the same content (read-only by convention, like every
    inventory fact); `kind`: a dict, or a model.Labels for a proxy's labels."""
    if not isinstance(mapping, Mapping):
        mapping = {}
    items = tuple((_share(str(k)), _share(str(v), own)) for k, v in mapping.items())
    if kind is Labels:  # not kept here: a proxy keeps only the values (model.Proxy), and a workload's labels differ (its app)
        return Labels(items)
    key = hash(items)
    shared = _MAPPINGS.get(key)
    if shared is not None and type(shared) is kind and len(shared) == len(items) and tuple(shared.items()) == items:
        return shared  # the same content in the same order (a hash collision gets an object of its own)
    shared = kind(items)
    if len(_MAPPINGS) < 4096 and key not in _MAPPINGS:
        _MAPPINGS[key] = shared
    return shared


#: template-name tuples by content (most proxies name the same one or two templates)
_TUPLES: dict[tuple, tuple] = {}


def _shared_tuple(items: Iterable[str]) -> tuple:
    t = tuple(_share(x) for x in items)
    shared = _TUPLES.get(t)
    if shared is None:
        shared = t
        if len(_TUPLES) < 4096:
            _TUPLES[t] = t
    return shared


#: kinds whose data rules, remedies and the SDS table read (TLS blocks, selectors, RBAC rules): their whole
#: data is shared below (_canonical); other kept kinds (VirtualService, AuthorizationPolicy … kept for MM130's
#: apiVersion check) share only their identity strings, since walking their routes cost ~9 % of a sparse
#: repository's scan for little gain (bench/RESULTS.md "Memory")
_SHARED_DATA_KINDS = frozenset(KEPT_KINDS)


def _share_kept(data: Any, own: str | None = None) -> Any:
    """A kept resource's data (equal to `data`), sharing what it has in common with those kept before
    (see _share_values); `own`, the resource's name, is left out of the interpreter's table (see _share)."""
    if not isinstance(data, dict):
        return data
    if data.get("kind") in _SHARED_DATA_KINDS:
        return _share_values(data, own)
    for key in ("apiVersion", "kind"):
        if key in data:
            data[key] = _share(data[key])
    meta = data.get("metadata")
    if isinstance(meta, dict) and "namespace" in meta:
        meta["namespace"] = _share(meta["namespace"])
    return data


def _share_values(data: Any, own: str | None = None) -> Any:
    """Make a kept resource's data share what it has in common with the resources kept before, in place.

    Short strings become shared ones (_share), and every mapping or list below the top two levels
    (`spec.trafficPolicy`, its `tls` and `connectionPool` …) is replaced by an equal one already kept,
    when there is one: DestinationRules copy the same TLS and pool blocks, and each was ~7 dicts of
    ~200 bytes (bench/RESULTS.md "Memory").  Equal means the same keys in the same order and values of
    the same type and text (1, 1.0 and true stay apart); nothing changes a resource's data after
    collection (every inventory fact is read-only by convention).  The mappings of the top two levels,
    this resource's own (the document, `metadata`, `spec` …), become key-sharing copies (_own_levels).
    Returns the data to keep: equal to `data`, which is changed in place.
    """
    if not isinstance(data, (dict, list)):
        return data
    _TOO_DEEP[0] = False
    _canonical(data, 0, own)
    return data if _TOO_DEEP[0] else _own_levels(data)  # a recursive structure keeps its own objects


#: set by _canonical when it met a structure deeper than it walks (a recursive one)
_TOO_DEEP = [False]


def _own_levels(data: Any) -> Any:
    """A resource's data with its top-level mapping and the mappings directly in it as key-sharing
    copies (_key_sharing); the levels below are the shared subtrees (_canonical), left as they are."""
    if type(data) is not dict:
        return data
    for key, value in data.items():  # values replaced, keys unchanged: allowed while iterating
        if type(value) is dict:
            data[key] = _key_sharing(value)
    return _key_sharing(data)


#: shared subtrees by content: (kind, (key type, key, value type, value or id of a shared subtree) …) -> subtree (bounded)
_TREES: dict[tuple, Any] = {}
_TREES_MAX = 8192
_LEAF_TYPES = (str, int, bool, type(None))


def _canonical(value: Any, depth: int, own: str | None = None) -> tuple[Any, bool]:
    """(the shared equal container, whether it may be part of a shared parent's key); changed in place.

    Leaves are handled in the loop (no call per scalar: kept VirtualServices and RBAC rules are
    thousands of them), and a content key is built only for containers that may be shared: below the
    top two levels and at most 32 entries (a bigger one is rare, and its key would cost as much).
    """
    if depth > 64:  # a recursive structure (PyYAML's fallback path builds them): left alone below here
        _TOO_DEEP[0] = True
        return value, False
    shareable = depth >= 2 and len(value) <= 32
    items: list = []
    is_dict = type(value) is dict
    for k, v in (value.items() if is_dict else enumerate(value)):
        t = type(v)
        if t is str:
            if v == own:
                v = value[k] = own  # the resource's name: not interned (see _share)
            elif len(v) <= _SHARED_MAX:
                v = value[k] = sys.intern(v)
            leaf = (t, v)
        elif t is dict or t is list:
            v, ok = _canonical(v, depth + 1, own)
            value[k] = v
            leaf = (t, id(v)) if ok else None  # a shared subtree: _TREES keeps it alive, so its id is not reused
        elif t is int or t is bool or v is None:
            leaf = (t, v)
        elif t is float:
            leaf = (t, repr(v))  # -0.0 and 0.0 compare equal but print apart
        else:
            leaf = None  # dates, binary, tagged values …: kept as they are, and their parents unshared
        if shareable:
            if leaf is None or (is_dict and type(k) not in _LEAF_TYPES):
                shareable = False
            else:
                items.append((type(k), k) + leaf if is_dict else leaf)
    if not shareable:
        return value, False
    key = ("m" if is_dict else "l", *items)
    shared = _TREES.get(key)
    if shared is not None:
        return shared, True
    if len(_TREES) >= _TREES_MAX:
        return value, False
    _TREES[key] = value
    return value, True


#: a class per key sequence (bounded), whose instances' __dict__s share one key table (see _key_sharing)
_KEY_TABLES: dict[tuple, type] = {}
#: how often each key sequence was met (by its hash; bounded) before it gets a class of its own
_KEY_COUNTS: dict[int, int] = {}
#: a class costs ~2.3 KB and saves ~80 bytes a mapping: made only for key sequences met this often
_KEY_TABLE_AFTER = 32


def _key_sharing(mapping: dict) -> dict:
    """An equal dict (same items, same order) whose key table is shared with every other made here for
    the same key sequence: the `__dict__` of an instance of a class made for those keys (a key-sharing
    dictionary, PEP 412).

    Why: a kept DestinationRule's own mappings (the document, `metadata`, `spec`) differ from every
    other's (its name and host), so they cannot be shared like the TLS blocks below them, and as plain
    dicts they were ~215 bytes each: the largest part of a kept resource.  Sharing the keys leaves
    ~105-120 bytes (bench/RESULTS.md "Memory", fourth round).  It is a plain `dict` in every respect;
    only its size depends on the interpreter.  A key sequence gets its class once it has been met
    _KEY_TABLE_AFTER times (before, and for keys that are not strings, more than 16 keys or beyond the
    bound of classes, the mapping stays as it is).
    """
    keys = tuple(mapping)
    table = _KEY_TABLES.get(keys)
    if table is None:
        if not 0 < len(keys) <= 16 or len(_KEY_TABLES) >= 256 or not all(type(k) is str for k in keys):
            return mapping
        seen = _KEY_COUNTS.get(hash(keys), 0) + 1
        if seen < _KEY_TABLE_AFTER:
            if seen > 1 or len(_KEY_COUNTS) < 4096:
                _KEY_COUNTS[hash(keys)] = seen
            return mapping
        table = _KEY_TABLES[keys] = type("KeptMapping", (), {})
    shared = table().__dict__
    for key, value in mapping.items():  # one by one: update() from a dict would copy its (unshared) key table
        shared[key] = value
    return shared


#: the parts of a kept resource whose lines rules report; everything else (status, managedFields,
#: connectionPool …) is not indexed, so memory follows the TLS settings, not the repository's bulk
_INDEXED_SPEC_KEYS = {"trafficPolicy", "subsets", "servers", "portLevelSettings", "tls", "workloadSelector", "exportTo", "host",
                      "hosts", "selector", "port"}


#: one tuple per distinct key path (("spec", "trafficPolicy", "tls") …) shared by every resource's line index (bounded)
_PATHS: dict[tuple, tuple] = {}


def shared_path(path: tuple) -> tuple:
    """The one tuple of a key path (line indexes, and the TLS block paths findings keep in `details`)."""
    shared = _PATHS.get(path)
    if shared is not None:
        return shared
    if len(_PATHS) < 8192:
        _PATHS[path] = path
    return path


def _index_lines(node: Any, path: tuple, out: dict, depth: int, offset: int) -> None:
    """Record the line of the keys (and sequence items) rules point at: apiVersion, metadata, TLS settings;
    `offset` turns a mark's 0-based line into the file's line number (the document's line offset + 1)."""
    out.setdefault(path, node.start_mark.line + offset)
    if depth > 9:
        return
    cls = node.__class__
    if cls is yaml.MappingNode:
        for k, v in node.value:
            if k.__class__ is not yaml.ScalarNode:
                continue
            key = k.value
            out[shared_path(path + (key,))] = k.start_mark.line + offset
            if depth == 0 and key not in ("spec", "metadata"):
                continue
            if depth >= 1 and path[0] == "spec" and key not in _INDEXED_SPEC_KEYS and path[-1] != "tls" and not isinstance(path[-1], int):
                continue
            if depth >= 1 and path[0] == "metadata" and depth > 1:
                continue
            _index_lines(v, path + (key,), out, depth + 1, offset)
    elif cls is yaml.SequenceNode:
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + offset
            _index_lines(v, path + (i,), out, depth + 1, offset)


def _fill(template: str, params: dict[str, str]) -> str:
    """ApplicationSet `{{key}}` / `{{ .key }}` parameters filled from one generator item."""
    return re.sub(r"\{\{\s*\.?([\w.\[\]-]+)\s*\}\}", lambda m: params.get(m.group(1), m.group(0)), template)


def _argo_cluster(dest: dict) -> str | None:
    """The cluster an Argo CD Application deploys to; None for Argo's own (in-cluster) cluster."""
    name = str(dest.get("name") or "")
    if name and name != "in-cluster":
        return name
    server = str(dest.get("server") or "")
    if server and "kubernetes.default.svc" not in server:
        return server.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return None


def _split_templates(value: Any) -> list[str]:
    return [t.strip() for t in str(value or "").split(",") if t.strip()]


def _chart_kind(chart: str, repo: str) -> str | None:
    repo_l = repo.lower()
    if chart in SPIRE_CHARTS and ("spiffe" in repo_l or "spire" in repo_l or not repo_l):
        return "spire"
    if chart in ISTIO_CHARTS and ("istio" in repo_l or not repo_l):
        return "istio"
    return None


def _is_spire_volume(volume: Any) -> bool:
    """csi.spiffe.io CSI volume, or a hostPath into the SPIRE agent's socket directory."""
    if not isinstance(volume, dict):
        return False
    csi = volume.get("csi")
    if isinstance(csi, dict) and str(csi.get("driver", "")) == "csi.spiffe.io":
        return True
    host = volume.get("hostPath")
    return isinstance(host, dict) and any(s in str(host.get("path", "")) for s in SPIRE_SOCKET_DIRS)


def _text_is_spire(text: str) -> bool:
    return "csi.spiffe.io" in text or any(s in text for s in ("/run/spire/", "agent-sockets"))


NAMESPACE_PENDING = "namespace-pending"


def resolve_spire_templates(inv: Inventory) -> None:
    """Decide what needs the whole repo: namespace-label injection and template-based SPIRE signals."""
    inv.proxies[:] = [p for p in inv.proxies if p.confidence != NAMESPACE_PENDING or p.namespace in inv.injected_namespaces]
    for p in inv.proxies:
        if p.confidence == NAMESPACE_PENDING:
            p.confidence = "high"
    defined: dict[str, list[InjectorTemplate]] = {}
    for t in inv.templates:
        defined.setdefault(t.name, []).append(t)
    reasons: dict[str, str] = {}  # one reason string per text, not one per proxy
    for p in inv.proxies:
        if p.confidence != "pending":
            continue
        names = [t for t in p.templates if t not in ("sidecar", "gateway", "grpc-agent", "grpc-simple", "init")]
        spire_defs = [t for n in names for t in defined.get(n, ()) if t.spire]
        if spire_defs:
            t = spire_defs[0]
            # two definitions of one template name that disagree (a second istiod values file, a stale
            # copy): the SPIRE reading is kept, since missing a broken proxy is the worse mistake
            other = next((d for d in defined[t.name] if not d.spire), None)
            p.spire, p.confidence = True, "low" if other else "high"
            reason = f"injection template '{t.name}' ({t.path}:{t.line}) mounts a csi.spiffe.io workload-socket" + (
                f"; another definition ({other.path}:{other.line}) does not" if other else "")
            p.spire_reason = reasons.setdefault(reason, reason)
        elif "spire" in names and "spire" not in defined:
            p.spire, p.confidence = True, "low"
            p.spire_reason = "injection template 'spire' is not defined in the repo; assumed to be Istio's SPIRE template"
        else:
            p.spire, p.confidence, p.spire_reason = False, "high", ""


def collect(path: str, text: str, documents: Iterable[Document]) -> Inventory:
    """The facts of one file."""
    c = Collector(path, text)
    for d in documents:
        c.add(d)
    return c.inv

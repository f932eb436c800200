"""Shape checks at the document boundary: a resource reaches the inventory only in the shape rules read.

Why: the inventory and the rules read resources as plain dicts and lists (`spec.subsets[i].trafficPolicy.tls`),
and Kubernetes documents in git are sometimes the wrong shape — `spec: [1]`, `containers: true`,
`ingressGateways: 5` — which the API server would reject with a clear message.  Instead of guarding
every read in every rule, each kind the tool reads has one declared shape here (the parts it reads,
after the Kubernetes and Istio API types), and a document that does not fit is reported as
"DestinationRule payments/a: spec is a list, expected a mapping" at the offending line and not
scanned; the rest of the file and of the repository are.

Only containers (mapping / list) are checked, plus a few scalars whose value selects behaviour
(`name`, `host`, `mode`): a scalar of another type is read through `str()` everywhere, so it cannot
break a reader.  `null` is always allowed (it means "not set").
"""

from __future__ import annotations

from typing import Any, Iterable

from migrator.documents import Document, Tagged
from migrator.model import Problem

MAP, LIST, SCALAR = "mapping", "list", "scalar"

#: a shape is a type name, or (type name, {key: shape}) for a mapping, or (LIST, item shape) for a list
Shape = Any


def _map(**fields: Shape) -> tuple:
    return (MAP, fields)


def _list(item: Shape = None) -> tuple:
    return (LIST, item)


_META = _map(name=SCALAR, namespace=SCALAR, labels=MAP, annotations=MAP)
_TLS = _map(mode=SCALAR, caCertificates=SCALAR, clientCertificate=SCALAR, privateKey=SCALAR, credentialName=SCALAR,
            subjectAltNames=LIST)
_POLICY = _map(tls=_TLS, portLevelSettings=_list(_map(port=MAP, tls=_TLS)))
_SELECTOR = _map(matchLabels=MAP)

# networking.istio.io DestinationRule / Gateway / ServiceEntry / Sidecar (istio/api networking/v1alpha3/*.proto)
DESTINATION_RULE = _map(metadata=_META, spec=_map(
    host=SCALAR, exportTo=_list(SCALAR), workloadSelector=_SELECTOR, trafficPolicy=_POLICY,
    subsets=_list(_map(name=SCALAR, labels=MAP, trafficPolicy=_POLICY))))
GATEWAY = _map(metadata=_META, spec=_map(
    selector=MAP, servers=_list(_map(hosts=_list(SCALAR), port=MAP, tls=_map(mode=SCALAR, credentialName=SCALAR)))))
SERVICE_ENTRY = _map(metadata=_META, spec=_map(
    hosts=_list(SCALAR), addresses=_list(SCALAR), endpoints=_list(_map(address=SCALAR)), location=SCALAR, exportTo=_list(SCALAR)))
SIDECAR = _map(metadata=_META, spec=_map(workloadSelector=_map(labels=MAP)))

# core/v1 PodTemplateSpec, as far as proxies, images and the SPIRE socket are read from it
_CONTAINER = _map(name=SCALAR, image=SCALAR, env=_list(_map(name=SCALAR)), args=_list())
POD_TEMPLATE = _map(metadata=_META, spec=_map(
    containers=_list(_CONTAINER), initContainers=_list(_CONTAINER), serviceAccountName=SCALAR,
    volumes=_list(_map(name=SCALAR, csi=_map(driver=SCALAR), hostPath=_map(path=SCALAR)))))

# install.istio.io/v1alpha1 IstioOperator (istio/istio operator/pkg/apis/values_types.go, components)
_OPERATOR_GATEWAY = _map(name=SCALAR, namespace=SCALAR, label=MAP,
                         k8s=_map(overlays=_list(_map(patches=_list(MAP)))))
ISTIO_OPERATOR = _map(metadata=_META, spec=_map(
    values=MAP, components=_map(pilot=_map(k8s=_map(env=_list(MAP))),
                                ingressGateways=_list(_OPERATOR_GATEWAY), egressGateways=_list(_OPERATOR_GATEWAY))))

# rbac.authorization.k8s.io/v1
ROLE = _map(metadata=_META, rules=_list(_map(apiGroups=_list(SCALAR), resources=_list(SCALAR), verbs=_list(SCALAR))))
ROLE_BINDING = _map(metadata=_META, subjects=_list(MAP), roleRef=MAP)

# GitOps front ends: Argo CD, Flux, kustomize
_ARGO_SOURCE = _map(repoURL=SCALAR, chart=SCALAR, helm=_map(parameters=_list(MAP)))
_ARGO_SPEC = _map(source=_ARGO_SOURCE, sources=_list(_ARGO_SOURCE), destination=MAP)
ARGO_APPLICATION = _map(metadata=_META, spec=_ARGO_SPEC)
ARGO_APPLICATION_SET = _map(metadata=_META, spec=_map(template=_map(spec=_ARGO_SPEC)))
HELM_RELEASE = _map(metadata=_META, spec=_map(chart=_map(spec=_map(sourceRef=MAP)), values=MAP))
KUSTOMIZATION = _map(images=_list(MAP), helmCharts=_list(MAP))

WORKLOAD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"), "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"), "Job": ("spec", "template"), "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}

BY_KIND: dict[str, Shape] = {
    "DestinationRule": DESTINATION_RULE, "Gateway": GATEWAY, "ServiceEntry": SERVICE_ENTRY, "Sidecar": SIDECAR,
    "IstioOperator": ISTIO_OPERATOR, "Role": ROLE, "ClusterRole": ROLE, "RoleBinding": ROLE_BINDING,
    "ClusterRoleBinding": ROLE_BINDING, "Application": ARGO_APPLICATION, "ApplicationSet": ARGO_APPLICATION_SET,
    "HelmRelease": HELM_RELEASE, "Kustomization": KUSTOMIZATION, "Namespace": _map(metadata=_META),
    "ConfigMap": _map(metadata=_META, data=MAP),
}


def _workload_shape(kind: str) -> Shape:
    """A workload's shape: the path down to its pod template (and its own metadata)."""
    shape: Shape = POD_TEMPLATE
    for key in reversed(WORKLOAD_TEMPLATE_PATHS[kind]):
        shape = _map(**{key: shape})
    if kind != "Pod":
        shape = (MAP, {**shape[1], "metadata": _META})
    return shape


#: every checked kind's shape, built once (each document asks)
_SHAPES: dict[str, Shape] = {**BY_KIND, **{kind: _workload_shape(kind) for kind in WORKLOAD_TEMPLATE_PATHS}}


def shape_of(kind: str) -> Shape | None:
    """The declared shape of a kind (workloads: the path down to their pod template), or None."""
    return _SHAPES.get(kind)


def describe(value: Any) -> str:
    """What a value is, in the words of the messages ("a list", "a number", "a !Ref-tagged value")."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Tagged):
        return f"a {value.tag}-tagged value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _fits(value: Any, expected: str) -> bool:
    if value is None:
        return True
    if expected == MAP:
        return isinstance(value, dict)
    if expected == LIST:
        return isinstance(value, list)
    return not isinstance(value, (dict, list)) and not (isinstance(value, Tagged) and isinstance(value.value, (dict, list)))


def first_mismatch(data: Any, shape: Shape, path: tuple = ()) -> tuple[tuple, str, Any] | None:
    """The first (key path, expected type, actual value) where data does not have the declared shape,
    or None.  A plain recursion, not a generator: every document read is checked, and only the first
    mismatch is ever reported."""
    expected, inner = shape if isinstance(shape, tuple) else (shape, None)
    if not _fits(data, expected):
        return path, expected, data
    if data is None or inner is None:
        return None
    if expected == MAP:
        for key, sub in inner.items():
            if key in data:
                found = first_mismatch(data[key], sub, path + (key,))
                if found is not None:
                    return found
    elif expected == LIST:
        for i, item in enumerate(data):
            found = first_mismatch(item, inner, path + (i,))
            if found is not None:
                return found
    return None


def _dotted(path: tuple) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "the document"


def check(doc: Document) -> Problem | None:
    """The first shape mismatch of a document as a one-line problem, or None when it fits."""
    if not isinstance(doc.data, dict):
        return None
    shape = shape_of(doc.kind)
    if shape is None:
        return None
    found = first_mismatch(doc.data, shape)
    if found is None:
        return None
    path, expected, value = found
    name = f"{doc.namespace}/{doc.name}" if doc.namespace else (doc.name or "(unnamed)")
    article = "an" if expected[0] in "aeiou" else "a"
    message = f"{doc.kind} {name}: {_dotted(path)} is {describe(value)}, expected {article} {expected}; not scanned"
    return Problem(doc.path, message, line=doc.line_of(path))


def admit(documents: Iterable[Document]) -> tuple[list[Document], list[Problem]]:
    """Split documents into those the inventory may read and one problem per document that may not."""
    kept: list[Document] = []
    problems: list[Problem] = []
    for doc in documents:
        problem = check(doc)
        if problem is None:
            kept.append(doc)
        else:
            problems.append(problem)
    return kept, problems

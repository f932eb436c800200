"""Deterministic benchmark corpus: ~2,000 files / ~20 MB of realistic GitOps manifests.

    python bench/gen_corpus.py [--out bench/corpus] [--seed 20261129] [--files 2000]

The same seed always gives byte-identical files (only `random.Random(seed)` is used, no clock, no
hash order).  What is in it, roughly in the proportions of a platform team's mesh repository:

- Deployments (+ Service, PodDisruptionBudget) in both sequence styles (indented `- ` and kubectl's
  non-indented), with long env blocks, probes, resources and volumes; about half carry Istio
  annotations, a few opt into the `spire` injection template;
- standalone Services, Namespaces;
- DestinationRules (ISTIO_MUTUAL / DISABLE / SIMPLE with caCertificates; a few SIMPLE without CA);
- VirtualServices with many routes;
- ConfigMaps with embedded configs (nginx.conf, Spring application.yaml, Grafana dashboard JSON,
  Prometheus rules), some of them large;
- ClusterSPIFFEIDs, IstioOperators (gateways, pinned at the same 1.22.x);
- comment-heavy Helm values files (bitnami style `## @param` blocks);
- the findings: istiod Helm values pinning 1.22.x with a `spire` injection template, SPIRE-annotated
  Deployments and SIMPLE DestinationRules without caCertificates in their namespaces (~3 % of files).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
from pathlib import Path

SEED = 20261129
ISTIO = "1.22.4"
SPIRE_NAMESPACES = ("payments", "checkout", "ledger")
TEAMS = ("orders", "search", "catalog", "identity", "billing", "inventory", "shipping", "reviews", "pricing", "notifications",
         "analytics", "recommendations", "media", "fraud", "support", "loyalty", "partners", "reporting")
WORDS = ("api", "worker", "gateway", "sync", "indexer", "scheduler", "exporter", "consumer", "publisher", "cache", "web",
         "admin", "batch", "router", "reconciler", "projector", "importer", "resolver")
VENDORS = ("stripe", "adyen", "sift", "braintree", "plaid", "twilio", "sendgrid", "checkr", "onfido", "marqeta")
CHARTS = ("postgresql", "redis", "kafka", "grafana", "prometheus", "rabbitmq", "elasticsearch", "mongodb", "memcached", "minio")


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    # -- small helpers --------------------------------------------------------------------------
    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def word(self) -> str:
        return self.pick(WORDS)

    def hexs(self, n: int) -> str:
        return "".join(self.pick("0123456789abcdef") for _ in range(n))

    def sentence(self, n: int | None = None) -> str:
        vocab = ("the", "service", "requests", "timeout", "retries", "are", "tuned", "for", "peak", "traffic", "see", "runbook",
                 "owner", "team", "this", "value", "must", "match", "upstream", "limits", "when", "scaling", "cluster", "node",
                 "memory", "budget", "alert", "latency", "p99", "default", "override", "per", "environment", "only", "if")
        n = n or self.r.randint(6, 16)
        return " ".join(self.pick(vocab) for _ in range(n)).capitalize() + "."

    # -- workloads ------------------------------------------------------------------------------
    def env_block(self, indent: str, style_indented: bool, n: int) -> list[str]:
        dash = indent + ("  - " if style_indented else "- ")
        cont = indent + ("    " if style_indented else "  ")
        out = [f"{indent}env:"]
        for i in range(n):
            name = f"{self.word().upper()}_{self.pick(('URL', 'TIMEOUT_MS', 'POOL_SIZE', 'ENABLED', 'LEVEL', 'HOST', 'PORT', 'REGION'))}_{i}"
            kind = self.r.random()
            out.append(f"{dash}name: {name}")
            if kind < 0.6:
                out.append(f'{cont}value: "{self.r.choice(["true", "false", str(self.r.randint(1, 60000)), "info", "eu-west-1", f"http://{self.word()}.svc:8080"])}"')
            elif kind < 0.8:
                out += [f"{cont}valueFrom:", f"{cont}  secretKeyRef:", f"{cont}    name: {self.word()}-secrets", f"{cont}    key: {name.lower()}"]
            elif kind < 0.9:
                out += [f"{cont}valueFrom:", f"{cont}  configMapKeyRef:", f"{cont}    name: {self.word()}-config", f"{cont}    key: {name.lower()}"]
            else:
                out += [f"{cont}valueFrom:", f"{cont}  fieldRef:", f"{cont}    fieldPath: {self.pick(('metadata.name', 'metadata.namespace', 'status.podIP', 'spec.nodeName'))}"]
        return out

    def container(self, base: str, style_indented: bool, name: str, image: str, n_env: int) -> list[str]:
        # base: indentation of the container's keys; its "- " sits two columns to the left
        dash = base[:-2] + "- "
        c = base
        out = [f"{dash}name: {name}", f"{c}image: {image}", f"{c}imagePullPolicy: IfNotPresent"]
        out += [f"{c}ports:"]
        pdash = c + ("  - " if style_indented else "- ")
        pc = c + ("    " if style_indented else "  ")
        out += [f"{pdash}name: http", f"{pc}containerPort: 8080", f"{pc}protocol: TCP", f"{pdash}name: metrics", f"{pc}containerPort: 9090"]
        out += self.env_block(c, style_indented, n_env)
        out += [f"{c}resources:", f"{c}  requests:", f"{c}    cpu: {self.r.choice(['50m', '100m', '250m', '500m'])}",
                f"{c}    memory: {self.r.choice(['128Mi', '256Mi', '512Mi', '1Gi'])}", f"{c}  limits:", f"{c}    memory: {self.r.choice(['256Mi', '512Mi', '1Gi', '2Gi'])}"]
        for probe in ("livenessProbe", "readinessProbe"):
            out += [f"{c}{probe}:", f"{c}  httpGet:", f"{c}    path: /{probe[:-5].lower()}", f"{c}    port: http",
                    f"{c}  initialDelaySeconds: {self.r.randint(1, 30)}", f"{c}  periodSeconds: {self.r.choice([5, 10, 15])}"]
        out += [f"{c}securityContext:", f"{c}  runAsNonRoot: true", f"{c}  readOnlyRootFilesystem: true", f"{c}  allowPrivilegeEscalation: false",
                f"{c}  capabilities:", f"{c}    drop:", f"{c}      - ALL" if style_indented else f"{c}    - ALL"]
        out += [f"{c}volumeMounts:"]
        vdash = c + ("  - " if style_indented else "- ")
        vc = c + ("    " if style_indented else "  ")
        out += [f"{vdash}name: config", f"{vc}mountPath: /etc/{name}", f"{vc}readOnly: true", f"{vdash}name: tmp", f"{vc}mountPath: /tmp"]
        return out

    def deployment(self, ns: str, name: str, *, istio: bool, spire: bool) -> str:
        style = self.r.random() < 0.5
        seq = "  " if style else ""
        image = f"registry.example.com/{ns}/{name}:{self.r.randint(1, 9)}.{self.r.randint(0, 40)}.{self.r.randint(0, 20)}-{self.hexs(7)}"
        lines = [f"# {self.sentence()}", f"# Owner: team-{ns}. {self.sentence()}", "apiVersion: apps/v1", "kind: Deployment", "metadata:",
                 f"  name: {name}", f"  namespace: {ns}", "  labels:", f"    app.kubernetes.io/name: {name}", f"    app.kubernetes.io/part-of: {ns}",
                 f"    app.kubernetes.io/version: \"{self.r.randint(1, 9)}.{self.r.randint(0, 40)}\"", "spec:",
                 f"  replicas: {self.r.randint(1, 12)}", f"  revisionHistoryLimit: {self.r.choice([3, 5, 10])}", "  selector:", "    matchLabels:",
                 f"      app.kubernetes.io/name: {name}", "  strategy:", "    type: RollingUpdate", "    rollingUpdate:", "      maxSurge: 25%",
                 "      maxUnavailable: 0", "  template:", "    metadata:", "      labels:", f"        app.kubernetes.io/name: {name}",
                 f"        app.kubernetes.io/part-of: {ns}"]
        ann = ["      annotations:", f'        prometheus.io/scrape: "true"', '        prometheus.io/port: "9090"',
               f"        checksum/config: {self.hexs(64)}"]
        if istio:
            lines.append('        sidecar.istio.io/inject: "true"')
            ann += ['        proxy.istio.io/config: |', '          holdApplicationUntilProxyStarts: true',
                    f'        sidecar.istio.io/proxyCPU: "{self.r.choice(["50m", "100m"])}"', '        sidecar.istio.io/proxyMemory: "128Mi"',
                    f'        traffic.sidecar.istio.io/excludeOutboundPorts: "{self.r.choice(["5432", "6379", "9092"])}"']
        if spire:
            ann.append('        inject.istio.io/templates: "sidecar,spire"')
        lines += ann
        lines += ["    spec:", f"      serviceAccountName: {name}", "      terminationGracePeriodSeconds: 30", "      securityContext:",
                  "        fsGroup: 65532", "        seccompProfile:", "          type: RuntimeDefault", "      topologySpreadConstraints:",
                  f"{'        - ' if style else '      - '}maxSkew: 1", f"{'          ' if style else '        '}topologyKey: topology.kubernetes.io/zone",
                  f"{'          ' if style else '        '}whenUnsatisfiable: ScheduleAnyway", "      containers:"]
        base = "      " + seq + "  "
        lines += self.container(base, style, name, image, self.r.randint(15, 55))
        if self.r.random() < 0.3:
            lines += self.container(base, style, "log-shipper", f"docker.io/fluent/fluent-bit:3.{self.r.randint(0, 2)}.{self.r.randint(0, 9)}", self.r.randint(3, 8))
        vdash = "      " + seq + "- "
        vc = "      " + seq + "  "
        lines += ["      volumes:", f"{vdash}name: config", f"{vc}configMap:", f"{vc}  name: {name}-config", f"{vdash}name: tmp", f"{vc}emptyDir: {{}}"]
        docs = ["\n".join(lines)]
        if self.r.random() < 0.6:
            docs.append(self.service(ns, name, comment=False))
        if self.r.random() < 0.4:
            docs.append("\n".join(["apiVersion: policy/v1", "kind: PodDisruptionBudget", "metadata:", f"  name: {name}", f"  namespace: {ns}", "spec:",
                                   "  minAvailable: 1", "  selector:", "    matchLabels:", f"      app.kubernetes.io/name: {name}"]))
        return "\n---\n".join(docs) + "\n"

    def service(self, ns: str, name: str, comment: bool = True) -> str:
        lines = [f"# {self.sentence()}"] if comment else []
        lines += ["apiVersion: v1", "kind: Service", "metadata:", f"  name: {name}", f"  namespace: {ns}", "  labels:",
                  f"    app.kubernetes.io/name: {name}", "spec:", "  type: ClusterIP", "  selector:", f"    app.kubernetes.io/name: {name}", "  ports:"]
        ports = [(80, "http"), (9090, "http-metrics")] + ([(8443, "https")] if self.r.random() < 0.3 else [])
        for port, pname in ports:
            lines += [f"    - name: {pname}", f"      port: {port}", f"      targetPort: {port if port != 80 else 8080}", "      protocol: TCP"]
        return "\n".join(lines) + ("\n" if comment else "")

    def namespace(self, ns: str, injected: bool) -> str:
        lines = ["apiVersion: v1", "kind: Namespace", "metadata:", f"  name: {ns}", "  labels:", f"    team: {ns}"]
        if injected:
            lines.append("    istio-injection: enabled")
        return "\n".join(lines) + "\n"

    # -- Istio config -----------------------------------------------------------------------------
    def destination_rule(self, ns: str, name: str, mode: str) -> str:
        host = f"{name}.{ns}.svc.cluster.local" if mode != "SIMPLE-NOCA" else f"api.{self.pick(VENDORS)}.com"
        lines = [f"# {self.sentence()}", "apiVersion: networking.istio.io/v1beta1", "kind: DestinationRule", "metadata:", f"  name: {name}",
                 f"  namespace: {ns}", "spec:", f"  host: {host}", "  trafficPolicy:", "    connectionPool:", "      tcp:",
                 f"        maxConnections: {self.r.choice([100, 500, 1000])}", "        connectTimeout: 3s", "      http:",
                 f"        http2MaxRequests: {self.r.choice([1000, 5000])}", f"        maxRequestsPerConnection: {self.r.choice([0, 10, 100])}",
                 "    outlierDetection:", "      consecutive5xxErrors: 5", "      interval: 30s", "      baseEjectionTime: 60s",
                 "    loadBalancer:", f"      simple: {self.pick(('LEAST_REQUEST', 'ROUND_ROBIN', 'RANDOM'))}"]
        if mode == "ISTIO_MUTUAL":
            lines += ["    tls:", "      mode: ISTIO_MUTUAL"]
        elif mode == "DISABLE":
            lines += ["    tls:", "      mode: DISABLE"]
        elif mode == "SIMPLE-CA":
            lines += ["    tls:", "      mode: SIMPLE", "      caCertificates: /etc/ssl/certs/internal-ca.pem", f"      sni: {host}"]
        else:  # a finding: SIMPLE without caCertificates, on a SPIRE-backed namespace
            lines += ["    tls:", "      mode: SIMPLE", f"      sni: {host}"]
        if self.r.random() < 0.5:
            lines += ["  subsets:"]
            for v in ("v1", "v2", "canary")[: self.r.randint(1, 3)]:
                lines += [f"    - name: {v}", "      labels:", f"        version: {v}"]
        return "\n".join(lines) + "\n"

    def virtual_service(self, ns: str, name: str) -> str:
        lines = [f"# {self.sentence()}", "apiVersion: networking.istio.io/v1beta1", "kind: VirtualService", "metadata:", f"  name: {name}",
                 f"  namespace: {ns}", "spec:", "  hosts:", f"    - {name}.{ns}.svc.cluster.local", f"    - {name}.example.com", "  gateways:",
                 "    - mesh", "    - istio-ingress/public-gateway", "  http:"]
        for i in range(self.r.randint(5, 25)):
            lines += [f"    - name: route-{i}", "      match:", "        - uri:", f"            prefix: /{self.word()}/v{self.r.randint(1, 3)}/{self.word()}",
                      "          headers:", "            x-tenant:", f"              exact: {self.word()}", "      rewrite:",
                      f"        uri: /{self.word()}", "      route:", "        - destination:", f"            host: {self.word()}.{ns}.svc.cluster.local",
                      "            port:", "              number: 80", "            subset: v1", f"          weight: {self.r.choice([90, 100])}",
                      "      retries:", "        attempts: 3", "        perTryTimeout: 2s", "        retryOn: 5xx,reset,connect-failure",
                      f"      timeout: {self.r.choice([5, 10, 30])}s"]
        return "\n".join(lines) + "\n"

    def cluster_spiffe_id(self, ns: str) -> str:
        return "\n".join([f"# {self.sentence()}", "apiVersion: spire.spiffe.io/v1alpha1", "kind: ClusterSPIFFEID", "metadata:",
                          f"  name: {ns}-workloads", "spec:", '  spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"',
                          "  podSelector:", "    matchLabels:", '      spiffe.io/spire-managed-identity: "true"', "  namespaceSelector:",
                          "    matchLabels:", f"      kubernetes.io/metadata.name: {ns}", "  workloadSelectorTemplates:",
                          '    - "k8s:ns:{{ .PodMeta.Namespace }}"', '    - "k8s:sa:{{ .PodSpec.ServiceAccountName }}"']) + "\n"

    def istio_operator(self, i: int) -> str:
        lines = [f"# Ingress gateway {i}: {self.sentence()}", "apiVersion: install.istio.io/v1alpha1", "kind: IstioOperator", "metadata:",
                 f"  name: gateway-{i}", "  namespace: istio-system", "spec:", "  profile: empty", f"  tag: {ISTIO}", "  revision: 1-22-4",
                 "  components:", "    ingressGateways:", f"      - name: istio-ingress-{i}", f"        namespace: istio-ingress-{i}",
                 "        enabled: true", "        k8s:", "          service:", "            type: LoadBalancer", "            ports:"]
        for port in (80, 443, 15021):
            lines += [f"              - port: {port}", f"                targetPort: {port + 8000 if port < 1000 else port}", f"                name: p{port}"]
        lines += ["          hpaSpec:", "            minReplicas: 2", f"            maxReplicas: {self.r.randint(3, 20)}", "          resources:",
                  "            requests:", "              cpu: 500m", "              memory: 512Mi", "          env:"]
        for j in range(self.r.randint(5, 15)):
            lines += [f"            - name: ISTIO_META_{self.word().upper()}_{j}", f'              value: "{self.word()}"']
        return "\n".join(lines) + "\n"

    def istiod_values(self) -> str:
        """The findings' anchor: istiod chart values pinned at 1.22.x with a spire injection template."""
        return f"""# istiod Helm values (chart istiod {ISTIO}); rendered by Argo CD.
# The "spire" injection template mounts the SPIFFE CSI driver socket into the proxy.
global:
  hub: docker.io/istio
  tag: {ISTIO}
  istioNamespace: istio-system
  logAsJson: true
pilot:
  autoscaleMin: 2
  resources:
    requests:
      cpu: 500m
      memory: 2Gi
meshConfig:
  trustDomain: corp.example.org
  accessLogFile: /dev/stdout
sidecarInjectorWebhook:
  templates:
    spire: |
      labels:
        spiffe.io/spire-managed-identity: "true"
      spec:
        containers:
          - name: istio-proxy
            volumeMounts:
              - name: workload-socket
                mountPath: /run/secrets/workload-spiffe-uds
                readOnly: true
        volumes:
          - name: workload-socket
            csi:
              driver: "csi.spiffe.io"
              readOnly: true
"""

    # -- ConfigMaps and values ------------------------------------------------------------------
    def configmap(self, ns: str, name: str, size: int, mentions_istio: bool) -> str:
        kind = self.r.randrange(4)
        lines = [f"# {self.sentence()}", "apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}", f"  namespace: {ns}", "data:"]
        body: list[str] = []
        if kind == 0:
            lines.append("  nginx.conf: |")
            body = ["    worker_processes auto;", "    events { worker_connections 4096; }", "    http {"]
            while sum(len(b) for b in body) < size:
                up = self.word()
                body += [f"      upstream {up}_{len(body)} {{", f"        server {up}.{ns}.svc.cluster.local:8080 max_fails=3 fail_timeout=10s;",
                         "        keepalive 32;", "      }", "      server {", f"        listen {self.r.randint(8000, 9000)};",
                         f"        location /{up}/ {{ proxy_pass http://{up}_{len(body)}; proxy_read_timeout {self.r.randint(5, 60)}s; }}", "      }"]
            body.append("    }")
        elif kind == 1:
            lines.append("  application.yaml: |")
            while sum(len(b) for b in body) < size:
                w = self.word()
                body += [f"    {w}{len(body)}:", "      datasource:", f"        url: jdbc:postgresql://{w}-db.{ns}.svc:5432/{w}",
                         f"        maximum-pool-size: {self.r.randint(5, 50)}", "      cache:", f"        ttl: {self.r.randint(10, 3600)}s",
                         f"        # {self.sentence()}", "      features:", f"        {self.word()}-enabled: {self.r.choice(['true', 'false'])}"]
        elif kind == 2:
            panels = []
            while sum(len(json.dumps(p)) for p in panels) < size:
                metric = "istio_requests_total" if mentions_istio and self.r.random() < 0.5 else f"http_server_requests_seconds_count"
                panels.append({"id": len(panels), "type": "timeseries", "title": self.sentence(4),
                               "targets": [{"expr": f'sum(rate({metric}{{namespace="{ns}",app="{self.word()}"}}[5m])) by (code)', "refId": "A"}],
                               "gridPos": {"h": 8, "w": 12, "x": (len(panels) % 2) * 12, "y": len(panels) * 8},
                               "fieldConfig": {"defaults": {"unit": "reqps", "thresholds": {"steps": [{"color": "green", "value": None}, {"color": "red", "value": 80}]}}}})
            lines.append("  dashboard.json: |")
            body = ["    " + ln for ln in json.dumps({"title": name, "panels": panels}, indent=2).splitlines()]
        else:
            lines.append("  rules.yaml: |")
            body = ["    groups:"]
            while sum(len(b) for b in body) < size:
                metric = "istio_request_duration_milliseconds_bucket" if mentions_istio and self.r.random() < 0.5 else "http_request_duration_seconds_bucket"
                body += [f"      - name: {self.word()}-{len(body)}", "        rules:", f"          - alert: {self.word().capitalize()}HighLatency",
                         f"            expr: histogram_quantile(0.99, sum(rate({metric}{{namespace=\"{ns}\"}}[5m])) by (le)) > {self.r.randint(1, 5)}",
                         "            for: 10m", "            labels:", "              severity: page", "            annotations:",
                         f"              summary: {self.sentence()}"]
        if mentions_istio and kind in (0, 1):
            body.append(f"    # routed through the istio ingress gateway {self.word()}")
        return "\n".join(lines + body) + "\n"

    def helm_values(self, chart: str, size: int) -> str:
        out = [f"## @section Global parameters for the {chart} chart", f"## {self.sentence()}", "##"]
        i = 0
        while sum(len(x) + 1 for x in out) < size:
            key = f"{self.word()}{i}"
            out += ["", f"## @section {key} parameters", "##", f"## @param {key}.enabled Enable {key}", f"## {self.sentence()}",
                    f"## {self.sentence()}", "## ref: https://example.com/docs/" + key, "##", f"{key}:", "  enabled: " + self.r.choice(["true", "false"]),
                    f"  ## @param {key}.replicaCount Number of replicas", f"  replicaCount: {self.r.randint(1, 5)}",
                    f"  ## @param {key}.image.registry {key} image registry", "  ## @param {key}.image.tag image tag (immutable tags are recommended)",
                    "  image:", "    registry: docker.io", f"    repository: bitnami/{chart}", f"    tag: {self.r.randint(1, 17)}.{self.r.randint(0, 9)}.{self.r.randint(0, 9)}",
                    "    ## Specify a imagePullPolicy", "    ## ref: https://kubernetes.io/docs/concepts/containers/images/#pre-pulled-images", "    ##",
                    "    pullPolicy: IfNotPresent", f"  ## @param {key}.resources Set container requests and limits", "  ## Example:",
                    "  ## resources:", "  ##   requests:", "  ##     cpu: 2", "  ##     memory: 512Mi", "  resources: {}",
                    f"  ## @param {key}.extraEnvVars Extra environment variables", "  extraEnvVars: []", f"  # {self.sentence()}",
                    "  podAnnotations: {}", "  nodeSelector: {}", "  tolerations: []"]
            i += 1
        return "\n".join(out) + "\n"


def generate(out: Path, seed: int = SEED, files: int = 2000, git: bool = True) -> dict:
    """Write the corpus into `out` (replacing it); returns counts per kind and total bytes.

    With `git`, the corpus becomes a git work tree of its own (nothing committed), as a GitOps
    repository is: mesh-migrator lists files the way git does, and bench/corpus/ is ignored by the
    enclosing repository, so without its own work tree a scan of it would find nothing.
    """
    g = Gen(seed)
    if out.exists():
        shutil.rmtree(out)
    written: dict[str, int] = {}
    total = 0

    def write(rel: str, text: str, kind: str) -> None:
        nonlocal total
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        p.write_bytes(data)
        written[kind] = written.get(kind, 0) + 1
        total += len(data)

    scale = files / 2000
    n = {k: max(1, round(v * scale)) for k, v in {
        "deployment": 600, "spire-deployment": 30, "service": 150, "namespace": 21, "destinationrule": 230, "simple-dr": 30,
        "virtualservice": 220, "configmap": 260, "clusterspiffeid": 60, "istiooperator": 20, "helm-values": 378}.items()}
    n["istiod-values"] = 1
    # fill up to exactly `files`
    n["helm-values"] += files - sum(n.values())
    namespaces = list(TEAMS) + list(SPIRE_NAMESPACES)

    write("platform/istio/istiod-values.yaml", g.istiod_values(), "istiod-values")
    for i, ns in enumerate(namespaces[: n["namespace"]]):
        write(f"apps/{ns}/namespace.yaml", g.namespace(ns, injected=i % 3 == 0), "namespace")
    for i in range(n["deployment"]):
        ns = TEAMS[i % len(TEAMS)]
        name = f"{g.word()}-{g.word()}-{i}"
        write(f"apps/{ns}/{name}/deployment.yaml", g.deployment(ns, name, istio=g.r.random() < 0.5, spire=False), "deployment")
    for i in range(n["spire-deployment"]):
        ns = SPIRE_NAMESPACES[i % len(SPIRE_NAMESPACES)]
        name = f"{g.word()}-{i}"
        write(f"apps/{ns}/{name}/deployment.yaml", g.deployment(ns, name, istio=True, spire=True), "spire-deployment")
    for i in range(n["service"]):
        ns = TEAMS[i % len(TEAMS)]
        write(f"apps/{ns}/services/{g.word()}-{i}.yaml", g.service(ns, f"{g.word()}-{i}"), "service")
    for i in range(n["destinationrule"]):
        ns = TEAMS[i % len(TEAMS)]
        mode = g.pick(("ISTIO_MUTUAL", "ISTIO_MUTUAL", "ISTIO_MUTUAL", "DISABLE", "SIMPLE-CA"))
        write(f"apps/{ns}/istio/destinationrule-{g.word()}-{i}.yaml", g.destination_rule(ns, f"{g.word()}-{i}", mode), "destinationrule")
    for i in range(n["simple-dr"]):
        ns = SPIRE_NAMESPACES[i % len(SPIRE_NAMESPACES)]
        write(f"apps/{ns}/egress/destinationrule-{i}.yaml", g.destination_rule(ns, f"egress-{i}", "SIMPLE-NOCA"), "simple-dr")
    for i in range(n["virtualservice"]):
        ns = namespaces[i % len(namespaces)]
        write(f"apps/{ns}/istio/virtualservice-{g.word()}-{i}.yaml", g.virtual_service(ns, f"{g.word()}-{i}"), "virtualservice")
    for i in range(n["configmap"]):
        ns = TEAMS[i % len(TEAMS)]
        size = int(g.r.lognormvariate(10.1, 0.6))  # median ~27 KB, a long tail of large ones
        write(f"apps/{ns}/config/{g.word()}-{i}.yaml", g.configmap(ns, f"{g.word()}-{i}", min(size, 400_000), g.r.random() < 0.1), "configmap")
    for i in range(n["clusterspiffeid"]):
        write(f"platform/spire/clusterspiffeids/{namespaces[i % len(namespaces)]}-{i}.yaml", g.cluster_spiffe_id(namespaces[i % len(namespaces)]), "clusterspiffeid")
    for i in range(n["istiooperator"]):
        write(f"platform/istio/gateways/gateway-{i}.yaml", g.istio_operator(i), "istiooperator")
    for i in range(n["helm-values"]):
        chart = CHARTS[i % len(CHARTS)]
        write(f"platform/charts/{chart}/values-{i}.yaml", g.helm_values(chart, int(g.r.lognormvariate(8.9, 0.5))), "helm-values")
    if git and shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(out)], check=True)
    return {"files": sum(written.values()), "bytes": total, "by_kind": written}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "corpus"))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--no-git", action="store_true", help="do not make the corpus a git work tree")
    args = ap.parse_args()
    stats = generate(Path(args.out), args.seed, args.files, git=not args.no_git)
    print(f"{stats['files']} files, {stats['bytes'] / 1e6:.1f} MB in {args.out}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(stats["by_kind"].items())))


if __name__ == "__main__":
    main()

"""Scale corpus for issue 12/15: many small mesh-relevant files plus a few very large ones.

    python bench/gen_scale.py --out /tmp/scale-20k --files 20000 --big 50 [--big-mb 5] [--seed 12]

Shape (deterministic for a seed): 30 % SPIRE-injected Deployments, 15 % DestinationRules (most
without exportTo, so every proxy sees them; a tenth SIMPLE without CA), the rest Services and
ConfigMaps that mention istio labels, spread over 200 namespaces; one istiod values file pinning
1.22.4 with a `spire` injection template; `--big` ConfigMaps of `--big-mb` MB each (a Grafana
dashboard dump: the kind of file that makes a parser work).  This is the dense case: almost every
file passes the byte prefilter.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

ISTIOD = """# istiod values (helm upgrade istiod istio/istiod --version 1.22.4)
global:
  hub: docker.io/istio
  tag: 1.22.4
sidecarInjectorWebhook:
  templates:
    spire: |
      spec:
        volumes:
          - name: workload-socket
            csi:
              driver: "csi.spiffe.io"
              readOnly: true
"""

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app: {name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
        version: v{v}
      annotations:
        inject.istio.io/templates: "sidecar,spire"
    spec:
      serviceAccountName: {name}
      containers:
        - name: {name}
          image: registry.example.com/{ns}/{name}:{v}.4.1
          ports:
            - containerPort: 8080
          env:
            - name: UPSTREAM
              value: http://{ns}-upstream.example.com:443
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
"""

DR = """apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: {host}
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
    tls:
      mode: {mode}
{extra}"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app: {name}
    istio.io/part-of: mesh
spec:
  selector:
    app: {name}
  ports:
    - name: http
      port: 80
      targetPort: 8080
"""


def big_configmap(r: random.Random, i: int, mb: int) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: dashboards-{i}", "  namespace: monitoring",
             "  labels:", "    istio.io/dashboard: \"true\"", "data:"]
    size = 0
    j = 0
    while size < mb * 1024 * 1024:
        line = f"  panel-{j}.json: '{{\"title\": \"istio requests {j}\", \"expr\": \"sum(rate(istio_requests_total{{reporter=\\\"destination\\\"}}[{r.randint(1, 9)}m]))\", \"gridPos\": {{\"x\": {j % 24}, \"y\": {j}}}}}'"
        lines.append(line)
        size += len(line) + 1
        j += 1
    return "\n".join(lines) + "\n"


def generate(out: Path, files: int, big: int, big_mb: int, seed: int) -> None:
    r = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "istio").mkdir(exist_ok=True)
    (out / "istio" / "istiod-values.yaml").write_text(ISTIOD)
    namespaces = [f"team-{n:03d}" for n in range(200)]
    for i in range(files):
        ns = namespaces[i % len(namespaces)]
        d = out / "apps" / ns
        d.mkdir(parents=True, exist_ok=True)
        roll = r.random()
        name = f"svc-{i:05d}"
        if roll < 0.30:
            text = DEPLOY.format(name=name, ns=ns, v=r.randint(1, 9))
        elif roll < 0.45:
            simple = r.random() < 0.10
            extra = "" if simple else "      caCertificates: /etc/certs/ca.pem\n" if r.random() < 0.5 else ""
            mode = "SIMPLE" if simple or extra else "ISTIO_MUTUAL"
            export = "  exportTo: [\".\"]\n" if r.random() < 0.2 else ""
            text = DR.format(name=name, ns=ns, host=f"{name}.{ns}.example.com", mode=mode, extra=extra) + export
        else:
            text = SERVICE.format(name=name, ns=ns)
        (d / f"{name}.yaml").write_text(text)
    big_dir = out / "monitoring"
    big_dir.mkdir(exist_ok=True)
    for i in range(big):
        (big_dir / f"dashboards-{i:02d}.yaml").write_text(big_configmap(r, i, big_mb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--big", type=int, default=50)
    ap.add_argument("--big-mb", type=int, default=5)
    ap.add_argument("--seed", type=int, default=12)
    a = ap.parse_args()
    generate(Path(a.out), a.files, a.big, a.big_mb, a.seed)


if __name__ == "__main__":
    main()

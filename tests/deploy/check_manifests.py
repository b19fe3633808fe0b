#!/usr/bin/env python3
"""Checks the Helm chart (rendered by real Helm: tests/deploy/helm.py) and deploy/k8s.

usage: check_manifests.py REPO_ROOT OUT_DIR
Renders helm/warden with its defaults and with --set variations, checks the
objects Warden relies on, checks that deploy/k8s holds the same objects as
the plain rendering (so the two cannot drift), checks every flag the
rendered containers pass against the binaries' --help (when $WARDEN_BIN_DIR
holds a build), and writes the renderings to OUT_DIR for the schema
validator. Prints "ok: ..." per check and "FAIL: ..." per failure; exits 1
when anything failed, 77 when there is no helm binary.
"""

import copy
import difflib
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helm  # noqa: E402

failures = []

# The chart requires a database URL (or an existing Secret).
DATABASE = "secret.databaseUrl=postgresql://warden:change-me@postgres:5432/warden"
# deploy/k8s: the Secret is left to `kubectl create secret`, so that a
# re-apply never overwrites real credentials with placeholders.
PLAIN = ["secret.existingSecret=warden"]
# Agents and TLS from cert-manager, with the CA the agents trust.
TLS_WITH_AGENTS = ["agent.enabled=true", "tls.enabled=true", "tls.certManager.enabled=true",
                   "tls.certManager.issuerRef.name=warden-ca",
                   "tls.agentCa.configMapName=warden-ca"]


def check(condition, message):
    if condition:
        print(f"ok: {message}")
    else:
        print(f"FAIL: {message}")
        failures.append(message)
    return condition


def render(root, sets, database=True):
    """Returns (text, [objects]) of the chart rendered with `sets`."""
    sets = ([DATABASE] if database else []) + list(sets)
    try:
        text, rendered = helm.template(os.path.join(root, "helm", "warden"), sets)
    except helm.HelmError as error:
        check(False, f"the chart renders with --set {' '.join(sets)}: {error}")
        return "", []
    objects = []
    for name, documents in rendered:
        for document in documents:
            where = f"templates/{name} (--set {' '.join(sets)})"
            if not isinstance(document, dict):
                check(False, f"{where}: a YAML mapping, not {type(document).__name__}")
                continue
            kind = document.get("kind")
            name_ = (document.get("metadata") or {}).get("name")
            check(document.get("apiVersion") and kind and name_,
                  f"{where}: {kind}/{name_} has apiVersion, kind and metadata.name")
            objects.append(document)
    return text, objects


def refused(root, sets, message, database=True):
    """The chart refuses `sets` with an error that says `message`."""
    sets = ([DATABASE] if database else []) + list(sets)
    try:
        helm.template(os.path.join(root, "helm", "warden"), sets)
    except helm.HelmError as error:
        return check(message in str(error),
                     f"--set {' '.join(sets) or 'nothing'} is refused saying {message!r} "
                     f"(said: {str(error)[-160:]})")
    return check(False, f"--set {' '.join(sets) or 'nothing'} is refused")


def find(objects, kind, name=None):
    return [o for o in objects if o.get("kind") == kind and
            (name is None or o["metadata"]["name"] == name)]


def dig(value, *path):
    for part in path:
        if isinstance(value, list):
            value = value[part] if isinstance(part, int) and part < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def container_of(objects, kind):
    found = find(objects, kind)
    return found[0]["spec"]["template"]["spec"]["containers"][0] if found else {}


def args_with(container, prefix):
    return [str(a) for a in container.get("args", []) if str(a).startswith(prefix)]


def check_defaults(objects):
    deployments = find(objects, "Deployment")
    if not check(len(deployments) == 1, "defaults: one Deployment (the control plane)"):
        return
    deployment = deployments[0]
    spec = deployment["spec"]
    check(isinstance(spec.get("replicas"), int) and spec["replicas"] >= 2,
          f"defaults: Deployment replicas >= 2 (got {spec.get('replicas')!r})")
    check(spec.get("minReadySeconds", 0) > 0, "defaults: Deployment minReadySeconds > 0")
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    check(all(pod_labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
          "defaults: Deployment selector matches its pod labels")
    check(re.fullmatch(r"[0-9a-f]{64}", str(dig(spec, "template", "metadata", "annotations",
                                                 "checksum/secret"))),
          "defaults: a checksum/secret annotation rolls the pods when the Secret changes")
    check({c.get("topologyKey") for c in pod.get("topologySpreadConstraints", [])} ==
          {"kubernetes.io/hostname", "topology.kubernetes.io/zone"},
          "defaults: replicas spread over nodes and zones")
    container = pod["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    check({"admin", "agent", "metrics"} <= set(ports),
          f"defaults: container ports admin, agent and metrics ({sorted(ports)})")
    # HTTP probes on the ops listener, so that they pass with TLS on the
    # gRPC ports; readiness follows the database, startup and liveness only
    # the process (a database outage restarts no replica).
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):
        check(dig(container, probe, "httpGet") == {"path": path, "port": "metrics"},
              f"defaults: {probe} is GET {path} on the metrics port")
    check(args_with(container, "--listen=") == [f"--listen=0.0.0.0:{ports.get('admin')}"] and
          args_with(container, "--agent-listen=") ==
          [f"--agent-listen=0.0.0.0:{ports.get('agent')}"],
          "defaults: the admin API on --listen, the agent API on --agent-listen")
    check(args_with(container, "--metrics-listen") == ["--metrics-listen=0.0.0.0:9090"],
          "defaults: --metrics-listen=0.0.0.0:9090 (the probes' listener)")
    check(args_with(container, "--grpc-max-connection-age-seconds=") ==
          ["--grpc-max-connection-age-seconds=1800"],
          "defaults: connections are recycled after 30 minutes, so agents rebalance")
    check(args_with(container, "--insecure") == ["--insecure"] and
          not args_with(container, "--tls-"), "defaults: plaintext (tls.enabled=false)")
    threads = [int(a.split("=")[1]) for a in args_with(container, "--password-threads=") +
               args_with(container, "--admission-password-threads=")]
    limit = str(dig(container, "resources", "limits", "memory"))
    check(len(threads) == 2 and limit.endswith("Mi") and
          int(limit[:-2]) >= sum(threads) * 64 + 128,
          f"defaults: hashing threads {threads} x 64 MiB fit the memory limit {limit}")
    check(dig(pod, "securityContext", "runAsNonRoot") is True,
          "defaults: pod securityContext runAsNonRoot")
    security = container.get("securityContext") or {}
    check(security.get("runAsNonRoot") is True and
          security.get("readOnlyRootFilesystem") is True and
          security.get("allowPrivilegeEscalation") is False and
          dig(security, "capabilities", "drop") == ["ALL"],
          "defaults: container runAsNonRoot, readOnlyRootFilesystem, no privilege "
          "escalation, drops ALL capabilities")
    env = {e["name"]: e for e in container.get("env", [])}
    secret_name = dig(env, "WARDEN_DATABASE_URL", "valueFrom", "secretKeyRef", "name")
    check(secret_name is not None, "defaults: WARDEN_DATABASE_URL comes from a Secret")
    check(dig(env, "WARDEN_ADMIN_KEY", "valueFrom", "secretKeyRef", "optional") is True,
          "defaults: WARDEN_ADMIN_KEY comes from the Secret, optional")

    secrets = find(objects, "Secret", secret_name)
    check(len(secrets) == 1 and "database-url" in (secrets[0].get("stringData") or {}),
          f"defaults: Secret {secret_name} with database-url")

    pdbs = find(objects, "PodDisruptionBudget")
    check(len(pdbs) == 1 and pdbs[0]["spec"].get("maxUnavailable") == 1 and
          "minAvailable" not in pdbs[0]["spec"] and
          pdbs[0]["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"],
          "defaults: PodDisruptionBudget maxUnavailable 1 for the control plane pods (a "
          "single replica does not block node drains)")

    services = {s["metadata"]["name"]: s for s in find(objects, "Service")}
    check(sorted(services) == ["warden-agent-api", "warden-control", "warden-metrics"],
          f"defaults: three Services, admin API, agent API, metrics ({sorted(services)})")
    metrics = services.get("warden-metrics", {"spec": {}})
    check(metrics["spec"].get("type") == "ClusterIP" and
          [p["name"] for p in metrics["spec"].get("ports", [])] == ["metrics"],
          "defaults: metrics on a ClusterIP Service of their own")
    admin = services.get("warden-control", {"spec": {"ports": []}})
    agent = services.get("warden-agent-api", {"spec": {"ports": []}})
    admin_ports = {p["name"]: p for p in admin["spec"]["ports"]}
    agent_ports = {p["name"]: p for p in agent["spec"]["ports"]}
    check(list(admin_ports) == ["grpc"] and dig(admin_ports, "grpc", "targetPort") == "admin",
          "defaults: the admin Service has the admin API alone")
    check(list(agent_ports) == ["grpc"] and dig(agent_ports, "grpc", "targetPort") == "agent",
          "defaults: the agent Service has the agent API alone")
    check(admin["spec"].get("type") == "ClusterIP", "defaults: the admin Service is ClusterIP")
    for service in (admin, agent):
        check(all(pod_labels.get(k) == v for k, v in service["spec"].get("selector", {}).items())
              and service["spec"].get("selector"),
              f"defaults: Service {service.get('metadata', {}).get('name')} selects the control "
              "plane pods")
    tests = [o for o in find(objects, "Pod") if helm.is_hook(o)]
    check(len(tests) == 1 and tests[0]["metadata"]["annotations"]["helm.sh/hook"] == "test",
          "defaults: a `helm test` pod")
    for kind in ("DaemonSet", "ServiceMonitor", "PodMonitor", "PrometheusRule", "Certificate",
                 "NetworkPolicy", "HorizontalPodAutoscaler"):
        check(not find(objects, kind), f"defaults: no {kind}")


def check_agent(objects):
    daemonsets = find(objects, "DaemonSet")
    if not check(len(daemonsets) == 1, "agent.enabled=true: one DaemonSet"):
        return
    pod = daemonsets[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    check(pod.get("hostNetwork") is True, "agent: hostNetwork")
    check(dig(pod, "nodeSelector", "warden.io/vpn-node") == "true",
          "agent: nodeSelector warden.io/vpn-node: \"true\"")
    check("NET_ADMIN" in (dig(container, "securityContext", "capabilities", "add") or []) and
          dig(container, "securityContext", "capabilities", "drop") == ["ALL"],
          "agent: only the NET_ADMIN capability")
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    check(mounts.get("state") == "/var/lib/warden-agent" and
          dig(volumes, "state", "hostPath", "path"),
          "agent: hostPath state directory mounted at /var/lib/warden-agent")
    check(dig(volumes, "tickets", "secret", "secretName") == "warden-agent-tickets",
          "agent: tickets from the Secret warden-agent-tickets (ticketSource secret)")
    service = find(objects, "Service", "warden-agent-api")
    port = service[0]["spec"]["ports"][0]["port"] if service else None
    check(args_with(container, "--control=") == [f"--control=warden-agent-api:{port}"],
          "agent: --control points at the agent API Service")
    env = {e["name"]: e for e in container.get("env", [])}
    ports = {p["name"]: p for p in container.get("ports", [])}
    check(args_with(container, "--metrics-listen") == ["--metrics-listen=[$(WARDEN_HOST_IP)]:9091"]
          and dig(env, "WARDEN_HOST_IP", "valueFrom", "fieldRef", "fieldPath") == "status.hostIP"
          and dig(ports, "metrics", "containerPort") == 9091,
          "agent: metrics on the node's own address (status.hostIP), port 9091")
    check(all(dig(container, probe, "httpGet", "port") == "metrics"
              for probe in ("startupProbe", "livenessProbe", "readinessProbe")),
          "agent: startup, liveness and readiness probes on the metrics port")
    check(not find(objects, "PodMonitor"), "agent: no PodMonitor unless metrics.podMonitor.enabled")


def check_tls(root):
    _, objects = render(root, TLS_WITH_AGENTS + ["tls.certManager.issuerRef.kind=ClusterIssuer"])
    certificates = find(objects, "Certificate")
    if not check(len(certificates) == 1, "tls + certManager: one Certificate"):
        return
    certificate = certificates[0]["spec"]
    names = set(certificate.get("dnsNames", []))
    check({"warden-control", "warden-agent-api", "warden-agent-api.default.svc",
           "warden-control.default.svc.cluster.local"} <= names,
          f"tls: the certificate names both Services ({sorted(names)})")
    check(certificate.get("secretName") == "warden-tls" and
          dig(certificate, "issuerRef", "name") == "warden-ca" and
          dig(certificate, "issuerRef", "kind") == "ClusterIssuer",
          "tls: cert-manager writes Secret warden-tls from the issuer asked for")
    control = container_of(objects, "Deployment")
    pod = find(objects, "Deployment")[0]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    check(args_with(control, "--tls-cert=") == ["--tls-cert=/etc/warden/tls/tls.crt"] and
          args_with(control, "--tls-key=") == ["--tls-key=/etc/warden/tls/tls.key"] and
          not args_with(control, "--insecure") and
          dig(volumes, "tls", "secret", "secretName") == "warden-tls",
          "tls: warden-control serves the mounted certificate, not plaintext")
    check(dig(control, "readinessProbe", "httpGet", "path") == "/readyz",
          "tls: the probes stay plain HTTP on the ops listener")
    agent = container_of(objects, "DaemonSet")
    agent_pod = find(objects, "DaemonSet")[0]["spec"]["template"]["spec"]
    agent_volumes = {v["name"]: v for v in agent_pod.get("volumes", [])}
    check(args_with(agent, "--ca=") == ["--ca=/etc/warden-agent/ca/ca.crt"] and
          not args_with(agent, "--insecure") and
          dig(agent_volumes, "control-ca", "configMap", "name") == "warden-ca",
          "tls: agents trust the CA from the ConfigMap")
    check(not any(dig(v, "secret", "secretName") == "warden-tls" for v in agent_volumes.values()),
          "tls: no VPN node mounts the control plane's private key")
    refused(root, ["tls.enabled=true", "tls.certManager.enabled=true"],
            "tls.certManager.issuerRef.name")
    refused(root, ["tls.certManager.enabled=true", "tls.certManager.issuerRef.name=x"],
            "set tls.enabled=true as well")
    refused(root, ["tls.enabled=true", "agent.enabled=true"], "tls.agentCa.configMapName")


def check_options(root):
    refused(root, [], "set secret.databaseUrl", database=False)
    _, scaled = render(root, ["autoscaling.enabled=true", "autoscaling.maxReplicas=5"])
    hpas = find(scaled, "HorizontalPodAutoscaler")
    check(len(hpas) == 1 and hpas[0]["spec"]["maxReplicas"] == 5 and
          dig(hpas, 0, "spec", "scaleTargetRef", "name") == "warden-control" and
          "replicas" not in find(scaled, "Deployment")[0]["spec"],
          "autoscaling: an HPA on the Deployment, which then leaves replicas to it")
    _, policed = render(root, ["networkPolicy.enabled=true", "networkPolicy.databasePort=6432"])
    policies = find(policed, "NetworkPolicy")
    if check(len(policies) == 1, "networkPolicy.enabled: one NetworkPolicy"):
        policy = policies[0]["spec"]
        ingress = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
        egress = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
        check(ingress == {"admin", "agent", "metrics"} and egress == {53, 6432} and
              set(policy["policyTypes"]) == {"Ingress", "Egress"},
              f"networkPolicy: ingress to admin, agent, metrics ({ingress}); egress to DNS and "
              f"PostgreSQL ({egress})")
    _, rules = render(root, ["metrics.prometheusRule.enabled=true"])
    rule_objects = find(rules, "PrometheusRule")
    if check(len(rule_objects) == 1, "metrics.prometheusRule.enabled: one PrometheusRule"):
        sources = ""
        for directory in ("controlplane", "agent", "common"):
            for base, _, files in os.walk(os.path.join(root, directory)):
                for name in files:
                    if name.endswith((".cc", ".h")):
                        with open(os.path.join(base, name), encoding="utf-8") as f:
                            sources += f.read()
        for rule in rule_objects[0]["spec"]["groups"][0]["rules"]:
            metrics = {m for m in re.findall(r"\b(warden_[a-z_]+?)(?:_bucket)?\b", rule["expr"])}
            missing = sorted(m for m in metrics if f'"{m}"' not in sources)
            check(not missing, f"PrometheusRule {rule['alert']}: every metric it reads exists "
                               f"(missing {missing})")
    _, hostpath = render(root, ["agent.enabled=true", "agent.ticketSource=hostPath"])
    volumes = {v["name"]: v for v in
               find(hostpath, "DaemonSet")[0]["spec"]["template"]["spec"]["volumes"]}
    check(dig(volumes, "tickets", "hostPath", "path") == "/etc/warden-agent/tickets" and
          not dig(volumes, "tickets", "secret"),
          "agent.ticketSource=hostPath: each node reads its own ticket from the node")


def check_flags(objects_lists):
    """Every flag a rendered container passes is one its binary knows."""
    bin_dir = os.environ.get("WARDEN_BIN_DIR", "")
    binaries = {"warden-control": os.path.join(bin_dir, "controlplane", "warden-control"),
                "warden-agent": os.path.join(bin_dir, "agent", "warden-agent")}
    if not bin_dir or not all(os.access(p, os.X_OK) for p in binaries.values()):
        print("skip: the containers' flags are not checked against --help (set WARDEN_BIN_DIR "
              "to a build directory)")
        return
    known = {}
    for name, path in binaries.items():
        help_text = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
        known[name] = set(re.findall(r"(--[a-z0-9-]+)", help_text))
    for objects in objects_lists:
        for document in objects:
            spec = dig(document, "spec", "template", "spec") or {}
            for container in spec.get("containers", []):
                binary = "warden-agent" if "agent" in container["image"].split(":")[0] \
                    else "warden-control"
                flags = {str(a).split("=")[0] for a in container.get("args", [])
                         if str(a).startswith("--")}
                unknown = sorted(flags - known[binary])
                check(not unknown, f"{document['kind']}/{document['metadata']['name']}: {binary} "
                                   f"knows every flag passed ({unknown or 'all known'})")


def normalise(document):
    return helm.strip_helm_labels(copy.deepcopy(document))


def compare_plain(root, defaults, agent_objects):
    k8s = os.path.join(root, "deploy", "k8s")

    def load(directory):
        found = {}
        for name in sorted(os.listdir(directory)):
            if not name.endswith((".yaml", ".yml")):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                for document in yaml.safe_load_all(f):
                    if document:
                        key = (document.get("kind"), document["metadata"]["name"])
                        check(key not in found, f"deploy/k8s: {key} appears once")
                        found[key] = normalise(document)
        return found

    def compare(plain, rendered, where):
        check(sorted(plain) == sorted(rendered),
              f"{where}: same objects as the chart ({sorted(rendered)}; has {sorted(plain)})")
        for key in sorted(set(plain) & set(rendered)):
            if not check(plain[key] == rendered[key],
                         f"{where}: {key[0]}/{key[1]} equals the chart's rendering"):
                dump = lambda o: yaml.safe_dump(o, sort_keys=True).splitlines()  # noqa: E731
                sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
                    dump(rendered[key]), dump(plain[key]), "chart", where, lineterm=""))

    # Helm's hooks (the migration Job, the test pod) are left out: without
    # Helm, replicas apply the migrations themselves on start.
    rendered = {(o["kind"], o["metadata"]["name"]): normalise(o)
                for o in defaults if not helm.is_hook(o)}
    compare(load(k8s), rendered, "deploy/k8s")
    agent = {(o["kind"], o["metadata"]["name"]): normalise(o)
             for o in agent_objects if o["kind"] == "DaemonSet"}
    compare(load(os.path.join(k8s, "optional")), agent, "deploy/k8s/optional")


def check_values_used(root):
    """Every value in values.yaml is read by a template (itself or a parent map)."""
    import re
    chart = os.path.join(root, "helm", "warden")
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as f:
        values = yaml.safe_load(f)
    text = ""
    for name in sorted(os.listdir(os.path.join(chart, "templates"))):
        with open(os.path.join(chart, "templates", name), encoding="utf-8") as f:
            text += f.read()
    used = set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text))
    unused = []

    def walk(node, path):
        if path and any(path == u or path.startswith(u + ".") for u in used):
            return
        if isinstance(node, dict) and node:
            for key, child in node.items():
                walk(child, f"{path}.{key}")
        else:
            unused.append(path[1:])

    walk(values, "")
    check(not unused, f"values.yaml: every value is used by a template (unused: {unused})")


def check_compose(root):
    with open(os.path.join(root, "docker-compose.yml"), encoding="utf-8") as f:
        compose = yaml.safe_load(f)  # PyYAML resolves the << merge keys
    services = compose.get("services") or {}
    postgres = services.get("postgres") or {}
    check(str(postgres.get("image")).startswith("warden-postgres:") and postgres.get("healthcheck"),
          "compose: warden-postgres with a healthcheck")
    for name in ("control-1", "control-2"):
        service = services.get(name) or {}
        env = service.get("environment") or {}
        check(str(service.get("image")).startswith("warden-control:") and
              "@postgres:5432/" in str(env.get("WARDEN_DATABASE_URL")) and
              "WARDEN_ADMIN_KEY" in env and
              dig(service, "depends_on", "postgres", "condition") == "service_healthy" and
              service.get("read_only") and "ALL" in (service.get("cap_drop") or []),
              f"compose: {name} is warden-control on the shared database, with the admin key, "
              "read-only and without capabilities")
    check(dig(services, "control-1", "environment", "WARDEN_REPLICA_ID") !=
          dig(services, "control-2", "environment", "WARDEN_REPLICA_ID"),
          "compose: the two replicas have different replica ids")
    enroll = services.get("enroll") or {}
    check(str(enroll.get("image")).startswith("warden-control:") and
          dig(enroll, "depends_on", "control-1", "condition") == "service_healthy" and
          any(str(v).endswith(":/tickets") for v in enroll.get("volumes") or []),
          "compose: the enroll service asks control-1 for tickets into a shared volume")
    drivers = {}
    for name, service in services.items():
        for arg in service.get("command") or []:
            if str(arg).startswith("--driver="):
                drivers[str(arg)[len("--driver="):].split(":")[0]] = (name, service)
    check(set(drivers) == {"openvpn", "wireguard"},
          f"compose: one agent with the openvpn driver, one with wireguard (got {sorted(drivers)})")
    enroll_script = " ".join(str(line) for line in enroll.get("command") or [])
    for driver, (name, service) in drivers.items():
        env = service.get("environment") or {}
        node = next((str(a).split("=", 1)[1] for a in service.get("command") or []
                     if str(a).startswith("--node-name=")), None)
        check(str(service.get("image")).startswith("warden-agent:") and
              env.get("WARDEN_AGENT_NODE_NAME") == node and node and node in enroll_script and
              env.get("WARDEN_AGENT_TICKET_DIR") == "/tickets" and
              dig(service, "depends_on", "enroll", "condition") == "service_completed_successfully",
              f"compose: {name} is the agent image and enrols as {node} with the enroll service's ticket")
    if "wireguard" in drivers:
        service = drivers["wireguard"][1]
        check("NET_ADMIN" in (service.get("cap_add") or []) and
              any(str(d).startswith("/dev/net/tun") for d in service.get("devices") or []) and
              not service.get("privileged"),
              "compose: the WireGuard agent has NET_ADMIN and /dev/net/tun, not privileged")
    for name in [name for name, _ in drivers.values()] + ["openvpn", "postgres"]:
        service = services.get(name) or {}
        check("ALL" in (service.get("cap_drop") or []) and
              set(service.get("cap_add") or []) <= {"NET_ADMIN"},
              f"compose: {name} drops every capability (NET_ADMIN at most is added back)")
    if "openvpn" in drivers:
        name, service = drivers["openvpn"]
        command = " ".join(service.get("command"))
        socket_volume = [v for v in service.get("volumes") or [] if str(v).endswith(":/run/openvpn")]
        server = [s for n, s in services.items() if n != name and
                  any(str(v) in socket_volume for v in s.get("volumes") or [])]
        check("mgmt=unix:/run/openvpn/server.sock" in command and len(server) == 1,
              "compose: the OpenVPN agent shares /run/openvpn with an OpenVPN server")
    for name, service in services.items():
        for port in service.get("ports") or []:
            port = str(port)
            check(port.startswith("127.0.0.1:") or
                  (port.endswith("/udp") and port.startswith("${WARDEN_VPN_BIND")),
                  f"compose: {name} publishes {port} on 127.0.0.1 (VPN ports on WARDEN_VPN_BIND)")


def dockerfile_lines(path):
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    return text, [line.strip() for line in text.splitlines()
                  if line.strip() and not line.strip().startswith("#")]


def check_dockerfiles(root):
    import re
    with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
        ignored = {line.strip().strip("/") for line in f if line.strip()}
    check({"build", ".warden", ".git", ".env"} <= ignored,
          ".dockerignore keeps build/, .warden/, .git and .env out of images")

    # scripts/lib/image-binaries.sh: the binaries the images carry.
    with open(os.path.join(root, "scripts", "lib", "image-binaries.sh"), encoding="utf-8") as f:
        binaries = dict(re.findall(r"\[([\w-]+)\]=(\S+)", f.read()))
    check({"warden-control", "warden-agent", "wardenctl", "grpcurl-compat"} <= set(binaries),
          f"image-binaries.sh builds every binary the images carry ({sorted(binaries)})")
    for target, path in binaries.items():
        directory = os.path.dirname(path)
        with open(os.path.join(root, directory, "CMakeLists.txt"), encoding="utf-8") as f:
            check(re.search(rf"add_executable\(\s*{re.escape(target)}\b", f.read()),
                  f"image-binaries.sh: {directory}/CMakeLists.txt defines {target}")

    # Dockerfile.build: the one compile stage.
    text, lines = dockerfile_lines(os.path.join(root, "deploy", "docker", "Dockerfile.build"))
    check("WARDEN_BUILD_PACKAGES" in text and "image-binaries.sh" in text,
          "Dockerfile.build: installs WARDEN_BUILD_PACKAGES and runs image-binaries.sh")
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
        top = f.read()
    # CMake configures every directory the top CMakeLists.txt adds (tests and
    # benchmarks are off), so each must be in the build context.
    needed = {d for d in re.findall(r"^add_subdirectory\((\S+?)\)", top, re.M)
              if d not in ("tests", "bench")}
    copied = {line.split()[1].rstrip("/") for line in lines
              if line.startswith("COPY ") and "--from=" not in line}
    missing = sorted(d for d in needed if not any(d == c or d.startswith(c + "/") for c in copied))
    check(not missing, f"Dockerfile.build: copies every directory CMake adds (missing {missing})")

    # Dockerfile: the runtime targets.
    docker_dir = os.path.join(root, "deploy", "docker")
    text, lines = dockerfile_lines(os.path.join(docker_dir, "Dockerfile"))
    stages = {}
    current = None
    for line in lines:
        if line.startswith("FROM "):
            words = line.split()
            current = words[3] if len(words) > 3 and words[2].upper() == "AS" else None
            stages[current] = {"from": words[1], "lines": []}
        elif current:
            stages[current]["lines"].append(line)
    check({"control", "agent", "openvpn", "postgres"} <= set(stages),
          f"Dockerfile: targets control, agent, openvpn, postgres ({sorted(stages)})")
    for name, stage in stages.items():
        check(stage["from"] in ("scratch", "${WARDEN_BINARIES}") or
              stage["from"].startswith("debian:bookworm") or stage["from"] in stages,
              f"Dockerfile: stage {name} starts from Debian 12, scratch or another stage")
        for line in stage["lines"]:
            if line.startswith("COPY ") and "--from=" not in line:
                sources = line.split()[1:-1]
                check(all(os.path.exists(os.path.join(docker_dir, s)) for s in sources),
                      f"Dockerfile: COPY sources exist in deploy/docker: {sources}")
            if line.startswith("COPY --from=binaries"):
                carried = [os.path.basename(s) for s in line.split()[2:-1]]
                check(set(carried) <= set(binaries),
                      f"Dockerfile: {name} copies binaries image-binaries.sh builds ({carried})")
    for name in ("control", "agent", "openvpn", "postgres"):
        check(any(line.startswith("HEALTHCHECK CMD") or line.startswith("HEALTHCHECK --")
                  for line in stages.get(name, {}).get("lines", [])),
              f"Dockerfile: {name} has a HEALTHCHECK")
    control = stages.get("control", {}).get("lines", [])
    user = [line.split()[1] for line in control if line.startswith("USER ")]
    check(user and not user[-1].startswith(("0", "root")),
          f"Dockerfile: control runs as a non-root user ({user})")
    check(any(line.startswith("HEALTHCHECK") and "grpc.health.v1.Health/Check" in line
              for line in control), "Dockerfile: control's HEALTHCHECK calls Health/Check")


def check_values_schema(root):
    """values.schema.json accepts the defaults and refuses typical mistakes."""
    try:
        import jsonschema
    except ImportError:
        print("skip: values.schema.json not checked (no python3 jsonschema module)")
        return
    import copy
    import json
    chart = os.path.join(root, "helm", "warden")
    with open(os.path.join(chart, "values.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as f:
        values = yaml.safe_load(f)
    jsonschema.Draft7Validator.check_schema(schema)

    def errors(mutate):
        candidate = copy.deepcopy(values)
        mutate(candidate)
        return list(jsonschema.Draft7Validator(schema).iter_errors(candidate))

    check(not errors(lambda v: None), "values.schema.json: the default values are valid")
    valid = {
        "a parent chart's global values": lambda v: v.update(**{"global": {"imageRegistry": "r"}}),
        "a flag and its value as two args": lambda v: v["agent"].update(
            args=["--driver", "wireguard:iface=wg0"]),
        "pdbMaxUnavailable as a percentage": lambda v: v["controlPlane"].update(
            pdbMaxUnavailable="50%"),
        "a numeric image tag": lambda v: v["agent"]["image"].update(tag=1.2),
    }
    for what, mutate in valid.items():
        check(not errors(mutate), f"values.schema.json accepts {what}")
    mistakes = {
        "a misspelt key (controlPlane.replica)": lambda v: v["controlPlane"].update(replica=3),
        "replicas 0": lambda v: v["controlPlane"].update(replicas=0),
        "a port given as text": lambda v: v["controlPlane"].update(adminPort="50051"),
        "passwordThreads 0 (one per core of the node)": lambda v: v["controlPlane"].update(
            passwordThreads=0),
        "an unknown ticket source": lambda v: v["agent"].update(ticketSource="configMap"),
        "an unknown log format": lambda v: v["controlPlane"].update(logFormat="xml"),
        "a short admin key": lambda v: v["secret"].update(adminKey="short"),
        "a database URL that is not postgresql://": lambda v: v["secret"].update(databaseUrl="mysql://x"),
        "agent.failMode maybe": lambda v: v["agent"].update(failMode="maybe"),
        "a PodDisruptionBudget of 0": lambda v: v["controlPlane"].update(pdbMaxUnavailable=0),
    }
    for what, mutate in mistakes.items():
        check(errors(mutate), f"values.schema.json refuses {what}")


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if helm.binary() is None:
        print(f"skip: {helm.missing_reason()}")
        return 77
    check_values_schema(root)
    text, defaults = render(root, [])
    check_defaults(defaults)
    agent_text, agent_objects = render(root, ["agent.enabled=true"])
    check_agent(agent_objects)
    check_tls(root)
    check_options(root)
    full_text, _ = render(root, TLS_WITH_AGENTS + [
        "networkPolicy.enabled=true", "autoscaling.enabled=true",
        "metrics.prometheusRule.enabled=true", "metrics.serviceMonitor.enabled=true",
        "metrics.podMonitor.enabled=true", "controlPlane.signalWebSocket.enabled=true"])
    monitor_text, monitor = render(root, ["metrics.serviceMonitor.enabled=true"])
    service_monitors = find(monitor, "ServiceMonitor")
    metrics_service = find(monitor, "Service", "warden-metrics")
    check(len(service_monitors) == 1 and metrics_service and
          all(metrics_service[0]["metadata"]["labels"].get(k) == v for k, v in
              service_monitors[0]["spec"]["selector"]["matchLabels"].items()) and
          [e.get("port") for e in service_monitors[0]["spec"]["endpoints"]] == ["metrics"],
          "metrics.serviceMonitor.enabled: a ServiceMonitor of the metrics Service")
    _, public = render(root, ["service.type=LoadBalancer", "agentService.type=LoadBalancer"])
    check(all(p["name"] != "metrics" for s in find(public, "Service")
              if s["spec"]["type"] != "ClusterIP" for p in s["spec"]["ports"]),
          "service.type=LoadBalancer: /metrics is not published with it")
    _, off = render(root, ["agent.enabled=true", "metrics.enabled=false",
                           "metrics.podMonitor.enabled=true"])
    check(not find(off, "PodMonitor") and
          all(p["name"] != "metrics" for s in find(off, "Service") for p in s["spec"]["ports"]) and
          all(args_with(container_of(off, kind), "--metrics-listen")
              for kind in ("Deployment", "DaemonSet")),
          "metrics.enabled=false: no PodMonitor, no metrics port on a Service; the listeners "
          "stay for the probes")
    pod_text, pod = render(root, ["agent.enabled=true", "metrics.podMonitor.enabled=true"])
    monitors = find(pod, "PodMonitor")
    agent_labels = find(pod, "DaemonSet")[0]["spec"]["template"]["metadata"]["labels"] \
        if find(pod, "DaemonSet") else {}
    check(len(monitors) == 1 and
          all(agent_labels.get(k) == v for k, v in
              monitors[0]["spec"]["selector"]["matchLabels"].items()) and
          [e.get("port") for e in monitors[0]["spec"]["podMetricsEndpoints"]] == ["metrics"],
          "agent.enabled + metrics.podMonitor.enabled: a PodMonitor of the agent pods' "
          "metrics port")
    _, existing = render(root, ["secret.existingSecret=warden-db",
                                "secret.adminKey=0123456789abcdef"], database=False)
    deployment = find(existing, "Deployment")
    env = deployment[0]["spec"]["template"]["spec"]["containers"][0]["env"] if deployment else []
    check(deployment and not find(existing, "Secret") and
          all(dig(e, "valueFrom", "secretKeyRef", "name") in (None, "warden-db") for e in env) and
          not dig(deployment[0], "spec", "template", "metadata", "annotations"),
          "secret.existingSecret: no Secret created (nor a checksum of it), the existing one "
          "is used")
    _, plain = render(root, PLAIN, database=False)
    _, plain_agent = render(root, PLAIN + ["agent.enabled=true"], database=False)
    compare_plain(root, plain, plain_agent)
    check_flags([defaults, agent_objects, monitor])
    check_values_used(root)
    check_compose(root)
    check_dockerfiles(root)
    for name, content in (("defaults.yaml", text), ("agent.yaml", agent_text),
                          ("everything.yaml", full_text),
                          ("metrics.yaml", monitor_text), ("podmonitor.yaml", pod_text)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(content)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

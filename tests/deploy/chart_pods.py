#!/usr/bin/env python3
"""Runs the Helm chart's pods with Docker: the closest thing to a cluster here.

Renders helm/warden with real Helm (tests/deploy/helm.py), with the agent
and TLS enabled (a certificate made here stands for cert-manager's Secret,
its CA for the agents' ConfigMap) and the images warden-control:TAG and
warden-agent:TAG, then starts every
container of the Deployment (each replica) and of the DaemonSet (one VPN
node) as Kubernetes would: the same image, command, args and environment
(Secret keys and the downward API resolved, $(VAR) expanded in args), the
pod's and container's
security context (user, read-only root file system, capabilities, no new
privileges), its volumes (emptyDir as tmpfs, Secret files, hostPath as a
directory of the simulated node, Secret and ConfigMap files with their
items) and its memory limit. Both Services' names resolve to the replicas
on a private Docker network; the VPN
node is a container with a wireguard-go wg0, whose network namespace the
agent shares (hostNetwork).

Helm's pre-upgrade hook Jobs (the migrations) run to completion first, as
on an upgrade.
Proof: every probe of every container passes (called as the kubelet does,
from outside the pod), the agent enrols with the ticket from its Secret over
TLS and its node is online, the Service's metrics port answers, and the
`helm test` pod passes (health of both Services, an authenticated call).
A chart that starts a container with a wrong flag or a missing file fails
here, with the container's log.

  chart_pods.py [--chart DIR] [--tag TAG] --grpcurl PATH --wardenctl PATH
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helm  # noqa: E402
from rig import REPO, GiveUp, logger, run, wait_for  # noqa: E402

NODE_NAME = "chart-vpn-node"
log = logger("chart-pods")


class Cluster:
    """One private Docker network standing in for a cluster and its node."""

    def __init__(self, chart, tag, workdir, grpcurl, wardenctl):
        self.chart = chart
        self.tag = tag
        self.workdir = workdir
        self.grpcurl = grpcurl
        self.wardenctl = wardenctl
        self.prefix = f"wardenchart{os.getpid()}"
        self.network = self.prefix
        self.containers = []
        self.host_network = {}  # container -> the node container whose network it shares
        self.config_maps = {}  # name -> {key: text}
        self.ca_file = None
        self.admin_key = secrets.token_hex(24)
        self.db_password = secrets.token_hex(12)

    # --- rendering ---------------------------------------------------------------
    def render(self):
        sets = [
            f"controlPlane.image.repository=warden-control", f"controlPlane.image.tag={self.tag}",
            f"agent.image.repository=warden-agent", f"agent.image.tag={self.tag}",
            "agent.enabled=true",
            f"secret.databaseUrl=postgresql://warden:{self.db_password}@{self.prefix}-postgres:5432/warden",
            f"secret.adminKey={self.admin_key}",
        ]
        sets += ["tls.enabled=true", "tls.secretName=warden-tls",
                 "tls.agentCa.configMapName=warden-ca"]
        _, rendered = helm.template(self.chart, sets)
        return [doc for _, documents in rendered for doc in documents]

    def make_certificate(self):
        """What cert-manager would put in tls.secretName, and the CA's ConfigMap."""
        directory = os.path.join(self.workdir, "pki")
        os.makedirs(directory)
        names = ",".join(f"DNS:{service}" for service in ("warden-control", "warden-agent-api"))

        key = lambda name: os.path.join(directory, name)  # noqa: E731
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key("ca.key"), "-out", key("ca.crt"), "-days", "2",
             "-subj", "/CN=warden test CA"])
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key("tls.key"), "-out", key("tls.csr"), "-subj", "/CN=warden-control",
             "-addext", f"subjectAltName={names}"])
        run(["openssl", "x509", "-req", "-in", key("tls.csr"), "-CA", key("ca.crt"),
             "-CAkey", key("ca.key"), "-CAcreateserial", "-out", key("tls.crt"), "-days", "2",
             "-copy_extensions", "copy"])
        read = lambda name: open(key(name), encoding="utf-8").read()  # noqa: E731
        self.ca_file = key("ca.crt")
        return ({"tls.crt": read("tls.crt"), "tls.key": read("tls.key"), "ca.crt": read("ca.crt")},
                {"ca.crt": read("ca.crt")})

    def wardenctl_env(self, control):
        return dict(os.environ, WARDEN_SERVER=f"{self.ip(control)}:50051", WARDEN_CA=self.ca_file,
                    WARDEN_KEY=self.admin_key)

    # --- containers ----------------------------------------------------------------
    def docker_run(self, name, args):
        self.containers.append(name)
        run(["docker", "run", "-d", "--name", name, *args])

    def ip(self, name):
        # A hostNetwork container has the node's address.
        name = self.host_network.get(name, name)
        networks = json.loads(run(["docker", "inspect", name]))[0]["NetworkSettings"]["Networks"]
        return networks[self.network]["IPAddress"]

    def state(self, name):
        return json.loads(run(["docker", "inspect", name]))[0]["State"]

    def logs(self, name):
        return run(["docker", "logs", "--tail", "80", name], check=False)

    def start_postgres(self):
        name = f"{self.prefix}-postgres"
        self.docker_run(name, ["--network", self.network, "--network-alias", name,
                               "-e", "POSTGRES_USER=warden", "-e", "POSTGRES_DB=warden",
                               "-e", f"POSTGRES_PASSWORD={self.db_password}",
                               f"warden-postgres:{self.tag}"])
        wait_for("PostgreSQL", lambda: self.state(name).get("Health", {}).get("Status") == "healthy", 120)

    def start_node(self, hostpaths):
        """The VPN node: a network namespace with the WireGuard interface wg0."""
        name = f"{self.prefix}-node"
        self.docker_run(name, ["--network", self.network, "--cap-add", "NET_ADMIN",
                               "--device", "/dev/net/tun",
                               "-v", f"{hostpaths('/var/run/wireguard')}:/var/run/wireguard",
                               "--entrypoint", "/bin/sh", f"warden-agent:{self.tag}", "-ec",
                               "wg genkey > /tmp/wg0.key; wireguard-go wg0; "
                               "wg set wg0 listen-port 51820 private-key /tmp/wg0.key; "
                               "ip address add 10.66.0.1/16 dev wg0; ip link set wg0 up; "
                               "exec sleep infinity"])
        wait_for("the node's wg0", lambda: os.path.exists(
            os.path.join(hostpaths("/var/run/wireguard"), "wg0.sock")), 30)
        return name


def resolve_env(container, secrets_by_name, pod_name, host_ip):
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secrets_by_name.get(ref["name"], {}).get(ref["key"])
            if value is None:
                assert ref.get("optional"), f"env {item['name']}: no key {ref['key']} in Secret {ref['name']}"
                continue
            env[item["name"]] = value
        elif "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            env[item["name"]] = {"metadata.name": pod_name, "spec.nodeName": NODE_NAME,
                                 "status.hostIP": host_ip}[field]
            assert env[item["name"]], f"env {item['name']}: {field} is unknown here"
        else:
            raise AssertionError(f"env {item['name']}: unsupported valueFrom {source}")
    return env


def security_args(pod_spec, container):
    pod_context = pod_spec.get("securityContext", {})
    context = {**pod_context, **container.get("securityContext", {})}
    args = []
    if "runAsUser" in context:
        user = str(context["runAsUser"])
        if "runAsGroup" in context:
            user += f":{context['runAsGroup']}"
        args += ["--user", user]
    if context.get("runAsNonRoot"):
        assert context.get("runAsUser", 1) != 0, f"{container['name']}: runAsNonRoot with runAsUser 0"
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    capabilities = context.get("capabilities", {})
    for capability in capabilities.get("drop", []):
        args += ["--cap-drop", capability]
    for capability in capabilities.get("add", []):
        args += ["--cap-add", capability]
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges:true"]
    if "fsGroup" in pod_context:
        args += ["--group-add", str(pod_context["fsGroup"])]
    return args


def expand(arg, env):
    """Kubernetes' $(VAR) expansion in command and args."""
    for name, value in env.items():
        arg = arg.replace(f"$({name})", value)
    return arg


def volume_files(volume, secrets_by_name, config_maps):
    """The files a Secret or ConfigMap volume shows: every key, or its items."""
    if "secret" in volume:
        source, name = volume["secret"], volume["secret"]["secretName"]
        data = secrets_by_name.get(name)
    else:
        source, name = volume["configMap"], volume["configMap"]["name"]
        data = config_maps.get(name)
    assert data is not None or source.get("optional"), f"no Secret or ConfigMap {name}"
    data = data or {}
    if "items" not in source:
        return data
    missing = [item["key"] for item in source["items"] if item["key"] not in data]
    assert not missing or source.get("optional"), f"{name} has no key {missing}"
    return {item["path"]: data[item["key"]] for item in source["items"] if item["key"] in data}


def volume_args(pod_spec, container, secrets_by_name, config_maps, hostpaths, workdir, pod_name):
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
    args = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        path = mount["mountPath"]
        mode = ":ro" if mount.get("readOnly") else ""
        if "emptyDir" in volume:
            args += ["--tmpfs", f"{path}:mode=1777"]
        elif "secret" in volume or "configMap" in volume:
            files = volume_files(volume, secrets_by_name, config_maps)
            directory = os.path.join(workdir, f"{pod_name}-{mount['name']}")
            os.makedirs(directory, exist_ok=True)
            for key, value in files.items():
                with open(os.path.join(directory, key), "w") as out:
                    out.write(value)
            args += ["-v", f"{directory}:{path}:ro"]
        elif "hostPath" in volume:
            args += ["-v", f"{hostpaths(volume['hostPath']['path'])}:{path}{mode}"]
        else:
            raise AssertionError(f"volume {mount['name']}: unsupported kind {volume}")
    return args


def memory_args(container):
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    if not limit:
        return []
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    return ["--memory", limit[:-2] + units[limit[-2:]] if limit[-2:] in units else limit]


def run_probe(cluster, name, container, probe):
    # The kubelet's gRPC probe speaks plaintext only: with TLS on the gRPC
    # ports it cannot pass, so the chart must not use it.
    assert "grpc" not in probe, f"{name}: a gRPC probe cannot pass against a TLS port"
    if "httpGet" in probe:
        get = probe["httpGet"]
        port = get["port"]
        if isinstance(port, str):  # a named container port
            port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
        url = f"http://{cluster.ip(name)}:{port}{get.get('path', '/')}"
        with urllib.request.urlopen(url, timeout=probe.get("timeoutSeconds", 1)) as reply:
            return 200 <= reply.status < 400
    if "exec" in probe:
        return subprocess.run(["docker", "exec", name, *probe["exec"]["command"]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    raise AssertionError(f"unsupported probe {probe}")


def check_probes(cluster, name, container):
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if not probe:
            continue
        # The kubelet's patience: the initial delay plus failureThreshold periods.
        patience = probe.get("initialDelaySeconds", 0) + \
            probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10)

        def passes():
            state = cluster.state(name)
            if not state["Running"]:
                raise GiveUp(f"{name} exited with {state['ExitCode']}")
            return run_probe(cluster, name, container, probe)

        wait_for(f"{name}'s {kind}", passes, patience)
        log(f"{name}: {kind} passes")


def start_container(cluster, name, pod_name, pod_spec, container, secrets_by_name, hostpaths,
                    aliases=(), node=None):
    """docker run -d of one container of a pod, as the kubelet would start it."""
    env = resolve_env(container, secrets_by_name, pod_name,
                      cluster.ip(node) if pod_spec.get("hostNetwork") else None)
    args = [*security_args(pod_spec, container),
            *volume_args(pod_spec, container, secrets_by_name, cluster.config_maps, hostpaths,
                         cluster.workdir, pod_name),
            *memory_args(container)]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    if pod_spec.get("hostNetwork"):
        args += ["--network", f"container:{node}"]
        cluster.host_network[name] = node
    else:
        args += ["--network", cluster.network, "--hostname", pod_name]
        for alias in aliases:
            args += ["--network-alias", alias]
    command = container.get("command")
    if command:
        args += ["--entrypoint", command[0]]
    cluster.docker_run(name, [*args, container["image"],
                              *(expand(str(a), env) for a in (command[1:] if command else [])),
                              *(expand(str(a), env) for a in container.get("args", []))])


def run_hook_jobs(cluster, docs, secrets_by_name, hostpaths):
    """Helm's pre-install and pre-upgrade hooks, as on an upgrade: each Job's
    pod runs to completion before the workloads start."""
    hooks = [doc for doc in docs if doc["kind"] == "Job" and {"pre-install", "pre-upgrade"} &
             set((doc["metadata"].get("annotations") or {}).get("helm.sh/hook", "").split(","))]
    hooks.sort(key=lambda doc: int(doc["metadata"]["annotations"].get("helm.sh/hook-weight", "0")))
    for job in hooks:
        pod_spec = job["spec"]["template"]["spec"]
        pod_name = f"{job['metadata']['name']}-0"
        for container in pod_spec["containers"]:
            name = f"{cluster.prefix}-{pod_name}-{container['name']}"
            start_container(cluster, name, pod_name, pod_spec, container, secrets_by_name, hostpaths)
            deadline = job["spec"].get("activeDeadlineSeconds", 600)
            code = run(["docker", "wait", name], timeout=deadline).strip()
            assert code == "0", f"hook Job {job['metadata']['name']}: {name} exited {code}"
            log(f"hook Job {job['metadata']['name']}: {container['name']} completed")
    return hooks


def start_pods(cluster, docs, hostpaths):
    secrets_by_name = {doc["metadata"]["name"]: dict(doc.get("stringData", {}))
                       for doc in docs if doc["kind"] == "Secret"}
    secrets_by_name["warden-tls"], cluster.config_maps["warden-ca"] = cluster.make_certificate()
    hooks = run_hook_jobs(cluster, docs, secrets_by_name, hostpaths)
    workloads = [doc for doc in docs if doc["kind"] in ("Deployment", "DaemonSet")]
    assert {doc["kind"] for doc in workloads} == {"Deployment", "DaemonSet"}, "chart lacks a workload"
    services = [doc for doc in docs if doc["kind"] == "Service"]
    started = []
    node = None
    for workload in sorted(workloads, key=lambda doc: doc["kind"] != "Deployment"):
        template = workload["spec"]["template"]
        pod_spec = template["spec"]
        labels = template["metadata"]["labels"]
        aliases = [service["metadata"]["name"] for service in services
                   if all(labels.get(k) == v for k, v in service["spec"].get("selector", {}).items())]
        replicas = workload["spec"].get("replicas", 1) if workload["kind"] == "Deployment" else 1
        pending = []
        if workload["kind"] == "DaemonSet":
            # The ticket the agent enrols with, in the Secret the chart mounts.
            ticket_secret = next(volume["secret"]["secretName"] for volume in pod_spec["volumes"]
                                 if volume["name"] == "tickets")
            secrets_by_name[ticket_secret] = {NODE_NAME: enrollment_ticket(cluster, started)}
            node = cluster.start_node(hostpaths)
        for replica in range(replicas):
            pod_name = f"{workload['metadata']['name']}-{replica}"
            for container in pod_spec["containers"]:
                name = f"{cluster.prefix}-{pod_name}-{container['name']}"
                start_container(cluster, name, pod_name, pod_spec, container, secrets_by_name,
                                hostpaths, aliases, node)
                started.append((name, container))
                pending.append((name, container))
        for name, container in pending:
            check_probes(cluster, name, container)
    if hooks:
        # The schema was the Job's to migrate: the replicas found nothing to do.
        for name, _ in started:
            if "warden-control" in name:
                assert '"applied_now":"0"' in run(["docker", "logs", name]), \
                    f"{name} applied migrations after the migration Job"
    return started, secrets_by_name


def run_helm_tests(cluster, docs, secrets_by_name):
    """`helm test`: each test hook pod runs to completion and must exit 0."""
    tests = [doc for doc in docs if doc["kind"] == "Pod" and
             (doc["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    assert tests, "the chart has no helm test pod"
    for pod in tests:
        for container in pod["spec"]["containers"]:
            name = f"{cluster.prefix}-{pod['metadata']['name']}-{container['name']}"
            start_container(cluster, name, pod["metadata"]["name"], pod["spec"], container,
                            secrets_by_name, lambda path: path)
            code = run(["docker", "wait", name], timeout=120).strip()
            output = run(["docker", "logs", name], check=False)
            assert code == "0", f"helm test pod {name} exited {code}:\n{output}"
            assert "ok: an authenticated call" in output, output
            log(f"helm test {pod['metadata']['name']} passed:\n{output.strip()}")


def enrollment_ticket(cluster, started):
    control = next(name for name, container in started if "warden-control" in name)
    return run([cluster.wardenctl, "--server-name", "warden-control", "enroll", NODE_NAME, "-q"],
               env=cluster.wardenctl_env(control)).strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chart", default=os.path.join(REPO, "helm/warden"))
    parser.add_argument("--tag", default="local")
    parser.add_argument("--grpcurl", required=True)
    parser.add_argument("--wardenctl", required=True)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-chart-") as workdir:
        cluster = Cluster(options.chart, options.tag, workdir, options.grpcurl, options.wardenctl)

        def hostpaths(path):
            directory = os.path.join(workdir, "node" + path.replace("/", "_"))
            os.makedirs(directory, exist_ok=True)
            return directory

        run(["docker", "network", "create", cluster.network])
        try:
            docs = cluster.render()
            cluster.start_postgres()
            started, secrets_by_name = start_pods(cluster, docs, hostpaths)
            control = next(name for name, _ in started if "warden-control" in name)
            env = cluster.wardenctl_env(control)
            wardenctl = [cluster.wardenctl, "--server-name", "warden-control"]
            wait_for(f"node {NODE_NAME} online", lambda: any(
                node["name"] == NODE_NAME and node.get("online")
                for node in json.loads(run([*wardenctl, "nodes", "list", "-o", "json"], env=env))), 60)
            log(f"the DaemonSet's agent enrolled over TLS with its Secret's ticket; {NODE_NAME} "
                "is online")
            plaintext = subprocess.run([*wardenctl, "--insecure", "--timeout", "5s", "nodes", "list"],
                                       env=dict(env, WARDEN_CA=""), capture_output=True,
                                       text=True, timeout=60)
            assert plaintext.returncode != 0, f"plaintext answered on the TLS port: {plaintext.stdout}"
            log("the admin port refuses plaintext: it serves TLS only")
            metrics_port = next(port["containerPort"] for name, container in started
                                if "warden-control" in name for port in container.get("ports", [])
                                if port["name"] == "metrics")
            with urllib.request.urlopen(f"http://{cluster.ip(control)}:{metrics_port}/metrics",
                                        timeout=10) as reply:
                assert "warden_agent_streams_connected" in reply.read().decode()
            log("the control plane's metrics port answers")
            run_helm_tests(cluster, docs, secrets_by_name)
        except BaseException:
            for name in cluster.containers:
                print(f"--- {name}\n{cluster.logs(name)}", flush=True)
            raise
        finally:
            for name in reversed(cluster.containers):
                run(["docker", "rm", "-f", "-v", name], check=False)
            run(["docker", "network", "rm", cluster.network], check=False)
    log("every pod of the chart ran with its probes passing")
    return 0


if __name__ == "__main__":
    sys.exit(main())

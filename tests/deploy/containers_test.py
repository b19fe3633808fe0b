#!/usr/bin/env python3
"""The images and docker-compose.yml, really built and run (ctest label deploy).

Builds the images with scripts/images, checks them (size, user, labels,
health checks, every shared library found), brings docker-compose.yml up
unmodified under a private project name with fresh secrets, and from outside
the containers: creates a user with one device, connects a real OpenVPN
client twice (the first is evicted), kills the second with KillSession, reads
/metrics of both replicas, stops the replica that holds agent streams (they
move to the other and admissions go on) and runs `docker-compose down -v`,
after which no container, volume or network of the run is left. Then tests/deploy/chart_pods.py runs the Helm chart's
containers with the same images.

Exit code 77 (ctest: skipped) with the reason printed when no Docker engine
can be had (not root and none running) or /dev/net/tun is missing.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rig import REPO, logger, run, wait_for  # noqa: E402

IMAGE_LIMITS_MB = {"warden-control": 120, "warden-agent": 160}
TAG = "local"
log = logger("containers")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def skip_reason():
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun for the VPN containers"
    probe = subprocess.run(
        ["bash", "-c", "source scripts/lib/packages.sh && source scripts/lib/docker.sh && "
                       "docker_engine_unavailable"],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode == 0:
        return probe.stdout.strip() or "no Docker engine"
    for tool in ("docker-compose", "python3"):
        if subprocess.run(["bash", "-c", f"command -v {tool}"], stdout=subprocess.DEVNULL).returncode:
            return f"{tool} is not installed"
    return None


def check_images():
    for name in ("warden-control", "warden-agent", "warden-openvpn", "warden-postgres"):
        image = f"{name}:{TAG}"
        info = json.loads(run(["docker", "image", "inspect", image]))[0]
        size_mb = info["Size"] / 1e6
        log(f"{image}: {size_mb:.0f} MB")
        limit = IMAGE_LIMITS_MB.get(name)
        assert limit is None or size_mb < limit, f"{image} is {size_mb:.0f} MB, over {limit} MB"
        config = info["Config"]
        assert config.get("Healthcheck", {}).get("Test"), f"{image} has no HEALTHCHECK"
        labels = config.get("Labels") or {}
        for key in ("title", "version", "revision", "source"):
            assert labels.get(f"org.opencontainers.image.{key}"), f"{image} lacks label {key}"
        binaries = {"warden-control": ["warden-control", "wardenctl", "grpcurl-compat"],
                    "warden-agent": ["warden-agent"]}.get(name, [])
        for binary in binaries:
            linked = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "ldd",
                          image, f"/usr/local/bin/{binary}"])
            assert "not found" not in linked, f"{image}: {binary} misses libraries:\n{linked}"
            run(["docker", "run", "--rm", "--network", "none", "--entrypoint",
                 f"/usr/local/bin/{binary}", image, "--help"])
    control = json.loads(run(["docker", "image", "inspect", f"warden-control:{TAG}"]))[0]
    assert control["Config"]["User"] == "10001:10001", "warden-control must not run as root"


class Compose:
    """docker-compose.yml under a private project name, env file and ports."""

    def __init__(self, workdir):
        self.project = f"wardentest{os.getpid()}"
        self.ports = {name: free_port() for name in (
            "WARDEN_CONTROL_1_PORT", "WARDEN_CONTROL_2_PORT", "WARDEN_CONTROL_1_METRICS_PORT",
            "WARDEN_CONTROL_2_METRICS_PORT", "WARDEN_AGENT_OPENVPN_METRICS_PORT",
            "WARDEN_AGENT_WIREGUARD_METRICS_PORT", "WARDEN_OPENVPN_PORT", "WARDEN_WIREGUARD_PORT")}
        self.admin_key = secrets.token_hex(24)
        self.env_file = os.path.join(workdir, "compose.env")
        with open(self.env_file, "w") as out:
            out.write(f"WARDEN_DB_PASSWORD={secrets.token_hex(12)}\n")
            out.write(f"WARDEN_ADMIN_KEY={self.admin_key}\n")
            out.write(f"WARDEN_IMAGE_TAG={TAG}\nWARDEN_VPN_BIND=127.0.0.1\n")
            for name, port in self.ports.items():
                out.write(f"{name}={port}\n")
        self.network = f"{self.project}_default"

    def __call__(self, *args, **kwargs):
        return run(["docker-compose", "-p", self.project, "--env-file", self.env_file,
                    "-f", os.path.join(REPO, "docker-compose.yml"), *args], **kwargs)

    def container(self, service):
        # Its id, whatever the Compose version names it.
        ids = self("ps", "-a", "-q", service).split()
        assert len(ids) == 1, f"compose: {len(ids)} containers for {service}"
        return ids[0]

    def health(self, service):
        state = json.loads(run(["docker", "inspect", self.container(service)]))[0]["State"]
        return state.get("Health", {}).get("Status", state["Status"])

    def exit_code(self, service):
        state = json.loads(run(["docker", "inspect", self.container(service)]))[0]["State"]
        return state["ExitCode"] if state["Status"] == "exited" else None


class Wardenctl:
    def __init__(self, compose, port):
        self.env = dict(os.environ, WARDEN_SERVER=f"127.0.0.1:{port}", WARDEN_INSECURE="true",
                        WARDEN_KEY=compose.admin_key)
        self.binary = os.path.join(REPO, "build/images/bin/wardenctl")

    def __call__(self, *args):
        return run([self.binary, *args], env=self.env, timeout=60)

    def json(self, *args):
        return json.loads(self(*args, "-o", "json"))


class OpenVpnClients:
    """Real OpenVPN clients, each a container on the compose network."""

    def __init__(self, compose, workdir):
        self.compose = compose
        self.workdir = workdir
        self.names = []

    def connect(self, username, password):
        name = f"{self.compose.project}-client{len(self.names) + 1}"
        credentials = os.path.join(self.workdir, f"{name}.auth")
        with open(credentials, "w") as out:
            out.write(f"{username}\n{password}\n")
        run(["docker", "run", "-d", "--name", name, "--network", self.compose.network,
             "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun",
             "-v", f"{self.compose.project}_openvpn-pki:/pki:ro",
             "-v", f"{credentials}:/auth:ro", "--entrypoint", "openvpn",
             f"warden-openvpn:{TAG}", "--client", "--dev", "tun", "--proto", "udp4",
             "--remote", "openvpn", "1194", "--nobind", "--ca", "/pki/ca.crt",
             "--remote-cert-tls", "server", "--auth-user-pass", "/auth", "--auth-nocache",
             "--connect-retry-max", "3", "--verb", "3"])
        self.names.append(name)
        wait_for(f"{name} to finish connecting",
                 lambda: "Initialization Sequence Completed" in self.logs(name), 60)
        return name

    def logs(self, name):
        return run(["docker", "logs", name], check=False)

    def running(self, name):
        return json.loads(run(["docker", "inspect", name]))[0]["State"]["Running"]

    def remove_all(self):
        for name in self.names:
            run(["docker", "rm", "-f", "-v", name], check=False)


def live_sessions(ctl, username):
    return ctl.json("sessions", "list", "--user", username)


def agent_streams(compose, replica):
    """warden_agent_streams_connected of control-<replica>."""
    text = metrics_text(compose.ports[f"WARDEN_CONTROL_{replica}_METRICS_PORT"])
    for line in text.splitlines():
        if line.startswith("warden_agent_streams_connected"):
            return int(float(line.split()[-1]))
    raise AssertionError(f"control-{replica} has no warden_agent_streams_connected")


def node_states(ctl):
    return {node["name"]: node for node in ctl.json("nodes", "list")}


def agent_attaches(compose, port_name):
    """warden_agent_link_attaches_total of the agent whose metrics are on port_name."""
    for line in metrics_text(compose.ports[port_name]).splitlines():
        if line.startswith("warden_agent_link_attaches_total "):
            return float(line.split()[1])
    raise AssertionError(f"no warden_agent_link_attaches_total on {port_name}")


def metrics_text(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def compose_proof(workdir):
    compose = Compose(workdir)
    clients = OpenVpnClients(compose, workdir)
    volumes_before = set(run(["docker", "volume", "ls", "-q"]).split())
    try:
        started = time.monotonic()
        compose("up", "-d", timeout=900)
        for service in ("postgres", "control-1", "control-2", "openvpn",
                        "agent-openvpn", "agent-wireguard"):
            wait_for(f"{service} to be healthy", lambda: compose.health(service) == "healthy", 240)
        assert compose.exit_code("enroll") == 0, "the enroll service did not succeed"
        log(f"compose up and healthy in {time.monotonic() - started:.0f} s")

        ctl = Wardenctl(compose, compose.ports["WARDEN_CONTROL_1_PORT"])
        nodes = wait_for("both nodes online",
                         lambda: (lambda n: n if all(n.get(k, {}).get("online") for k in
                                                     ("compose-openvpn", "compose-wireguard"))
                                  else None)(node_states(ctl)), 60)
        log(f"nodes online: {sorted(nodes)}")

        password_file = os.path.join(workdir, "alice.pw")
        password = secrets.token_hex(10)
        with open(password_file, "w") as out:
            out.write(password + "\n")
        ctl("users", "create", "alice", "--max-connections", "1", "--password-file", password_file)

        first = clients.connect("alice", password)
        sessions = wait_for("alice's first session", lambda: live_sessions(ctl, "alice"), 30)
        assert len(sessions) == 1, sessions
        second = clients.connect("alice", password)
        wait_for("the first client to be halted", lambda: not clients.running(first), 30)
        sessions = wait_for("one live session after the eviction",
                            lambda: (lambda s: s if len(s) == 1 else None)(live_sessions(ctl, "alice")), 30)
        assert clients.running(second), "the second client must stay connected"
        log("max_connections=1: the second login evicted the first")

        ctl("sessions", "kill", sessions[0]["id"])
        wait_for("the killed client to exit", lambda: not clients.running(second), 30)
        wait_for("no live session", lambda: not live_sessions(ctl, "alice"), 30)
        log("KillSession ended the second client")

        for port_name in ("WARDEN_CONTROL_1_METRICS_PORT", "WARDEN_CONTROL_2_METRICS_PORT"):
            text = metrics_text(compose.ports[port_name])
            assert "warden_" in text, f"/metrics on {port_name} has no warden_ metrics"
        assert "warden_agent_link_up 1" in metrics_text(compose.ports["WARDEN_AGENT_OPENVPN_METRICS_PORT"])
        log("/metrics answers on both replicas and the agent")

        # Stop a replica that holds agent streams (control-1 unless it holds
        # none): its agents must attach to the other, and admissions go on.
        streams = {replica: agent_streams(compose, replica) for replica in (1, 2)}
        stopped = 1 if streams[1] else 2
        kept = 3 - stopped
        assert streams[stopped] >= 1 and streams[1] + streams[2] == 2, streams
        agents = ("WARDEN_AGENT_OPENVPN_METRICS_PORT", "WARDEN_AGENT_WIREGUARD_METRICS_PORT")
        attaches = sum(agent_attaches(compose, port) for port in agents)
        compose("stop", f"control-{stopped}")
        ctl = Wardenctl(compose, compose.ports[f"WARDEN_CONTROL_{kept}_PORT"])
        wait_for(f"both agents attached to control-{kept}",
                 lambda: agent_streams(compose, kept) == 2 and
                 sum(agent_attaches(compose, port) for port in agents) >= attaches + streams[stopped]
                 and all(node.get("online") for node in node_states(ctl).values()), 90)
        third = clients.connect("alice", password)
        assert len(wait_for("a session admitted through control-2",
                            lambda: live_sessions(ctl, "alice"), 30)) == 1
        assert clients.running(third)
        log(f"control-{stopped} stopped: {streams[stopped]} agent(s) moved to control-{kept}, "
            "admissions go on")
    except BaseException:
        print(compose("logs", "--tail", "60", check=False), flush=True)
        for name in clients.names:
            print(f"--- {name}\n{clients.logs(name)}", flush=True)
        raise
    finally:
        clients.remove_all()
        compose("down", "-v", "--remove-orphans", check=False)
    left = run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={compose.project}"])
    assert not left.strip(), f"containers left after down -v: {left}"
    volumes = set(run(["docker", "volume", "ls", "-q"]).split()) - volumes_before
    assert not volumes, f"volumes left after down -v: {sorted(volumes)}"
    networks = run(["docker", "network", "ls", "-q", "--filter", f"name={compose.project}_"])
    assert not networks.strip(), f"networks left after down -v: {networks}"
    log("docker-compose down -v left nothing behind")


def main():
    reason = skip_reason()
    if reason:
        print(f"SKIPPED: {reason}")
        return 77
    started = time.monotonic()
    run(["scripts/images", "--tag", TAG], capture=False, timeout=3600)
    log(f"images built in {time.monotonic() - started:.0f} s")
    check_images()
    with tempfile.TemporaryDirectory(prefix="warden-compose-") as workdir:
        os.chmod(workdir, 0o755)  # the client containers read their credentials
        compose_proof(workdir)
    binaries = os.path.join(REPO, "build/images/bin")
    run([sys.executable, os.path.join(REPO, "tests/deploy/chart_pods.py"), "--tag", TAG,
         "--grpcurl", os.path.join(binaries, "grpcurl-compat"),
         "--wardenctl", os.path.join(binaries, "wardenctl")], capture=False)
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

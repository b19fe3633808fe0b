#!/usr/bin/env python3
"""Regenerates deploy/k8s from the Helm chart, with real Helm (helm.py).

usage: python3 tests/deploy/plain_manifests.py [REPO_ROOT]
deploy/k8s/ gets the chart's default objects with the Secret left to
`kubectl create secret` (secret.existingSecret=warden), deploy/k8s/optional/
the agent DaemonSet; Helm's own labels and hooks (the migration Job, the
test pod) are left out: without Helm, replicas migrate on start.
check_manifests.py fails when the files differ from a fresh rendering.
"""

import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helm  # noqa: E402

HEADER = """# Generated from the Helm chart's templates/{name} by
#   python3 tests/deploy/plain_manifests.py
# (release "warden", --set {sets}, the chart's defaults otherwise);
# tests/deploy/validate.sh fails when the two differ. Edit the chart,
# then regenerate.
"""


def write(root, directory, sets, keep):
    _, rendered = helm.template(os.path.join(root, "helm", "warden"), sets)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".yaml"):
            os.remove(os.path.join(directory, name))
    for name, documents in rendered:
        documents = [helm.strip_helm_labels(d) for d in documents
                     if not helm.is_hook(d) and keep(d)]
        if not documents:
            continue
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(HEADER.format(name=name, sets=" ".join(sets)))
            f.write(yaml.safe_dump_all(documents, default_flow_style=False, sort_keys=False,
                                       explicit_start=True, width=1 << 20))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    k8s = os.path.join(root, "deploy", "k8s")
    try:
        write(root, k8s, ["secret.existingSecret=warden"], lambda d: True)
        write(root, os.path.join(k8s, "optional"),
              ["secret.existingSecret=warden", "agent.enabled=true"],
              lambda d: d["kind"] == "DaemonSet")
    except helm.HelmError as error:
        print(f"plain_manifests: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

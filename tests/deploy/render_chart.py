#!/usr/bin/env python3
"""Renders a Helm chart that uses only a small subset of Go template syntax.

For machines without helm. Supported, with Go text/template's semantics:
  {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Release.Namespace }}
  {{ .Release.Service }}  {{ .Chart.Name }}  {{ .Chart.Version }}  {{ .Chart.AppVersion }}
  {{- ... -}}                 whitespace trimming on either side
  {{/* comment */}}
  {{- if PIPELINE }} ... {{- else }} ... {{- end }}
  {{- define "name" }} ... {{- end }}      (in templates/_*.tpl)
  functions: include "name" .   toYaml X   nindent N   indent N   quote   not X
  pipelines: X | f | g  (the value is passed as the last argument)
Anything else (range, with, variables, parentheses, other functions, a value
missing from values.yaml) is an error: the renderer fails loudly rather than
guessing.

usage:
  render_chart.py CHART [--set key=value]... [--release NAME] [--namespace NS]
                  [--plain-dir DIR]
Prints the manifests as `helm template` does (documents separated by ---,
each with a "# Source:" comment). --plain-dir writes one file per template
instead, without Helm's own labels (for deploy/k8s).
"""

import argparse
import json
import os
import re
import sys

import yaml


class TemplateError(Exception):
    pass


HELM_ONLY_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart")

# --- lexing -------------------------------------------------------------------

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def lex(source, name):
    """Splits a template into ("text", s) and ("action", s) items, trimming."""
    items = []
    pos = 0
    for match in ACTION.finditer(source):
        text = source[pos:match.start()]
        if match.group(1):  # "{{- " trims the whitespace before
            text = text.rstrip(" \t\r\n")
        items.append(["text", text])
        body = match.group(2).strip()
        if "{{" in body:
            raise TemplateError(f"{name}: nested '{{{{' in action near: {body[:60]!r}")
        items.append(["action", body, match.start()])
        if match.group(3):  # " -}}" trims the whitespace after
            items.append(["trim_next"])
        pos = match.end()
    tail = source[pos:]
    if "{{" in tail or "}}" in tail:
        raise TemplateError(f"{name}: unbalanced template delimiters near: {tail[:60]!r}")
    items.append(["text", tail])
    # Apply right trims to the text that follows.
    out = []
    trim = False
    for item in items:
        if item[0] == "trim_next":
            trim = True
            continue
        if item[0] == "text" and trim:
            item = ["text", item[1].lstrip(" \t\r\n")]
        trim = False
        out.append(item)
    return out


TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+)|'
                   r'(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|(?P<pipe>\|)|'
                   r'(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>\S))')


def tokenize(body, where):
    tokens = []
    pos = 0
    while pos < len(body):
        match = TOKEN.match(body, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "other":
            raise TemplateError(f"{where}: unsupported syntax {value!r} in {{{{ {body} }}}}")
        tokens.append((kind, value))
    return tokens


# --- parsing ------------------------------------------------------------------

FUNCTIONS = {"include": 2, "toYaml": 1, "nindent": 2, "indent": 2, "quote": 1, "not": 1}
KEYWORDS = {"if", "else", "end", "define"}
UNSUPPORTED = {"range", "with", "template", "block", "break", "continue", "and", "or",
               "default", "required", "tpl", "printf", "trunc", "trimSuffix", "replace",
               "lower", "upper", "toJson", "b64enc", "eq", "ne", "lookup"}


def parse_pipeline(tokens, where):
    """A pipeline: list of commands; a command: list of operand tokens."""
    if not tokens:
        raise TemplateError(f"{where}: empty action")
    commands = [[]]
    for token in tokens:
        if token[0] == "pipe":
            if not commands[-1]:
                raise TemplateError(f"{where}: '|' without a command before it")
            commands.append([])
        else:
            commands[-1].append(token)
    if not commands[-1]:
        raise TemplateError(f"{where}: pipeline ends with '|'")
    for command in commands:
        head = command[0]
        if head[0] == "ident":
            if head[1] in UNSUPPORTED or head[1] not in FUNCTIONS:
                raise TemplateError(f"{where}: unsupported function {head[1]!r}")
        elif len(command) > 1:
            raise TemplateError(f"{where}: a value cannot take arguments: {command}")
    return commands


def parse(items, name):
    """Returns (nodes, defines). A node: ("text", s) | ("print", pipeline) |
    ("if", pipeline, then_nodes, else_nodes)."""
    defines = {}
    root = []
    stack = [("root", root, None)]  # (kind, current node list, extra)
    for item in items:
        if item[0] == "text":
            if item[1]:
                stack[-1][1].append(("text", item[1]))
            continue
        body = item[1]
        line = items_line(item, name)
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError(f"{line}: unterminated comment")
            continue
        tokens = tokenize(body, line)
        if not tokens:
            raise TemplateError(f"{line}: empty action")
        head = tokens[0]
        if head[0] == "ident" and head[1] == "if":
            then_nodes = []
            node = ["if", parse_pipeline(tokens[1:], line), then_nodes, []]
            stack[-1][1].append(node)
            stack.append(("if", then_nodes, node))
        elif head[0] == "ident" and head[1] == "else":
            if len(tokens) != 1:
                raise TemplateError(f"{line}: 'else if' and 'else with' are not supported")
            kind, _, node = stack[-1]
            if kind != "if" or stack[-1][1] is node[3]:
                raise TemplateError(f"{line}: 'else' outside an if")
            stack[-1] = ("if", node[3], node)
        elif head[0] == "ident" and head[1] == "end":
            if len(tokens) != 1 or len(stack) == 1:
                raise TemplateError(f"{line}: unexpected 'end'")
            kind, nodes, extra = stack.pop()
            if kind == "define":
                defines[extra] = nodes
        elif head[0] == "ident" and head[1] == "define":
            if len(tokens) != 2 or tokens[1][0] != "string" or len(stack) != 1:
                raise TemplateError(f"{line}: define takes one quoted name, at top level")
            nodes = []
            stack.append(("define", nodes, json.loads(tokens[1][1])))
        else:
            if head[0] == "ident" and head[1] in UNSUPPORTED:
                raise TemplateError(f"{line}: unsupported keyword or function {head[1]!r}")
            stack[-1][1].append(("print", parse_pipeline(tokens, line)))
    if len(stack) != 1:
        raise TemplateError(f"{name}: missing {{{{ end }}}} for '{stack[-1][0]}'")
    return root, defines


def items_line(item, name):
    return f"{name}@{item[2]}" if len(item) > 2 else name


# --- evaluation -----------------------------------------------------------------


class Renderer:
    def __init__(self, context, defines):
        self.context = context
        self.defines = defines

    def field(self, path, dot, where):
        if path == ".":
            return dot
        value = dot
        walked = ""
        for part in path[1:].split("."):
            walked += "." + part
            if not isinstance(value, dict) or part not in value:
                raise TemplateError(f"{where}: {walked} is not defined (values.yaml must "
                                    f"define every value a template uses)")
            value = value[part]
        return value

    def operand(self, token, dot, where):
        kind, text = token
        if kind == "string":
            return json.loads(text)
        if kind == "number":
            return int(text)
        if kind == "field":
            return self.field(text, dot, where)
        raise TemplateError(f"{where}: a function name where a value belongs: {text}")

    def pipeline(self, commands, dot, where):
        value = None
        for index, command in enumerate(commands):
            head = command[0]
            if head[0] != "ident":
                value = self.operand(head, dot, where)
                continue
            args = [self.operand(t, dot, where) for t in command[1:]]
            if index > 0:
                args.append(value)
            value = self.call(head[1], args, dot, where)
        return value

    def call(self, name, args, dot, where):
        if len(args) != FUNCTIONS[name]:
            raise TemplateError(f"{where}: {name} takes {FUNCTIONS[name]} arguments, got {len(args)}")
        if name == "include":
            template, context = args
            if template not in self.defines:
                raise TemplateError(f"{where}: include of undefined template {template!r}")
            return self.render(self.defines[template], context, f"define {template}")
        if name == "toYaml":
            return to_yaml(args[0])
        if name in ("nindent", "indent"):
            count, text = args
            if not isinstance(count, int):
                raise TemplateError(f"{where}: {name} needs a number")
            pad = " " * count
            text = "\n".join(pad + line for line in go_string(text).split("\n"))
            return ("\n" + text) if name == "nindent" else text
        if name == "quote":
            return json.dumps(go_string(args[0]))
        if name == "not":
            return not truthy(args[0])
        raise TemplateError(f"{where}: unsupported function {name}")

    def render(self, nodes, dot, where):
        out = []
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "print":
                value = self.pipeline(node[1], dot, where)
                if isinstance(value, (dict, list)):
                    raise TemplateError(f"{where}: printing a map or list needs toYaml")
                out.append(go_string(value))
            else:
                _, condition, then_nodes, else_nodes = node
                branch = then_nodes if truthy(self.pipeline(condition, dot, where)) else else_nodes
                out.append(self.render(branch, dot, where))
        return "".join(out)


def truthy(value):
    return not (value is None or value is False or value == 0 or value == "" or
                value == [] or value == {})


def go_string(value):
    if value is None:
        raise TemplateError("printing an empty (null) value")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_yaml(value):
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=True, width=1 << 20)
    if text.endswith("\n...\n"):
        text = text[:-len("...\n")]
    return text.rstrip("\n")


# --- the chart ----------------------------------------------------------------


def set_value(values, assignment):
    if "=" not in assignment:
        raise TemplateError(f"--set {assignment}: expected key=value")
    key, raw = assignment.split("=", 1)
    value = yaml.safe_load(raw) if raw != "" else ""
    if isinstance(value, (dict, list)):
        raise TemplateError(f"--set {assignment}: only scalar values are supported")
    parts = key.split(".")
    node = values
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise TemplateError(f"--set {key}: {part} is not a map in values.yaml")
        node = node[part]
    if parts[-1] not in node:
        raise TemplateError(f"--set {key}: no such value in values.yaml")
    node[parts[-1]] = value


def check_schema(chart_dir, values):
    """As Helm does: the values must satisfy the chart's values.schema.json."""
    path = os.path.join(chart_dir, "values.schema.json")
    if not os.path.exists(path):
        return
    try:
        import jsonschema
    except ImportError:
        print("render_chart: values.schema.json not checked (no python3 jsonschema module)",
              file=sys.stderr)
        return
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    problems = [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(values)]
    if problems:
        raise TemplateError("values do not match values.schema.json: " + "; ".join(problems))


def render_chart(chart_dir, sets, release, namespace):
    """Returns [(template file name, rendered text)] for every manifest template."""
    with open(os.path.join(chart_dir, "Chart.yaml"), encoding="utf-8") as f:
        chart = yaml.safe_load(f)
    with open(os.path.join(chart_dir, "values.yaml"), encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    for assignment in sets:
        set_value(values, assignment)
    check_schema(chart_dir, values)
    context = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"],
                  "AppVersion": chart.get("appVersion", ""),
                  "Description": chart.get("description", "")},
    }
    template_dir = os.path.join(chart_dir, "templates")
    names = sorted(os.listdir(template_dir))
    defines = {}
    parsed = {}
    for name in names:
        path = os.path.join(template_dir, name)
        if not os.path.isfile(path):
            raise TemplateError(f"{path}: subdirectories of templates/ are not supported")
        with open(path, encoding="utf-8") as f:
            nodes, file_defines = parse(lex(f.read(), name), name)
        for define in file_defines:
            if define in defines:
                raise TemplateError(f"{name}: template {define!r} defined twice")
        defines.update(file_defines)
        if name.startswith("_"):
            if "".join(n[1] for n in nodes if n[0] == "text").strip():
                raise TemplateError(f"{name}: a helper file may hold only defines and comments")
            continue
        parsed[name] = nodes
    renderer = Renderer(context, defines)
    rendered = []
    for name, nodes in parsed.items():
        text = renderer.render(nodes, context, name)
        if name == "NOTES.txt":
            continue  # rendered to check it, not a manifest
        if not name.endswith((".yaml", ".yml")):
            raise TemplateError(f"{name}: templates must be .yaml, .yml, _*.tpl or NOTES.txt")
        rendered.append((name, text))
    return chart["name"], rendered


def strip_helm_labels(document):
    labels = (document.get("metadata") or {}).get("labels") or {}
    for label in HELM_ONLY_LABELS:
        labels.pop(label, None)
    return document


def is_hook_job(document):
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    return document.get("kind") == "Job" and "helm.sh/hook" in annotations


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chart")
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--release", default="warden")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--plain-dir")
    args = parser.parse_args()
    try:
        chart_name, rendered = render_chart(args.chart, args.sets, args.release, args.namespace)
    except (TemplateError, OSError, yaml.YAMLError) as error:
        print(f"render_chart: error: {error}", file=sys.stderr)
        return 1
    if args.plain_dir:
        os.makedirs(args.plain_dir, exist_ok=True)
        for name, text in rendered:
            # Hooks (the migration Job) belong to Helm's life cycle; without
            # Helm, replicas apply the migrations themselves on start.
            documents = [d for d in yaml.safe_load_all(text) if d and not is_hook_job(d)]
            if not documents:
                continue
            with open(os.path.join(args.plain_dir, name), "w", encoding="utf-8") as f:
                options = "".join(f" --set {a}" for a in args.sets)
                f.write(f"# Generated from the Helm chart's templates/{name} by\n"
                        f"#   python3 tests/deploy/render_chart.py {args.chart}{options} --plain-dir DIR\n"
                        f"# (release \"{args.release}\", the chart's default values otherwise);\n"
                        "# tests/deploy/validate.sh fails when the two differ. Edit the chart,\n"
                        "# then regenerate.\n")
                f.write(yaml.safe_dump_all([strip_helm_labels(d) for d in documents],
                                           default_flow_style=False, sort_keys=False,
                                           explicit_start=True, width=1 << 20))
        return 0
    for name, text in rendered:
        if text.strip():
            sys.stdout.write(f"---\n# Source: {chart_name}/templates/{name}\n{text.strip(chr(10))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

// usage: NODE_PATH=<dir>/node_modules node k8s_validate.js FILE.yaml...
// Offline JSON-schema validation of built-in Kubernetes kinds with the npm
// packages kubernetes-models and yaml, and of the custom resources the chart
// renders with @kubernetes-models/cert-manager (Certificate) and
// @kubernetes-models/prometheus-operator (ServiceMonitor, PodMonitor,
// PrometheusRule). Kinds without a schema there are reported and skipped.
// Exit 1 when a document is invalid.
'use strict';
const fs = require('fs');
const path = require('path');
const url = require('url');
const YAML = require('yaml');

const crdPackages = {
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

// The custom resources' packages are ES modules, which NODE_PATH does not
// reach: they are imported by file.
async function modelFor(apiVersion, kind) {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  if (crdPackages[group]) {
    // Installed with the validator: failing to load it is an error, not a skip.
    const file = path.join(process.env.NODE_PATH, crdPackages[group], apiVersion, 'index.js');
    if (!fs.existsSync(file)) return undefined;  // an API version the package lacks
    return (await import(url.pathToFileURL(file).href))[kind];
  }
  try {
    return require(`kubernetes-models/${apiVersion}`)[kind];
  } catch {
    return undefined;
  }
}

async function main() {
let bad = 0;
for (const file of process.argv.slice(2)) {
  for (const document of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    if (document.errors.length) {
      bad++;
      console.log(`${file}: YAML error: ${document.errors[0].message}`);
      continue;
    }
    const object = document.toJS();
    if (!object) continue;
    const Model = await modelFor(object.apiVersion, object.kind);
    const name = `${object.kind}/${object.metadata && object.metadata.name}`;
    if (!Model) {
      console.log(`${file}: ${name} (${object.apiVersion}): no schema here, skipped`);
      continue;
    }
    try {
      new Model(object).validate();
      console.log(`${file}: ${name}: valid`);
    } catch (error) {
      bad++;
      console.log(`${file}: ${name}: INVALID ${error.message}`);
    }
  }
}
process.exit(bad ? 1 : 0);
}

main();

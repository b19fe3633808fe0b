// usage: NODE_PATH=<dir>/node_modules node k8s_validate.js FILE.yaml...
// Offline JSON-schema validation of built-in Kubernetes kinds with the npm
// packages kubernetes-models and yaml. Kinds without a schema there (e.g. a
// ServiceMonitor) are reported and skipped. Exit 1 when a document is invalid.
'use strict';
const fs = require('fs');
const YAML = require('yaml');

function modelFor(apiVersion, kind) {
  try {
    return require(`kubernetes-models/${apiVersion}`)[kind];
  } catch {
    return undefined;
  }
}

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
    const Model = modelFor(object.apiVersion, object.kind);
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

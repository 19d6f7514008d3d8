// Validates Teams app manifests with Microsoft's @microsoft/app-manifest: the JSON schema the manifest's $schema
// names, loaded from the schemas the npm package ships (no network). Prints "valid" or one error a line and exits 1.
//
//   node validate.mjs path/to/manifest.json
import {readFile} from 'node:fs/promises';

import {AppManifestUtils} from '@microsoft/app-manifest';

const file = process.argv[2];
if (!file) {
    console.error('usage: node validate.mjs manifest.json');
    process.exit(2);
}
const manifest = JSON.parse(await readFile(file, 'utf8'));
// Refuse to validate against a schema fetched from the network: the package must hold the one the manifest names.
const suffix = AppManifestUtils.getLocalSchemaSuffix(manifest.$schema ?? '');
if (!suffix) {
    console.error(`the manifest's $schema is not one the package ships: ${manifest.$schema}`);
    process.exit(2);
}
globalThis.fetch = () => {
    throw new Error('network access during validation');
};
const errors = await AppManifestUtils.validateAgainstSchema(manifest);
if (errors.length === 0) {
    console.log('valid');
} else {
    for (const e of errors) {
        console.log(e);
    }
    process.exit(1);
}

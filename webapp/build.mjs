// Bundles the webapp as one IIFE. Mattermost provides React and friends as globals; they are not bundled.
import * as esbuild from 'esbuild';

const globals = {
    react: 'window.React',
    'react-dom': 'window.ReactDOM',
    redux: 'window.Redux',
    'react-redux': 'window.ReactRedux',
};

const mattermostGlobals = {
    name: 'mattermost-globals',
    setup(build) {
        const filter = new RegExp(`^(${Object.keys(globals).join('|')})$`);
        build.onResolve({filter}, (args) => ({path: args.path, namespace: 'mattermost-global'}));
        build.onLoad({filter: /.*/, namespace: 'mattermost-global'}, (args) => ({
            contents: `module.exports = ${globals[args.path]};`,
            loader: 'js',
        }));
    },
};

await esbuild.build({
    entryPoints: ['src/index.tsx'],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    jsx: 'transform',
    sourcemap: true,
    minify: process.env.NODE_ENV === 'production',
    outfile: 'dist/main.js',
    plugins: [mattermostGlobals],
    logLevel: 'warning',
});

// The Teams tab's script (the bundle's public/tab.js, which Mattermost serves at /plugins/<id>/public/tab.js): a page
// of its own, with Microsoft's Teams JavaScript client library bundled in.
await esbuild.build({
    entryPoints: ['src/tab/tab.ts'],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: process.env.NODE_ENV === 'production',
    outfile: 'dist/tab.js',
    logLevel: 'warning',
});

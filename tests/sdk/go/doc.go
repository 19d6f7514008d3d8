// Package sdk drives the Microsoft 365 emulator (tests/emulators/graph) with Microsoft's own Go libraries,
// unpatched: MSAL Go for tokens and Kiota's Go HTTP stack (kiota-http-go with its default middleware, the
// pipeline the Graph Go SDK sends through) for Graph requests. Everything is in the tests; tests/sdk/run.sh runs
// them after the Python half. See tests/emulators/graph/README.md §8.
package sdk

// Microsoft's own Go libraries, unpatched, against the Microsoft 365 emulator (tests/sdk/run.sh runs it).
module github.com/msteams-bridge/msteams/tests/sdk/go

go 1.26

require (
	github.com/AzureAD/microsoft-authentication-library-for-go v1.10.1
	github.com/microsoft/kiota-abstractions-go v1.9.3
	github.com/microsoft/kiota-http-go v1.5.4
	github.com/microsoft/kiota-serialization-json-go v1.1.2
	github.com/msteams-bridge/msteams/tests/emulators/graph v0.0.0
)

require (
	github.com/go-logr/logr v1.4.2 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/golang-jwt/jwt/v5 v5.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/std-uritemplate/std-uritemplate/go/v2 v2.0.3 // indirect
	go.opentelemetry.io/auto/sdk v1.1.0 // indirect
	go.opentelemetry.io/otel v1.35.0 // indirect
	go.opentelemetry.io/otel/metric v1.35.0 // indirect
	go.opentelemetry.io/otel/trace v1.35.0 // indirect
	golang.org/x/sync v0.10.0 // indirect
)

replace github.com/msteams-bridge/msteams/tests/emulators/graph => ../../emulators/graph

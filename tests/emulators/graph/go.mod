module github.com/msteams-bridge/msteams/tests/emulators/graph

go 1.26

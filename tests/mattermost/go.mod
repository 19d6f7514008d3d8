// mmtest: the test library that starts a real Mattermost server (built by build.sh) on a
// throwaway PostgreSQL and drives it through Mattermost's own client library.
// It deliberately depends on server/public only, never on the heavy server/v8 module.
module github.com/msteams-bridge/msteams/tests/mattermost

go 1.24.0

require github.com/mattermost/mattermost/server/public v0.1.22

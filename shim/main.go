// Command plugin-linux-amd64 is the Go shim of the MS Teams plugin: Mattermost starts it, it starts the C++ core
// (server/dist/msteams-core) and forwards every hook, command and HTTP request to it over gRPC.
package main

import "github.com/mattermost/mattermost/server/public/plugin"

func main() {
	plugin.ClientMain(&Plugin{})
}

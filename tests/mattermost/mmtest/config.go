package mmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// writeConfig writes the server's config.json: only the settings the test bed cares about.
// The server fills in everything else with its own defaults, which keeps one generator
// valid for every pinned release (a field unknown to an older server is ignored).
func writeConfig(path, runDir string, port int, siteURL, dataSource, logLevel string) error {
	cfg := map[string]any{
		"ServiceSettings": map[string]any{
			"SiteURL":                         siteURL,
			"ListenAddress":                   fmt.Sprintf("127.0.0.1:%d", port),
			"EnableDeveloper":                 true,
			"EnableTesting":                   false,
			"EnableUserAccessTokens":          true,
			"EnableBotAccountCreation":        true,
			"EnablePostUsernameOverride":      true,
			"EnablePostIconOverride":          true,
			"EnableCommands":                  true,
			"EnableIncomingWebhooks":          true,
			"EnableLinkPreviews":              false,
			"EnableSecurityFixAlert":          false,
			"EnableLocalMode":                 false,
			"EnableGifPicker":                 false,
			"EnableAPITeamDeletion":           true,
			"EnableAPIUserDeletion":           true,
			"EnableAPIChannelDeletion":        true,
			"EnableMultifactorAuthentication": false,
		},
		"TeamSettings": map[string]any{
			"EnableUserCreation": true,
			"EnableOpenServer":   false,
			"MaxUsersPerTeam":    100000,
			"MaxChannelsPerTeam": 100000,
		},
		"SqlSettings": map[string]any{
			"DriverName":   "postgres",
			"DataSource":   dataSource,
			"MaxOpenConns": 40,
			"MaxIdleConns": 10,
		},
		"LogSettings": map[string]any{
			"EnableConsole":     true,
			"ConsoleLevel":      logLevel,
			"ConsoleJson":       false,
			"EnableColor":       false,
			"EnableFile":        false,
			"EnableDiagnostics": false, // no telemetry
			"EnableSentry":      false,
		},
		"NotificationLogSettings":   map[string]any{"EnableConsole": false, "EnableFile": false},
		"ExperimentalAuditSettings": map[string]any{"FileEnabled": false},
		"FileSettings": map[string]any{
			"DriverName":            "local",
			"Directory":             filepath.Join(runDir, "data") + "/",
			"EnableFileAttachments": true,
		},
		"EmailSettings": map[string]any{
			"EnableSignUpWithEmail":    true,
			"EnableSignInWithEmail":    true,
			"EnableSignInWithUsername": true,
			"SendEmailNotifications":   false,
			"RequireEmailVerification": false,
			"SendPushNotifications":    false,
			"EnablePreviewModeBanner":  false,
		},
		// No job server: its watcher sleeps up to 15 s before it first polls and cannot be stopped meanwhile, so a
		// server stopped in its first seconds took that long to exit. Nothing here needs Mattermost's jobs.
		"JobSettings":          map[string]any{"RunJobs": false, "RunScheduler": false},
		"RateLimitSettings":    map[string]any{"Enable": false},
		"MetricsSettings":      map[string]any{"Enable": false},
		"ClusterSettings":      map[string]any{"Enable": false},
		"ImageProxySettings":   map[string]any{"Enable": false},
		"AnnouncementSettings": map[string]any{"AdminNoticesEnabled": false, "UserNoticesEnabled": false},
		"PluginSettings": map[string]any{
			"Enable":                      true,
			"EnableUploads":               true,
			"RequirePluginSignature":      false,
			"EnableHealthCheck":           true,
			"EnableMarketplace":           false,
			"EnableRemoteMarketplace":     false,
			"AutomaticPrepackagedPlugins": false,
			"Directory":                   filepath.Join(runDir, "plugins"),
			// Not "client/...": the server looks for its web app in ./client first.
			"ClientDirectory": filepath.Join(runDir, "client-plugins"),
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

package main

import (
	"encoding/json"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
)

// Mattermost 11 masks secret settings in GetPluginConfig; the core must get the real value, or it would present
// the mask to Entra and save the mask back over the secret.
func TestConfigurationCarriesUnmaskedSecrets(t *testing.T) {
	api := &fakeAPI{}
	api.setSetting("clientsecret", "the-real-secret")
	api.setSetting("tenantid", "t1")
	p := &Plugin{}
	p.SetAPI(api)
	cfg, err := p.buildConfiguration("/bundle")
	if err != nil {
		t.Fatal(err)
	}
	var settings map[string]any
	if err := json.Unmarshal([]byte(cfg.GetPluginSettingsJson()), &settings); err != nil {
		t.Fatal(err)
	}
	if settings["clientsecret"] != "the-real-secret" || settings["tenantid"] != "t1" {
		t.Fatalf("settings reaching the core: %v", settings)
	}
	if cfg.GetServer().GetSqlDataSource() == "" {
		t.Error("the server settings are missing")
	}
	// The core tells the admin when Teams may not frame Mattermost's pages (the Teams tab opens them).
	if got := cfg.GetServer().GetFrameAncestors(); got != "https://teams.microsoft.com" {
		t.Errorf("frame ancestors reaching the core: %q", got)
	}
	// A server without the setting (9.11) has Teams' global host built in.
	old := &model.Config{}
	if got := frameAncestorsOf(old); got != "'self' teams.microsoft.com" {
		t.Errorf("frame ancestors of a server without the setting: %q", got)
	}
}

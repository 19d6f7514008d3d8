package main

// Checking the plugin's settings before Mattermost saves them, so that System Console refuses invalid ones with a
// message naming each problem instead of saving what will not run.

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const validateTimeout = 10 * time.Second

// unmasked returns settings with every value Mattermost masked (secret settings read from GET /api/v4/config and
// saved back) replaced by the stored one, so that the core never sees the mask as a value. Mattermost restores the
// same values itself when it stores the configuration.
func unmasked(settings, stored map[string]any) map[string]any {
	out := make(map[string]any, len(settings))
	for k, v := range settings {
		if s, ok := v.(string); ok && s == model.FakeSetting {
			if prev, found := stored[k]; found {
				v = prev
			} else {
				v = ""
			}
		}
		out[k] = v
	}
	return out
}

// ConfigurationWillBeSaved (Mattermost 8.0+) refuses a save whose MS Teams settings the core would refuse. Other
// changes, or settings left as they are, always pass: the plugin never blocks an unrelated save.
func (p *Plugin) ConfigurationWillBeSaved(newCfg *model.Config) (*model.Config, error) {
	if newCfg == nil {
		return nil, nil
	}
	link, _ := p.current()
	if link == nil {
		return nil, nil // not active: the settings are checked on activation
	}
	client, _, ok := link.readyClient()
	if !ok {
		return nil, nil // restarting: the restart applies (or reports) the saved settings
	}
	id := p.id
	if id == "" {
		id = defaultPluginID
	}
	stored := map[string]any{}
	current := p.API.GetUnsanitizedConfig()
	if current != nil && current.PluginSettings.Plugins[id] != nil {
		stored = current.PluginSettings.Plugins[id]
	}
	settings := unmasked(newCfg.PluginSettings.Plugins[id], stored)
	if reflect.DeepEqual(settings, stored) {
		return nil, nil
	}
	js, err := json.Marshal(settings)
	if err != nil {
		return nil, nil
	}
	server := &corepb.ServerSettings{
		SiteUrl:       deref(newCfg.ServiceSettings.SiteURL),
		SqlDriverName: deref(newCfg.SqlSettings.DriverName),
		ServerVersion: p.API.GetServerVersion(),
		PluginVersion: p.version,
	}
	if newCfg.FileSettings.MaxFileSize != nil {
		server.MaxFileSize = *newCfg.FileSettings.MaxFileSize
	}
	ctx, cancel := context.WithTimeout(context.Background(), validateTimeout)
	defer cancel()
	res, err := client.ValidateConfiguration(ctx, &corepb.Configuration{PluginSettingsJson: string(js), Server: server})
	if err != nil {
		// The core could not answer: let the save through; OnConfigurationChange reports what is wrong.
		p.API.LogWarn("could not check the MS Teams settings before saving", "error", err.Error())
		return nil, nil
	}
	if msg := res.GetError(); msg != "" {
		return nil, &model.AppError{
			Id:              "plugin.msteams.settings.invalid",
			Message:         "MS Teams: " + msg,
			StatusCode:      400,
			Where:           "msteams.ConfigurationWillBeSaved",
			SkipTranslation: true,
		}
	}
	return nil, nil
}

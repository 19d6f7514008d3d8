package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

// validatingHooks refuses settings that carry "bad", and records what it was asked to check.
type validatingHooks struct {
	fakeHooks
	mu      sync.Mutex
	checked []string
}

func (v *validatingHooks) ValidateConfiguration(_ context.Context, c *corepb.Configuration) (*corepb.HookResult, error) {
	v.mu.Lock()
	v.checked = append(v.checked, c.GetPluginSettingsJson())
	v.mu.Unlock()
	if strings.Contains(c.GetPluginSettingsJson(), "bad") {
		return &corepb.HookResult{Error: "2 settings need fixing: A (a) is bad. B (b) is bad."}, nil
	}
	return &corepb.HookResult{}, nil
}

func configWith(settings map[string]any) *model.Config {
	cfg := &model.Config{}
	cfg.SetDefaults()
	cfg.PluginSettings.Plugins = map[string]map[string]any{defaultPluginID: settings}
	return cfg
}

func TestConfigurationWillBeSavedRefusesInvalidSettingsWithEveryProblem(t *testing.T) {
	v := &validatingHooks{}
	p, _, api := newLinkedPlugin(t, &v.fakeHooks, true)
	// newLinkedPlugin served v.fakeHooks; serve the validating one instead.
	p.mu.Lock()
	p.link = newSwitchLink(startFakeCore(t, v), true)
	p.mu.Unlock()
	api.setSetting("clientsecret", "the-real-secret")
	api.setSetting("tenantid", "t1")

	_, err := p.ConfigurationWillBeSaved(configWith(map[string]any{"clientsecret": model.FakeSetting, "tenantid": "bad"}))
	var appErr *model.AppError
	if err == nil || !errors.As(err, &appErr) {
		t.Fatalf("invalid settings: %v, want an AppError", err)
	}
	if appErr.StatusCode != 400 || !strings.Contains(appErr.Message, "A (a) is bad. B (b) is bad.") || !appErr.SkipTranslation {
		t.Errorf("AppError %+v", appErr)
	}
	v.mu.Lock()
	last := v.checked[len(v.checked)-1]
	v.mu.Unlock()
	if strings.Contains(last, model.FakeSetting) || !strings.Contains(last, "the-real-secret") {
		t.Errorf("the core was asked to check %s: the mask must be replaced by the stored secret", last)
	}

	// Unchanged plugin settings (another part of the configuration saved) pass without asking the core.
	before := len(v.checked)
	if _, err := p.ConfigurationWillBeSaved(configWith(map[string]any{"clientsecret": model.FakeSetting, "tenantid": "t1"})); err != nil {
		t.Errorf("unchanged settings refused: %v", err)
	}
	if len(v.checked) != before {
		t.Errorf("unchanged settings were sent to the core")
	}
	if _, err := p.ConfigurationWillBeSaved(configWith(map[string]any{"clientsecret": model.FakeSetting, "tenantid": "t2"})); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

func TestConfigurationWillBeSavedLetsSavesThroughWithoutACore(t *testing.T) {
	v := &validatingHooks{}
	p, link, _ := newLinkedPlugin(t, &v.fakeHooks, false)
	link.setUp(false)
	if _, err := p.ConfigurationWillBeSaved(configWith(map[string]any{"tenantid": "bad"})); err != nil {
		t.Errorf("a restarting core blocked a save: %v", err)
	}
	p.OnDeactivate()
	if _, err := p.ConfigurationWillBeSaved(configWith(map[string]any{"tenantid": "bad"})); err != nil {
		t.Errorf("an inactive plugin blocked a save: %v", err)
	}
}

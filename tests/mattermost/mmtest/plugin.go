package mmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// ActivationError is a plugin that did not reach the running state. Message is the
// server's own error text, verbatim (the plugin status's "error" field).
type ActivationError struct {
	PluginID string
	State    int // model.PluginState*
	Message  string
}

func (e *ActivationError) Error() string {
	return fmt.Sprintf("plugin %s did not start (%s): %s", e.PluginID, stateName(e.State), e.Message)
}

func stateName(state int) string {
	switch state {
	case model.PluginStateNotRunning:
		return "not running"
	case model.PluginStateStarting:
		return "starting"
	case model.PluginStateRunning:
		return "running"
	case model.PluginStateFailedToStart:
		return "failed to start"
	case model.PluginStateFailedToStayRunning:
		return "failed to stay running"
	case model.PluginStateStopping:
		return "stopping"
	}
	return fmt.Sprintf("state %d", state)
}

// InstallBundle does what an administrator does in System Console: upload the bundle
// (replacing an installed version), store its settings, and enable it. It returns the
// uploaded manifest; when the plugin does not start, the error is an *ActivationError.
// The plugin becomes the Server's PluginID when none was set.
func (s *Server) InstallBundle(ctx context.Context, bundle string, settings map[string]any) (*model.Manifest, error) {
	m, err := s.UploadBundle(ctx, bundle)
	if err != nil {
		return nil, err
	}
	if s.PluginID == "" {
		s.PluginID = m.Id
	}
	if settings != nil {
		if err := s.SetPluginSettings(ctx, m.Id, settings); err != nil {
			return m, err
		}
	}
	return m, s.EnablePlugin(ctx, m.Id)
}

// UploadBundle uploads a plugin .tar.gz through POST /api/v4/plugins with force=true.
func (s *Server) UploadBundle(ctx context.Context, bundle string) (*model.Manifest, error) {
	f, err := os.Open(bundle)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, _, err := s.AdminClient.UploadPluginForced(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("uploading %s: %w", bundle, err)
	}
	return m, nil
}

// EnablePlugin enables an installed plugin and waits until it runs or fails; a failure is
// returned as an *ActivationError carrying the server's message verbatim.
func (s *Server) EnablePlugin(ctx context.Context, id string) error {
	if _, err := s.AdminClient.EnablePlugin(ctx, id); err != nil {
		return fmt.Errorf("enabling plugin %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		st, err := s.PluginStatus(ctx, id)
		if err != nil {
			return err
		}
		switch st.State {
		case model.PluginStateRunning:
			return nil
		case model.PluginStateFailedToStart, model.PluginStateFailedToStayRunning:
			return &ActivationError{PluginID: id, State: st.State, Message: st.Error}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("plugin %s still %s: %w", id, stateName(st.State), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DisablePlugin disables a plugin and waits until the server reports it not running.
func (s *Server) DisablePlugin(ctx context.Context, id string) error {
	if _, err := s.AdminClient.DisablePlugin(ctx, id); err != nil {
		return fmt.Errorf("disabling plugin %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		st, err := s.PluginStatus(ctx, id)
		if err != nil {
			return err
		}
		if st.State == model.PluginStateNotRunning {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("plugin %s still %s after disabling: %w", id, stateName(st.State), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RemovePlugin uninstalls a plugin.
func (s *Server) RemovePlugin(ctx context.Context, id string) error {
	if _, err := s.AdminClient.RemovePlugin(ctx, id); err != nil {
		return fmt.Errorf("removing plugin %s: %w", id, err)
	}
	return nil
}

// PluginStatus returns the server's status for one installed plugin.
func (s *Server) PluginStatus(ctx context.Context, id string) (*model.PluginStatus, error) {
	all, _, err := s.AdminClient.GetPluginStatuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading plugin statuses: %w", err)
	}
	for _, st := range all {
		if st.PluginId == id {
			return st, nil
		}
	}
	return nil, fmt.Errorf("plugin %s is not installed", id)
}

// SetPluginSettings replaces PluginSettings.Plugins[id] with settings, as System Console
// does (read the config, change it, write it back). Keys are stored lower-cased, which is
// how the server keeps them.
func (s *Server) SetPluginSettings(ctx context.Context, id string, settings map[string]any) error {
	return s.UpdateConfig(ctx, func(cfg *model.Config) {
		m := make(map[string]any, len(settings))
		for k, v := range settings {
			m[strings.ToLower(k)] = v
		}
		if cfg.PluginSettings.Plugins == nil {
			cfg.PluginSettings.Plugins = map[string]map[string]any{}
		}
		cfg.PluginSettings.Plugins[id] = m
	})
}

// PluginSettings returns PluginSettings.Plugins[id] as the server has it.
func (s *Server) PluginSettings(ctx context.Context, id string) (map[string]any, error) {
	cfg, _, err := s.AdminClient.GetConfig(ctx)
	if err != nil {
		return nil, err
	}
	return cfg.PluginSettings.Plugins[id], nil
}

// UpdateConfig reads the server config, lets change edit it, and writes it back.
func (s *Server) UpdateConfig(ctx context.Context, change func(cfg *model.Config)) error {
	cfg, _, err := s.AdminClient.GetConfig(ctx)
	if err != nil {
		return fmt.Errorf("reading the config: %w", err)
	}
	change(cfg)
	if _, _, err := s.AdminClient.UpdateConfig(ctx, cfg); err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	return nil
}

// PluginResponse is what a plugin route answered.
type PluginResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// PluginRequest calls the plugin's HTTP route /plugins/<PluginID><path>. With a user, the
// request carries that user's session token (so the server sets Mattermost-User-Id, as in
// production); with as == nil it carries no session. header may be nil.
func (s *Server) PluginRequest(ctx context.Context, as *User, method, path string, body io.Reader, header http.Header) (*PluginResponse, error) {
	if s.PluginID == "" {
		return nil, fmt.Errorf("no plugin id: set Options.PluginID or install a bundle")
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+"/plugins/"+s.PluginID+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if as != nil {
		req.Header.Set(model.HeaderAuth, model.HeaderBearer+" "+as.Client.AuthToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	return &PluginResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// StoredPluginSettings returns PluginSettings.Plugins[id] as stored in the server's config.json, with the values
// of secret settings that GET /api/v4/config masks.
func (s *Server) StoredPluginSettings(id string) (map[string]any, error) {
	data, err := os.ReadFile(filepath.Join(s.RunDir, "config.json"))
	if err != nil {
		return nil, err
	}
	var cfg model.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(s.RunDir, "config.json"), err)
	}
	return cfg.PluginSettings.Plugins[id], nil
}

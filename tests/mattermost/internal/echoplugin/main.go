// Command echoplugin is a throwaway Mattermost plugin that the mmtest tests build, bundle,
// upload and drive: it proves the test bed against the real server, not the bridge.
//
//   - HTTP: /echo answers with the method, path, query, Mattermost-User-Id header and body
//     it received; /settings answers with the settings it last loaded.
//   - Slash command /mmtest-echo ARGS replies (ephemeral) "<greeting>: ARGS".
//   - Setting "failactivation" = true makes OnActivate fail with a known message.
package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// ActivationFailure is the error OnActivate returns when "failactivation" is set.
const ActivationFailure = "echoplugin refuses to start: failactivation is set"

type settings struct {
	Greeting       string `json:"greeting"`
	FailActivation bool   `json:"failactivation"`
}

type echoPlugin struct {
	plugin.MattermostPlugin

	mu  sync.Mutex
	cfg settings
}

func (p *echoPlugin) OnConfigurationChange() error {
	var s settings
	if err := p.API.LoadPluginConfiguration(&s); err != nil {
		return err
	}
	if s.Greeting == "" {
		s.Greeting = "echo"
	}
	p.mu.Lock()
	p.cfg = s
	p.mu.Unlock()
	return nil
}

func (p *echoPlugin) settings() settings {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

func (p *echoPlugin) OnActivate() error {
	if p.settings().FailActivation {
		return errors.New(ActivationFailure)
	}
	return p.API.RegisterCommand(&model.Command{
		Trigger:          "mmtest-echo",
		DisplayName:      "mmtest echo",
		AutoComplete:     true,
		AutoCompleteDesc: "Echoes its arguments",
	})
}

func (p *echoPlugin) ExecuteCommand(_ *plugin.Context, args *model.CommandArgs) (*model.CommandResponse, *model.AppError) {
	text := strings.TrimSpace(strings.TrimPrefix(args.Command, "/mmtest-echo"))
	return &model.CommandResponse{
		ResponseType: model.CommandResponseTypeEphemeral,
		Text:         p.settings().Greeting + ": " + text,
	}, nil
}

// Echo is what /echo answers.
type Echo struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	UserID string `json:"user_id"`
	Body   string `json:"body"`
}

func (p *echoPlugin) ServeHTTP(_ *plugin.Context, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/echo":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		_ = json.NewEncoder(w).Encode(Echo{
			Method: r.Method,
			Path:   r.URL.Path,
			Query:  r.URL.RawQuery,
			UserID: r.Header.Get("Mattermost-User-Id"),
			Body:   string(body),
		})
	case "/settings":
		_ = json.NewEncoder(w).Encode(p.settings())
	default:
		http.NotFound(w, r)
	}
}

func main() {
	plugin.ClientMain(&echoPlugin{})
}

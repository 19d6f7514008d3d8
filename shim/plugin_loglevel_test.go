package main

import (
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
)

func TestMostVerboseLogLevel(t *testing.T) {
	on, off := true, false
	level := func(s string) *string { return &s }
	cases := []struct {
		console, file       *bool
		consoleLvl, fileLvl *string
		want                string
	}{
		{&on, &on, level("INFO"), level("debug"), "DEBUG"},
		{&on, &off, level("warn"), level("DEBUG"), "WARN"},
		{&off, &off, level("INFO"), level("INFO"), ""},
		{&on, &on, level("ERROR"), level("TRACE"), ""},
		{nil, &on, nil, level("error"), "ERROR"},
	}
	for _, c := range cases {
		cfg := &model.Config{}
		cfg.LogSettings.EnableConsole, cfg.LogSettings.ConsoleLevel = c.console, c.consoleLvl
		cfg.LogSettings.EnableFile, cfg.LogSettings.FileLevel = c.file, c.fileLvl
		if got := mostVerboseLogLevel(cfg); got != c.want {
			t.Errorf("console %v %v, file %v %v: %q, want %q", c.console, c.consoleLvl, c.file, c.fileLvl, got, c.want)
		}
	}
}

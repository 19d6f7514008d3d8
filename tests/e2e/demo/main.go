// The demo: the plugin running end to end on this machine, in a real Mattermost server against the Microsoft 365
// emulator, with a scripted session narrated on stdout. DEMO_KEEP=1 keeps everything running afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

func main() {
	bundle := flag.String("bundle", "", "the plugin bundle")
	flag.Parse()
	if *bundle == "" {
		fmt.Fprintln(os.Stderr, "usage: demo -bundle dist/com.mattermost.msteams-<version>.tar.gz")
		os.Exit(2)
	}
	if err := run(*bundle); err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }
func show(who, text string) {
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		fmt.Printf("   %-10s %s\n", who+":", line)
	}
}

func run(bundle string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := time.Now()

	step("Starting the Microsoft 365 emulator and a Mattermost server with the plugin (%s)", bundle)
	b, err := harness.Start(ctx, harness.Options{Bundle: bundle, LogLevel: "INFO"})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Printf("   Mattermost %s at %s; Entra ID at %s; Graph at %s (%.1fs)\n",
		strings.Join(strings.SplitN(b.MM.Version, ".", 4)[:3], "."), b.MM.URL, b.Emu.LoginURL, b.Emu.GraphURL, time.Since(start).Seconds())

	alice, err := b.MM.CreateUser(ctx, "alice")
	if err != nil {
		return err
	}
	if _, err := b.TeamsTwin(ctx, alice, "Alice Example"); err != nil {
		return err
	}
	town, err := b.MM.CreateChannel(ctx, b.MM.Team.Id, "bridge-demo", model.ChannelTypeOpen, alice)
	if err != nil {
		return err
	}
	command := func(u *mmtest.User, cmd string) error {
		fmt.Printf("   %-10s %s\n", u.Username+":", cmd)
		resp, err := u.Command(ctx, town.Id, cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		show("bot", resp.Text)
		return nil
	}

	step("alice asks what the plugin can do")
	if err := command(alice, "/msteams"); err != nil {
		return err
	}
	step("alice connects her Teams account (OAuth with PKCE through Microsoft's sign-in)")
	if err := command(alice, "/msteams connect"); err != nil {
		return err
	}
	page, err := b.Connect(ctx, alice, alice.Email)
	if err != nil {
		return err
	}
	show("browser", pageText(page))
	step("alice checks her connection (the plugin asks Microsoft Graph who she is)")
	if err := command(alice, "/msteams status"); err != nil {
		return err
	}
	step("alice disconnects")
	if err := command(alice, "/msteams disconnect"); err != nil {
		return err
	}
	if err := command(alice, "/msteams status"); err != nil {
		return err
	}
	fmt.Printf("\nDemo finished in %.1fs. Message bridging (chats and channels) is the next capability to land; see the issues.\n",
		time.Since(start).Seconds())

	if os.Getenv("DEMO_KEEP") == "1" {
		fmt.Printf("\nStill running (DEMO_KEEP=1); Ctrl-C stops everything.\n")
		fmt.Printf("   MM_URL=%s\n   MM_ADMIN_TOKEN=%s\n   alice's password: %s\n   M365_CONTROL_URL=%s\n   M365_CA_FILE=%s\n",
			b.MM.URL, b.MM.AdminToken, alice.Password, b.Emu.ControlURL, b.Emu.CAFile)
		<-ctx.Done()
	}
	return nil
}

// pageText is the visible text of the small HTML page the plugin shows at the end of the OAuth flow.
func pageText(page string) string {
	var out strings.Builder
	inTag := false
	for _, r := range page {
		switch {
		case r == '<':
			inTag = true
			out.WriteRune(' ')
		case r == '>':
			inTag = false
		case !inTag:
			out.WriteRune(r)
		}
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	if i := strings.Index(text, "} "); i >= 0 { // drop the inline style
		text = text[i+2:]
	}
	return text
}

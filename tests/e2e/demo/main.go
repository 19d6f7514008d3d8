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
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
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
	bob, err := b.MM.CreateUser(ctx, "bob")
	if err != nil {
		return err
	}
	if _, err := b.TeamsTwin(ctx, alice, "Alice Example"); err != nil {
		return err
	}
	bobTeams, err := b.TeamsTwin(ctx, bob, "Bob Example")
	if err != nil {
		return err
	}
	town, err := b.MM.CreateChannel(ctx, b.MM.Team.Id, "bridge-demo", model.ChannelTypeOpen, alice, bob)
	if err != nil {
		return err
	}
	command := func(u *mmtest.User, cmd string) error {
		fmt.Printf("   %-10s %s\n", u.Username+":", cmd)
		text, err := harness.Command(ctx, u, town.Id, cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		show("bot", text)
		return nil
	}

	step("alice and bob connect their Teams accounts (OAuth with PKCE through Microsoft's sign-in)")
	for _, u := range []*mmtest.User{alice, bob} {
		if err := command(u, "/msteams connect"); err != nil {
			return err
		}
		page, err := b.Connect(ctx, u, u.Email)
		if err != nil {
			return err
		}
		show("browser", pageText(page))
		if err := command(u, "/msteams status"); err != nil {
			return err
		}
	}

	step("Waiting for the plugin's Microsoft Graph subscription to chat messages")
	if err := harness.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		subs, err := b.Ctl.Subscriptions(ctx)
		if err != nil {
			return false, err
		}
		for _, s := range subs {
			if strings.HasPrefix(s.Resource, "chats/getAllMessages") {
				fmt.Printf("   subscription %s on %s\n", s.ID, s.Resource)
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("no chats subscription: %w", err)
	}

	c := &conversation{b: b, alice: alice, bob: bob, bobTeams: bobTeams.ID}
	if c.dm, err = alice.DirectChannel(ctx, bob); err != nil {
		return err
	}
	if err := c.play(ctx); err != nil {
		return err
	}
	c.print(ctx)
	fmt.Printf("\nDemo finished in %.1fs: every step reached the other side.\n", time.Since(start).Seconds())

	if os.Getenv("DEMO_KEEP") == "1" {
		fmt.Printf("\nStill running (DEMO_KEEP=1); Ctrl-C stops everything.\n")
		fmt.Printf("   Mattermost:     %s  (alice / %s, bob / %s)\n", b.MM.URL, alice.Password, bob.Password)
		fmt.Printf("   admin token:    %s\n", b.MM.AdminToken)
		fmt.Printf("   Teams side:     post as Bob with POST %s/chats/%s/messages {\"from\":%q,\"body\":{\"contentType\":\"html\",\"content\":\"hi\"}}\n",
			b.Emu.ControlURL, c.chatID, bobTeams.ID)
		fmt.Printf("   read the chat:  GET %s/chats/%s/messages  (CA: %s)\n", b.Emu.ControlURL, c.chatID, b.Emu.CAFile)
		<-ctx.Done()
	}
	return nil
}

// conversation is the scripted exchange: alice writes in Mattermost, bob answers from Teams.
type conversation struct {
	b        *harness.Bridge
	alice    *mmtest.User
	bob      *mmtest.User
	bobTeams string
	dm       *model.Channel
	chatID   string
}

func (c *conversation) teamsMessages(ctx context.Context) ([]m365ctl.Message, error) {
	if c.chatID == "" {
		return nil, nil
	}
	return c.b.Ctl.Messages(ctx, m365ctl.InChat(c.chatID))
}

// inTeams waits until a Teams message satisfies match.
func (c *conversation) inTeams(ctx context.Context, what string, match func(m365ctl.Message) bool) (m365ctl.Message, error) {
	var found m365ctl.Message
	err := harness.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		if c.chatID == "" {
			chats, err := c.b.Ctl.Chats(ctx, c.bobTeams)
			if err != nil {
				return false, err
			}
			for _, ch := range chats {
				if ch.ChatType == "oneOnOne" {
					c.chatID = ch.ID
				}
			}
		}
		msgs, err := c.teamsMessages(ctx)
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			if match(m) {
				found = m
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return found, fmt.Errorf("%s did not reach Teams: %w", what, err)
	}
	fmt.Printf("   -> in Teams: %s\n", what)
	return found, nil
}

// inMattermost waits until a post in the DM satisfies match.
func (c *conversation) inMattermost(ctx context.Context, what string, match func(*model.Post) bool) (*model.Post, error) {
	var found *model.Post
	err := harness.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		posts, err := c.alice.Posts(ctx, c.dm.Id)
		if err != nil {
			return false, err
		}
		for _, p := range posts {
			if match(p) {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s did not reach Mattermost: %w", what, err)
	}
	fmt.Printf("   -> in Mattermost: %s\n", what)
	return found, nil
}

func (c *conversation) play(ctx context.Context) error {
	step("alice writes to bob in Mattermost; the message goes to their Teams chat as alice")
	first, err := c.alice.Post(ctx, c.dm.Id, "Hi Bob! **Lunch** at noon? :pizza:")
	if err != nil {
		return err
	}
	fmt.Printf("   %-10s %s\n", "alice:", first.Message)
	sent, err := c.inTeams(ctx, "alice's message, formatted", func(m m365ctl.Message) bool {
		return strings.Contains(m.Body.Content, "<strong>Lunch</strong>")
	})
	if err != nil {
		return err
	}

	step("bob answers from Teams; the answer appears in the Mattermost DM as bob")
	reply := "<p>Sure, <i>see you</i> at <b>noon</b>. Bring the <code>menu.txt</code>?</p>"
	fmt.Printf("   %-10s %s\n", "bob (Teams):", reply)
	answer, err := c.b.Ctl.Send(ctx, m365ctl.InChat(c.chatID), m365ctl.Post{From: c.bobTeams, HTML: reply})
	if err != nil {
		return err
	}
	if _, err := c.inMattermost(ctx, "bob's answer, formatted", func(p *model.Post) bool {
		return p.UserId == c.bob.Id && strings.Contains(p.Message, "*see you*")
	}); err != nil {
		return err
	}

	step("alice edits her message in Mattermost; Teams shows the edit")
	if _, err := c.alice.Edit(ctx, first.Id, "Hi Bob! **Lunch** at 12:30? :pizza:"); err != nil {
		return err
	}
	if _, err := c.inTeams(ctx, "the edit", func(m m365ctl.Message) bool {
		return m.ID == sent.ID && strings.Contains(m.Body.Content, "12:30")
	}); err != nil {
		return err
	}

	step("bob reacts with a heart in Teams; alice sees the reaction in Mattermost")
	if err := c.b.Ctl.React(ctx, m365ctl.InChat(c.chatID), sent.ID, c.bobTeams, "heart"); err != nil {
		return err
	}
	if err := harness.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		rs, _, err := c.alice.Client.GetReactions(ctx, first.Id)
		if err != nil {
			return false, err
		}
		for _, r := range rs {
			if r.UserId == c.bob.Id && r.EmojiName == "heart" {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("bob's reaction did not reach Mattermost: %w", err)
	}
	fmt.Printf("   -> in Mattermost: :heart: by bob\n")

	step("alice attaches a file in Mattermost; it goes to her OneDrive and into the Teams chat")
	menu := []byte("Pizza margherita\nPizza funghi\nTiramisu\n")
	if _, err := c.alice.PostFile(ctx, c.dm.Id, "Here is the menu", "menu.txt", menu); err != nil {
		return err
	}
	if _, err := c.inTeams(ctx, "menu.txt as an attachment", func(m m365ctl.Message) bool {
		return len(m.Attachments) == 1 && m.Attachments[0].Name != nil && *m.Attachments[0].Name == "menu.txt"
	}); err != nil {
		return err
	}

	step("bob sends a file from Teams; it arrives in Mattermost as a file")
	if _, err := c.b.Ctl.Send(ctx, m365ctl.InChat(c.chatID), m365ctl.Post{From: c.bobTeams, HTML: "<p>My order</p>",
		Files: []m365ctl.File{{Name: "order.txt", Content: []byte("1x funghi\n"), ContentType: "text/plain"}}}); err != nil {
		return err
	}
	if _, err := c.inMattermost(ctx, "order.txt as a file", func(p *model.Post) bool {
		return p.UserId == c.bob.Id && len(p.FileIds) == 1
	}); err != nil {
		return err
	}
	_ = answer
	return nil
}

// print shows the conversation as each side sees it.
func (c *conversation) print(ctx context.Context) {
	step("The conversation as alice sees it in Mattermost")
	posts, err := c.alice.Posts(ctx, c.dm.Id)
	if err != nil {
		fmt.Printf("   (could not read: %v)\n", err)
	}
	names := map[string]string{c.alice.Id: "alice", c.bob.Id: "bob"}
	for _, p := range posts {
		line := p.Message
		if len(p.FileIds) > 0 {
			for _, id := range p.FileIds {
				if _, info, err := c.alice.File(ctx, id); err == nil {
					line += fmt.Sprintf("  [file %s, %d bytes]", info.Name, info.Size)
				}
			}
		}
		if rs, _, err := c.alice.Client.GetReactions(ctx, p.Id); err == nil {
			for _, r := range rs {
				line += fmt.Sprintf("  [:%s: by %s]", r.EmojiName, names[r.UserId])
			}
		}
		show(names[p.UserId], line)
	}
	step("The same conversation as bob sees it in Teams")
	msgs, err := c.teamsMessages(ctx)
	if err != nil {
		fmt.Printf("   (could not read: %v)\n", err)
	}
	for _, m := range msgs {
		who := "?"
		if m.From != nil && m.From.User != nil {
			who = m.From.User.DisplayName
		}
		line := m.Body.Content
		for _, a := range m.Attachments {
			if a.Name != nil {
				line += "  [attachment " + *a.Name + "]"
			}
		}
		for _, r := range m.Reactions {
			line += "  [" + r.ReactionType + "]"
		}
		show(who, line)
	}
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

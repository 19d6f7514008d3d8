package sdk

// The few Graph resources the tests send and read, written as Kiota models are (the Graph Go SDK's are generated
// the same way): Serialize drives Kiota's JSON serialization writer, GetFieldDeserializers its parse node.

import (
	"fmt"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
)

type fields = map[string]func(absser.ParseNode) error

func readString(dst *string) func(absser.ParseNode) error {
	return func(n absser.ParseNode) error {
		v, err := n.GetStringValue()
		if v != nil {
			*dst = *v
		}
		return err
	}
}

func readTime(dst *time.Time) func(absser.ParseNode) error {
	return func(n absser.ParseNode) error {
		v, err := n.GetTimeValue()
		if v != nil {
			*dst = *v
		}
		return err
	}
}

func readObject[T absser.Parsable](dst *T, ctor func() T) func(absser.ParseNode) error {
	return func(n absser.ParseNode) error {
		v, err := n.GetObjectValue(func(absser.ParseNode) (absser.Parsable, error) { return ctor(), nil })
		if err != nil || v == nil {
			return err
		}
		*dst = v.(T)
		return nil
	}
}

func factory[T absser.Parsable](ctor func() T) absser.ParsableFactory {
	return func(absser.ParseNode) (absser.Parsable, error) { return ctor(), nil }
}

// conversationMember is an aadUserConversationMember bound to a user, as POST /chats takes it.
type conversationMember struct {
	UserID string
	Roles  []string
	base   string // the Graph base URL the binding names
}

func (m *conversationMember) Serialize(w absser.SerializationWriter) error {
	odataType := "#microsoft.graph.aadUserConversationMember"
	bind := fmt.Sprintf("%s/users('%s')", m.base, m.UserID)
	if err := w.WriteStringValue("@odata.type", &odataType); err != nil {
		return err
	}
	if err := w.WriteCollectionOfStringValues("roles", m.Roles); err != nil {
		return err
	}
	return w.WriteStringValue("user@odata.bind", &bind)
}

func (m *conversationMember) GetFieldDeserializers() fields { return fields{} }

// chat is the request and the answer of POST /chats.
type chat struct {
	ID, ChatType, Topic string
	Members             []*conversationMember
}

func newChat() *chat { return &chat{} }

func (c *chat) Serialize(w absser.SerializationWriter) error {
	if err := w.WriteStringValue("chatType", &c.ChatType); err != nil {
		return err
	}
	members := make([]absser.Parsable, len(c.Members))
	for i, m := range c.Members {
		members[i] = m
	}
	return w.WriteCollectionOfObjectValues("members", members)
}

func (c *chat) GetFieldDeserializers() fields {
	return fields{"id": readString(&c.ID), "chatType": readString(&c.ChatType), "topic": readString(&c.Topic)}
}

// subscription is Graph's subscription resource.
type subscription struct {
	ID, ChangeType, NotificationURL, Resource, ClientState string
	ExpirationDateTime                                     time.Time
}

func newSubscription() *subscription { return &subscription{} }

func (s *subscription) Serialize(w absser.SerializationWriter) error {
	for _, p := range []struct {
		key string
		v   *string
	}{{"changeType", &s.ChangeType}, {"notificationUrl", &s.NotificationURL}, {"resource", &s.Resource}, {"clientState", &s.ClientState}} {
		if *p.v == "" {
			continue
		}
		if err := w.WriteStringValue(p.key, p.v); err != nil {
			return err
		}
	}
	if s.ExpirationDateTime.IsZero() {
		return nil
	}
	return w.WriteTimeValue("expirationDateTime", &s.ExpirationDateTime)
}

func (s *subscription) GetFieldDeserializers() fields {
	return fields{
		"id": readString(&s.ID), "changeType": readString(&s.ChangeType), "notificationUrl": readString(&s.NotificationURL),
		"resource": readString(&s.Resource), "clientState": readString(&s.ClientState),
		"expirationDateTime": readTime(&s.ExpirationDateTime),
	}
}

// itemBody is a message body.
type itemBody struct{ ContentType, Content string }

func newItemBody() *itemBody { return &itemBody{} }

func (b *itemBody) Serialize(w absser.SerializationWriter) error {
	if err := w.WriteStringValue("contentType", &b.ContentType); err != nil {
		return err
	}
	return w.WriteStringValue("content", &b.Content)
}

func (b *itemBody) GetFieldDeserializers() fields {
	return fields{"contentType": readString(&b.ContentType), "content": readString(&b.Content)}
}

// identity is the user of a message's from.
type identity struct{ ID, DisplayName string }

func newIdentity() *identity { return &identity{} }

func (i *identity) Serialize(absser.SerializationWriter) error { return nil }
func (i *identity) GetFieldDeserializers() fields {
	return fields{"id": readString(&i.ID), "displayName": readString(&i.DisplayName)}
}

type identitySet struct{ User *identity }

func newIdentitySet() *identitySet { return &identitySet{} }

func (s *identitySet) Serialize(absser.SerializationWriter) error { return nil }
func (s *identitySet) GetFieldDeserializers() fields {
	return fields{"user": readObject(&s.User, newIdentity)}
}

// chatMessage is what POST /chats/{id}/messages takes and answers.
type chatMessage struct {
	ID     string
	Body   *itemBody
	From   *identitySet
	ChatID string
}

func newChatMessage() *chatMessage { return &chatMessage{} }

func (m *chatMessage) Serialize(w absser.SerializationWriter) error {
	return w.WriteObjectValue("body", m.Body)
}

func (m *chatMessage) GetFieldDeserializers() fields {
	return fields{"id": readString(&m.ID), "body": readObject(&m.Body, newItemBody),
		"from": readObject(&m.From, newIdentitySet), "chatId": readString(&m.ChatID)}
}

// graphError is Graph's error body ({"error":{"code","message",...}}) as a Kiota error: mapped for every
// status, so a failing request reports what Graph said.
type graphError struct {
	abs.ApiError
	Detail *graphErrorDetail
}

type graphErrorDetail struct{ Code, Message string }

func (d *graphErrorDetail) Serialize(absser.SerializationWriter) error { return nil }
func (d *graphErrorDetail) GetFieldDeserializers() fields {
	return fields{"code": readString(&d.Code), "message": readString(&d.Message)}
}

func (e *graphError) Error() string {
	if e.Detail == nil {
		return fmt.Sprintf("Graph answered %d", e.ResponseStatusCode)
	}
	return fmt.Sprintf("Graph answered %d %s: %s", e.ResponseStatusCode, e.Detail.Code, e.Detail.Message)
}

func (e *graphError) Serialize(absser.SerializationWriter) error { return nil }
func (e *graphError) GetFieldDeserializers() fields {
	return fields{"error": readObject(&e.Detail, func() *graphErrorDetail { return &graphErrorDetail{} })}
}

var graphErrors = abs.ErrorMappings{"XXX": factory(func() *graphError { return &graphError{} })}

package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// A failed reconciliation names the ids of every partner's business: it
// is the platform's own (helper-153's finding: partners read it). A
// partner's endpoint cannot take its type (created by the partner or for
// it by an admin, or changed to it), a redelivery to one does not send it,
// and a partner reading the feed does not see it; an admin's endpoint and
// the feed unfiltered do.
func TestThePlatformsOwnNotificationsReachNoPartner(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	ctx := context.Background()
	_, k, err := f.l.CreateKey(ctx, "partner", "partner", "")
	if err != nil {
		t.Fatal(err)
	}
	p := k.PartnerID
	r := newReceiver(t)
	in := webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{notify.PointsEarned, notify.ReconciliationFailed}}
	wantTypesRefused := func(what string, err error) {
		t.Helper()
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Code != fault.Invalid || fe.Fields["types[1]"] == "" {
			t.Errorf("%s: %v, want invalid naming types[1]", what, err)
		}
	}
	_, _, err = s.Create(ctx, webhook.Owner{Partner: p}, in)
	wantTypesRefused("a partner's endpoint for reconciliation.failed", err)
	byAdmin := in
	byAdmin.Partner = p
	_, _, err = s.Create(ctx, webhook.Owner{}, byAdmin)
	wantTypesRefused("an admin's endpoint for a partner, for reconciliation.failed", err)
	mine := f.subscribe(s, r, webhook.Owner{Partner: p}, notify.PointsEarned)
	_, err = s.Update(ctx, webhook.Owner{Partner: p}, mine.ID, webhook.EndpointPatch{Types: &in.Types})
	wantTypesRefused("a partner's endpoint changed to reconciliation.failed", err)
	admin := f.subscribe(s, newReceiver(t), webhook.Owner{})

	f.emit(earned("C1", "1"), notify.Event{Type: notify.ReconciliationFailed, Payload: map[string]any{}})
	all := f.feed()
	if len(all) != 2 {
		t.Fatalf("the feed holds %d notifications, want 2", len(all))
	}
	list, _, err := notify.Feed(ctx, f.l, notify.Cursor{}, 100, notify.Filter{Partner: p})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Type != notify.PointsEarned {
		t.Errorf("the partner's feed holds %v, want points.earned alone", list)
	}
	// The endpoint subscribed to it before it was refused (by hand here)
	// is not sent it again on a redelivery; the admin's is.
	if _, err := f.pool.Exec(ctx, `UPDATE webhook_endpoints SET types = types || '{reconciliation.failed}' WHERE id = $1`, mine.ID); err != nil {
		t.Fatal(err)
	}
	failed := all[slices.IndexFunc(all, func(n notify.Notification) bool { return n.Type == notify.ReconciliationFailed })]
	id := fmt.Sprintf("ntf_%d", failed.Seq)
	if n, err := s.Redeliver(ctx, webhook.Owner{Partner: p}, mine.ID, webhook.Redelivery{Notification: id}); err == nil && n > 0 {
		t.Errorf("a redelivery of %s to the partner's endpoint queued %d", id, n)
	}
	if n, err := s.Redeliver(ctx, webhook.Owner{}, admin.ID, webhook.Redelivery{Notification: id}); err != nil || n != 1 {
		t.Errorf("a redelivery of %s to the admin's endpoint queued %d (%v), want 1", id, n, err)
	}
}

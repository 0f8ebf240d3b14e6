package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestAPlatformAccountsStatementPagesAsOpenapiSays: a platform account's
// statement pages with negative cursors, which the answer's schema allows
// (the harness checks every answer against openapi.yaml); following them
// reads every posting once, newest first. (Found by review: the schema's
// cursor pattern allowed only positive numbers.)
func TestAPlatformAccountsStatementPagesAsOpenapiSays(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 3; i++ {
		h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment(fmt.Sprint(i), "C1")})
	}
	const account = "/v1/accounts/platform:points:earned:adjustment/postings?limit=1"
	var amounts []string
	path := account
	for pages := 0; path != ""; pages++ {
		if pages > 4 {
			t.Fatal("the pages do not end")
		}
		page := h.expect(200, call{method: "GET", path: path, key: "finance"}).object(t)
		for _, p := range page["postings"].([]any) {
			amounts = append(amounts, p.(map[string]any)["amount"].(string))
		}
		path = ""
		if next, ok := page["next_cursor"].(string); ok {
			if !strings.HasPrefix(next, "-") {
				t.Errorf("a platform account's cursor %q, want a negative one", next)
			}
			path = account + "&cursor=" + next
		}
	}
	if got := strings.Join(amounts, ","); got != "-3,-2,-1" {
		t.Errorf("the platform account's statement: %s, want -3,-2,-1", got)
	}
}

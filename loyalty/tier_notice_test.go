package loyalty_test

import (
	"testing"
)

// A shipment that earns no points still raises the tier: 299.50 CNY takes
// a new customer from floating L1 to L3; 0.60 CNY more earns floor(0.60) =
// 0 points (no entry) and makes 300.10, regular L4 (DOMAIN.md), and
// partners hear of that upgrade too.
func TestShipmentOfNoPointsAnnouncesTheTierItRaises(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "299.50", march(2, 9))
	res := e.Ship("C1", "S2", "0.60", march(3, 9))
	if res.EntryID != nil || res.Points != 0 {
		t.Fatalf("a shipment of 0.60: entry %v, %d points; want no entry, no points", res.EntryID, res.Points)
	}
	var ups []notice
	for _, n := range e.noticesOf("customer.tier_changed") {
		if n.Payload["direction"] == "up" {
			ups = append(ups, n)
		}
	}
	if len(ups) != 2 {
		t.Fatalf("%d upgrades announced, want 2 (to L3, then to L4): %+v", len(ups), ups)
	}
	n := ups[1]
	from, _ := n.Payload["from"].(map[string]any)
	to, _ := n.Payload["to"].(map[string]any)
	if n.Customer != "C1" || !n.OccurredAt.Equal(march(3, 9)) || n.Payload["month"] != "2026-03" ||
		from["segment"] != "floating" || from["level"] != float64(3) || to["segment"] != "regular" || to["level"] != float64(4) {
		t.Errorf("notice %+v, want C1 up from floating L3 to regular L4 in 2026-03 at %s", n, march(3, 9))
	}
}

package loyalty

// SlowPathOnly makes the service process every event on its own, in a
// savepoint of its group, as it did before coalescing: the reference the
// grouped fast path is checked against.
func (s *Service) SlowPathOnly() { s.slowOnly = true }

// Fallbacks is how many groups were done again event by event.
func (s *Service) Fallbacks() int64 { return s.fallbacks.Load() }

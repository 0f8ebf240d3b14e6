package coalesce

// SetPause replaces one wait of a yielding writer, so that a test can see a
// writer yield.
func (c *Coalescer[T, R]) SetPause(pause func()) { c.pause = pause }

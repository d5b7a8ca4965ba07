package localstore

import "time"

// clock is the local stand-in for the chain's epoch counter: epoch e spans
// [start + e·d, start + (e+1)·d). The start is the store's creation time,
// persisted in every shard directory's store.json, so epochs keep counting
// across restarts.
type clock struct {
	start time.Time
	d     time.Duration
	now   func() time.Time
}

// epoch returns the current epoch. Before the start (a clock set back) it
// is 0.
func (c clock) epoch() uint32 {
	el := c.now().Sub(c.start)
	if el < 0 {
		return 0
	}
	e := el / c.d
	if e > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(e)
}

// EpochStart is when local epoch e starts (or started): what the store's
// end epochs mean as dates.
func (s *Store) EpochStart(e uint32) time.Time {
	return s.clock.start.Add(time.Duration(e) * s.clock.d)
}

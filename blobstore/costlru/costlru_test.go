package costlru

import "testing"

func TestEvictsLeastRecentlyUsedBeyondBudget(t *testing.T) {
	c := New[string, int](10, 6)
	c.Add("a", 1, 4)
	c.Add("b", 2, 4)
	if _, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("a missing before the budget is reached")
	}
	c.Add("c", 3, 4) // 12 > 10: b, the least recently used, goes
	if _, ok := c.Get("b"); ok {
		t.Error("b kept past the budget though it was the least recently used")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.Get(k); !ok || v != want {
			t.Errorf("Get(%q) = %d, %v; want %d, true", k, v, ok, want)
		}
	}
	if got := c.Cost(); got != 8 {
		t.Errorf("Cost() = %d, want 8", got)
	}
}

func TestRefusesEntriesOverTheLargestAndKeepsTheFirstValue(t *testing.T) {
	c := New[string, int](10, 6)
	c.Add("big", 1, 7)
	if _, ok := c.Get("big"); ok {
		t.Error("an entry costing more than maxEntry was kept")
	}
	c.Add("k", 1, 2)
	c.Add("k", 2, 2)
	if v, _ := c.Get("k"); v != 1 {
		t.Errorf("Get(k) = %d after a second Add; want the first value, 1", v)
	}
	if got := c.Cost(); got != 2 {
		t.Errorf("Cost() = %d, want 2 (a second Add of a key costs nothing)", got)
	}
}

func TestRemoveIf(t *testing.T) {
	c := New[int, int](100, 100)
	for i := range 10 {
		c.Add(i, i, 1)
	}
	c.RemoveIf(func(k int) bool { return k%2 == 0 })
	for i := range 10 {
		if _, ok := c.Get(i); ok != (i%2 == 1) {
			t.Errorf("key %d kept = %v after removing the even keys", i, ok)
		}
	}
	if got := c.Cost(); got != 5 {
		t.Errorf("Cost() = %d, want 5", got)
	}
}

func TestNewEvictingHandsOnWhatItEvicts(t *testing.T) {
	var got []string
	var c *Cache[string, int]
	c = NewEvicting[string, int](3, 3, func(k string, v int) {
		if _, ok := c.Get(k); ok { // the lock is free and k is gone
			t.Errorf("%q still kept when handed on", k)
		}
		got = append(got, k)
	})
	for _, k := range []string{"a", "b", "c"} {
		c.Add(k, 0, 1)
	}
	c.Get("a")
	c.Add("d", 0, 2) // evicts b, then c
	if want := []string{"b", "c"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("evicted %q, want %q", got, want)
	}
	c.RemoveIf(func(string) bool { return true })
	if len(got) != 2 {
		t.Errorf("RemoveIf handed on %q; only Add's evictions are", got[2:])
	}
}

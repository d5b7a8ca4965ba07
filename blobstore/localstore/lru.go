package localstore

import (
	"container/list"
	"sync"
)

// costLRU is a least-recently-used cache bounded by the total cost of its
// entries (their size in bytes, for the store's caches). It is safe for
// concurrent use. Values are returned as stored: callers that hand them on
// clone them.
type costLRU[K comparable, V any] struct {
	mu       sync.Mutex
	maxCost  int
	maxEntry int
	cost     int
	order    list.List // of *lruEntry[K, V], most recent at the front
	items    map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	cost int
}

// newCostLRU returns a cache holding entries of total cost up to maxCost,
// none costing more than maxEntry.
func newCostLRU[K comparable, V any](maxCost, maxEntry int) *costLRU[K, V] {
	return &costLRU[K, V]{maxCost: maxCost, maxEntry: min(maxEntry, maxCost), items: map[K]*list.Element{}}
}

// Get returns the value under k and marks it recently used.
func (c *costLRU[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[K, V]).val, true
}

// Add keeps v under k unless k is already kept or v costs more than the
// largest entry allowed, and evicts the least recently used entries
// beyond the budget.
func (c *costLRU[K, V]) Add(k K, v V, cost int) {
	if cost > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v, cost: cost})
	c.cost += cost
	for c.cost > c.maxCost {
		c.remove(c.order.Back())
	}
}

// RemoveIf drops every entry whose key matches.
func (c *costLRU[K, V]) RemoveIf(match func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.items {
		if match(k) {
			c.remove(el)
		}
	}
}

func (c *costLRU[K, V]) remove(el *list.Element) {
	e := el.Value.(*lruEntry[K, V])
	c.order.Remove(el)
	delete(c.items, e.key)
	c.cost -= e.cost
}

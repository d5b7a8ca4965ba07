// Package costlru is a least-recently-used cache bounded by the total
// cost of its entries, usually their size in bytes. Both the local store's
// caches (slivers, sliver trees, patch lists) and the block cache's layer
// of recent blocks use it: unlike a cache with an admission policy, it
// always keeps what it was last given, which is what a stream of reads
// that never come back needs.
package costlru

import (
	"container/list"
	"sync"
)

// Cache is a least-recently-used cache bounded by the total cost of its
// entries (their size in bytes, for the store's caches). It is safe for
// concurrent use. Values are returned as stored: callers that hand them on
// clone them.
type Cache[K comparable, V any] struct {
	onEvict  func(K, V)
	mu       sync.Mutex
	maxCost  int
	maxEntry int
	cost     int
	order    list.List // of *entry[K, V], most recent at the front
	items    map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	cost int
}

// New returns a cache holding entries of total cost up to maxCost,
// none costing more than maxEntry.
func New[K comparable, V any](maxCost, maxEntry int) *Cache[K, V] {
	return &Cache[K, V]{maxCost: maxCost, maxEntry: min(maxEntry, maxCost), items: map[K]*list.Element{}}
}

// NewEvicting is New with a function called with each entry Add evicts to
// stay within the budget, after the cache's lock is released (so it may
// use the cache), in the order they were evicted.
func NewEvicting[K comparable, V any](maxCost, maxEntry int, onEvict func(K, V)) *Cache[K, V] {
	c := New[K, V](maxCost, maxEntry)
	c.onEvict = onEvict
	return c
}

// Get returns the value under k and marks it recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry[K, V]).val, true
}

// Add keeps v under k unless k is already kept or v costs more than the
// largest entry allowed, and evicts the least recently used entries
// beyond the budget.
func (c *Cache[K, V]) Add(k K, v V, cost int) {
	if cost > c.maxEntry {
		return
	}
	c.mu.Lock()
	if _, ok := c.items[k]; ok {
		c.mu.Unlock()
		return
	}
	c.items[k] = c.order.PushFront(&entry[K, V]{key: k, val: v, cost: cost})
	c.cost += cost
	var evicted []*entry[K, V]
	for c.cost > c.maxCost {
		el := c.order.Back()
		c.remove(el)
		if c.onEvict != nil {
			evicted = append(evicted, el.Value.(*entry[K, V]))
		}
	}
	c.mu.Unlock()
	for _, e := range evicted {
		c.onEvict(e.key, e.val)
	}
}

// RemoveIf drops every entry whose key matches.
func (c *Cache[K, V]) RemoveIf(match func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.items {
		if match(k) {
			c.remove(el)
		}
	}
}

func (c *Cache[K, V]) remove(el *list.Element) {
	e := el.Value.(*entry[K, V])
	c.order.Remove(el)
	delete(c.items, e.key)
	c.cost -= e.cost
}

// Cost returns the total cost of the entries kept.
func (c *Cache[K, V]) Cost() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cost
}

package frag

import (
	"errors"

	"github.com/titanlb/titanlb/lru"
)

// MaxCapacity is the largest capacity [NewSetTable] and the reassembler's
// bounds accept; it is [lru.MaxCapacity].
const MaxCapacity = lru.MaxCapacity

// Errors from [NewSetTable] and [NewReassembler], wrapped with the
// offending field.
var (
	ErrCapacity = lru.ErrCapacity
	ErrTimeout  = errors.New("must not be negative")
	// ErrReserve is [lru.ErrReserve].
	//
	// Deprecated: the LRU moved to package lru; use lru.ErrReserve.
	ErrReserve = lru.ErrReserve
)

// LRU is [lru.Map].
//
// Deprecated: the generic LRU moved to its own package; use lru.Map. This
// alias will be removed in the next release.
type LRU[K comparable, V any] = lru.Map[K, V]

// LRUStats is [lru.Stats].
//
// Deprecated: use lru.Stats.
type LRUStats = lru.Stats

// LRUOptions is [lru.Options].
//
// Deprecated: use lru.Options.
type LRUOptions[K comparable] = lru.Options[K]

// NewLRU is [lru.New].
//
// Deprecated: use lru.New.
func NewLRU[K comparable, V any](capacity int) (*LRU[K, V], error) {
	return lru.New[K, V](capacity)
}

// NewLRUFunc is [lru.NewFunc].
//
// Deprecated: use lru.NewFunc.
func NewLRUFunc[K comparable, V any](capacity int, hash func(K) uint64) (*LRU[K, V], error) {
	return lru.NewFunc[K, V](capacity, hash)
}

// NewLRUWith is [lru.NewWith].
//
// Deprecated: use lru.NewWith.
func NewLRUWith[K comparable, V any](capacity int, opts LRUOptions[K]) (*LRU[K, V], error) {
	return lru.NewWith[K, V](capacity, opts)
}

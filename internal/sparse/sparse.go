// Package sparse holds Array, a fixed-length array whose elements take
// memory only once written: the storage of the models' set-associative
// tables (frag.SetTable, balancer/titan's connection and hint tables),
// which mirror kernel ARRAY maps of many sets of which a run may write
// few.
//
// A kernel ARRAY is zeroed once at load; a model that allocated its
// whole array would pay that zeroing (and the page faults behind it) on
// every run, and spread the sets a run uses over the whole array, one
// cache miss each. An Array keeps an index of one uint32 per element (a
// uint16 in an array of under 65,536, half the cache footprint) and packs
// the elements written so far densely, in the order of their first write:
// an element never written reads as nil (a zero element: an empty set)
// without touching the dense storage, and a run that writes few elements
// pays for few.
//
// Memory is bounded by the length: the written elements are stored in
// chunks of up to 256, allocated as they fill and never moved, so the
// storage is the written elements rounded up to a chunk, at most Len. Get
// does not allocate; Ref allocates only when it starts a chunk.
package sparse

// Array is a fixed-length array of S in which an element takes memory
// when it is first referenced for writing ([Array.Ref]). The zero Array
// has length 0; use [Make].
type Array[S any] struct {
	// The index: element i is the (index[i]-1)th written, or never
	// written if 0. short holds it for a length under 1<<16 (half the
	// bytes to keep in cache), long for longer arrays; both are nil until
	// the first Ref.
	short  []uint16
	long   []uint32
	chunks [][]S // the written elements, chunkLen to a chunk, in the order of their first write
	stored uint32
	n      uint32
	pow2   bool // n is a power of two: Index masks
}

// chunkShift is log2 of the number of elements of a chunk.
const chunkShift = 8

// chunkMask is the index of an element in its chunk.
const chunkMask = 1<<chunkShift - 1

// Make returns an Array of n elements, none written. It allocates
// nothing until the first [Array.Ref]. n must be between 0 and 1<<31.
func Make[S any](n int) Array[S] {
	return Array[S]{n: uint32(n), pow2: n > 0 && n&(n-1) == 0}
}

// Index returns h modulo Len: the element a hash picks, as the kernel
// program's set_of picks a set. Like set_of it masks when Len is a power
// of two (the tables' default sizes are), which is a division's result
// in a cycle instead of tens. Len must not be 0.
func (a *Array[S]) Index(h uint32) uint32 {
	if a.pow2 {
		return h & (a.n - 1)
	}
	return h % a.n
}

// Len returns the array's length.
func (a *Array[S]) Len() int { return int(a.n) }

// Stored returns the number of elements written, which hold memory.
func (a *Array[S]) Stored() int { return int(a.stored) }

// Get returns element i, or nil if it was never referenced by
// [Array.Ref] (its value is S's zero value). The pointer is valid until
// the next Clear. i must be less than Len.
func (a *Array[S]) Get(i uint32) *S {
	var j uint32
	switch {
	case a.short != nil:
		j = uint32(a.short[i])
	case a.long != nil:
		j = a.long[i]
	}
	if j == 0 {
		return nil
	}
	j--
	return &a.chunks[j>>chunkShift][j&chunkMask]
}

// Ref returns element i for writing, storing it (zero) if it was not.
// The pointer is valid until the next Clear. i must be less than Len.
func (a *Array[S]) Ref(i uint32) *S {
	var j uint32
	switch {
	case a.short != nil:
		if j = uint32(a.short[i]); j == 0 {
			j = a.store()
			a.short[i] = uint16(j)
		}
	case a.long != nil:
		if j = a.long[i]; j == 0 {
			j = a.store()
			a.long[i] = j
		}
	case a.n < 1<<16:
		a.short = make([]uint16, a.n)
		return a.Ref(i)
	default:
		a.long = make([]uint32, a.n)
		return a.Ref(i)
	}
	j--
	return &a.chunks[j>>chunkShift][j&chunkMask]
}

// store takes the next free element of the chunks, starting a chunk if
// the last one is full, and returns its position plus one.
func (a *Array[S]) store() uint32 {
	j := a.stored
	if int(j>>chunkShift) == len(a.chunks) {
		a.chunks = append(a.chunks, make([]S, min(chunkMask+1, a.n-j)))
	}
	a.stored++
	return j + 1
}

// Clear makes every element unwritten again, keeping the memory for
// reuse.
func (a *Array[S]) Clear() {
	clear(a.short)
	clear(a.long)
	for _, c := range a.chunks {
		clear(c)
	}
	a.stored = 0
}

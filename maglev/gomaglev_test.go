package maglev

// This file holds, for benchmarks and tests only, a port of the population
// loop of github.com/dgryski/go-maglev (maglev.go, Table.populate and
// Table.nextOffset, at commit 8961b9b1b8e6dadf116d6bac0474fc8dd10bc28f,
// 2020-06-11), the common Go implementation and the baseline of
// BenchmarkNew. The module is not served by the module proxy here, so its
// loop is reproduced instead of imported. Its offsets and skips come from
// SipHash there; here they come from this package's permutation, so that
// both loops build the same table and the comparison is of the loops alone.
// The dead-entry list of Rebuild is left out (New passes none).
//
// go-maglev is distributed under the MIT License:
//
//	The MIT License (MIT)
//
//	Copyright (c) 2016 Damian Gryski <damian@gryski.com>
//
//	Permission is hereby granted, free of charge, to any person obtaining a copy
//	of this software and associated documentation files (the "Software"), to deal
//	in the Software without restriction, including without limitation the rights
//	to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
//	copies of the Software, and to permit persons to whom the Software is
//	furnished to do so, subject to the following conditions:
//
//	The above copyright notice and this permission notice shall be included in
//	all copies or substantial portions of the Software.
//
//	THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
//	IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
//	FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
//	AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
//	LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
//	OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
//	THE SOFTWARE.

// goMaglev is go-maglev's Table, with the fields its populate uses.
type goMaglev struct {
	m              uint64
	currentOffsets []uint64 // each entry's next position in its permutation
	skips          []uint64
	originOffsets  []uint64 // the first positions, for a rebuild
}

// newGoMaglev is go-maglev's New with this package's permutation: it
// computes the offsets and skips and populates a table of m slots.
func newGoMaglev(es []Entry, m uint64) []int {
	t := &goMaglev{
		m:              m,
		currentOffsets: make([]uint64, len(es)),
		skips:          make([]uint64, len(es)),
		originOffsets:  make([]uint64, len(es)),
	}
	for i, e := range es {
		o, s := permutation(e.Name, uint32(m))
		t.currentOffsets[i], t.skips[i] = uint64(o), uint64(s)
	}
	copy(t.originOffsets, t.currentOffsets)
	return t.populate(m)
}

// populate is go-maglev's Table.populate without dead entries: entries take
// turns claiming the next empty slot of their permutation, each step an
// addition and a conditional subtraction.
func (t *goMaglev) populate(M uint64) []int {
	copy(t.currentOffsets, t.originOffsets)
	N := len(t.currentOffsets)

	entry := make([]int, M)
	for j := range entry {
		entry[j] = -1
	}

	var n uint64
	for {
		for i := 0; i < N; i++ {
			var c uint64
			t.nextOffset(i, &c)

			for entry[c] >= 0 {
				t.nextOffset(i, &c)
			}
			entry[c] = i
			n++
			if n == M {
				return entry
			}
		}
	}
}

// nextOffset is go-maglev's: it returns entry i's current position in c and
// advances it by skips[i].
func (t *goMaglev) nextOffset(i int, c *uint64) {
	*c = t.currentOffsets[i]

	t.currentOffsets[i] += t.skips[i]
	if t.currentOffsets[i] >= t.m {
		t.currentOffsets[i] -= t.m
	}
}

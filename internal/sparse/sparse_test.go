package sparse

import "testing"

// TestArray writes a few elements of a long array and reads every one
// back: written ones hold their values, the others read nil; the storage
// grows by chunks in the order of first writes and never beyond Len.
func TestArray(t *testing.T) {
	const n = 1000
	a := Make[[2]int](n)
	if a.Len() != n || a.Stored() != 0 || a.Get(7) != nil {
		t.Fatalf("new: len %d, stored %d, Get(7) %v", a.Len(), a.Stored(), a.Get(7))
	}
	written := map[uint32]bool{}
	for k := range 600 {
		i := uint32(k*7919) % n
		a.Ref(i)[0] += int(i) + 1
		a.Ref(i)[1]++
		written[i] = true
	}
	if a.Stored() != len(written) {
		t.Fatalf("stored %d, want %d", a.Stored(), len(written))
	}
	for i := range uint32(n) {
		e := a.Get(i)
		switch {
		case !written[i] && e != nil:
			t.Fatalf("element %d never written reads %v", i, *e)
		case written[i] && (e == nil || e[0] != e[1]*(int(i)+1)):
			t.Fatalf("element %d reads %v", i, e)
		}
	}
	// Every element written: the chunks hold exactly n.
	for i := range uint32(n) {
		a.Ref(i)
	}
	total := 0
	for _, c := range a.chunks {
		total += cap(c)
	}
	if a.Stored() != n || total != n {
		t.Fatalf("all written: stored %d, chunk capacity %d; want %d", a.Stored(), total, n)
	}
	a.Clear()
	if a.Stored() != 0 || a.Get(3) != nil || *a.Ref(3) != [2]int{} {
		t.Fatal("Clear left an element")
	}
}

// TestPointersStay checks that a pointer from Ref stays the element's
// while later Refs start chunks.
func TestPointersStay(t *testing.T) {
	a := Make[int](5000)
	p := a.Ref(4999)
	*p = 42
	for i := range uint32(4999) {
		*a.Ref(i) = int(i)
	}
	if *p != 42 || a.Get(4999) != p {
		t.Fatalf("element 4999 moved or changed: %d", *a.Get(4999))
	}
}

// TestIndex checks that Index is h modulo Len, for lengths that are
// powers of two (masked) and lengths that are not.
func TestIndex(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4096, 4097, 32768, 65537, 1 << 20} {
		a := Make[byte](n)
		for _, h := range []uint32{0, 1, 4095, 4096, 4097, 65536, 0x9e3779b9, ^uint32(0)} {
			if got, want := a.Index(h), h%uint32(n); got != want {
				t.Errorf("Len %d: Index(%#x) = %d, want %d", n, h, got, want)
			}
		}
	}
}

// TestNoAllocs: Get never allocates; Ref of a stored element does not.
func TestNoAllocs(t *testing.T) {
	a := Make[[4]uint64](1 << 16)
	for i := range uint32(1000) {
		a.Ref(i * 13)
	}
	var i uint32
	if n := testing.AllocsPerRun(1000, func() {
		i = (i + 1) % 1000
		_ = a.Get(i * 13)
		_ = a.Get(i*13 + 1)
		a.Ref(i * 13)[0]++
	}); n != 0 {
		t.Fatalf("%v allocations per Get and Ref of a stored element", n)
	}
}

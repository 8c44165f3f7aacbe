package sparse_test

import (
	"fmt"

	"github.com/titanlb/titanlb/internal/sparse"
)

// An array of a million sets, of which two are written: only those take
// memory.
func Example() {
	sets := sparse.Make[[4]uint32](1_000_000)
	sets.Ref(123_456)[0] = 7
	sets.Ref(999_999)[3] = 9
	fmt.Println(sets.Len(), sets.Stored(), sets.Get(123_456)[0], sets.Get(5) == nil)
	// Output: 1000000 2 7 true
}

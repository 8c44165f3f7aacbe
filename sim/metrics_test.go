package sim

import "testing"

func TestHistogram(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("empty histogram quantile not 0")
	}
	for v := uint64(1); v <= 100; v++ {
		h.add(v)
	}
	if q := h.quantile(0.5); q != 50 {
		t.Errorf("p50 of 1..100 = %d, want 50", q)
	}
	if q := h.quantile(0.99); q != 99 {
		t.Errorf("p99 of 1..100 = %d, want 99", q)
	}
	var big histogram
	big.add(1_000_000)
	if q := big.quantile(0.5); q > 1_000_000 || q < 990_000 {
		t.Errorf("bucketed value 1e6 reported as %d", q)
	}
}

package cost

import (
	"testing"
	"time"
)

func TestDefaultPrices(t *testing.T) {
	m := NewMeter(Default())
	for _, tc := range []struct {
		op   Op
		want STU
	}{{OpHash, 10}, {OpMapRead, 20}, {OpMapWrite, 60}, {OpEncap, 40}, {OpTailCall, 20}, {OpRewrite, 10},
		{OpArrayRead, 20}, {OpLRURead, 20}, {OpLRUInsert, 60}, {OpStore, 0}, {OpClock, 20}} {
		before := m.Total()
		m.Charge(tc.op)
		if got := m.Total() - before; got != tc.want {
			t.Errorf("%v costs %d, want %d", tc.op, got, tc.want)
		}
		if m.Count(tc.op) != 1 {
			t.Errorf("%v count %d, want 1", tc.op, m.Count(tc.op))
		}
	}
	if m.Total() != 280 {
		t.Errorf("total %d, want 280", m.Total())
	}
	m.Charge(NumOps) // ignored
	if m.Total() != 280 || m.Count(NumOps) != 0 {
		t.Error("unknown op was charged")
	}
	m.Reset()
	if m.Total() != 0 || m.Count(OpHash) != 0 {
		t.Error("reset left counts")
	}
}

func TestMeterAdd(t *testing.T) {
	a, b := NewMeter(Default()), NewMeter(Default())
	a.Charge(OpHash)
	b.Charge(OpMapWrite)
	b.Charge(OpMapWrite)
	a.Add(b)
	if a.Total() != 130 || a.Count(OpMapWrite) != 2 {
		t.Errorf("after Add total %d writes %d", a.Total(), a.Count(OpMapWrite))
	}
}

func TestNilMeter(t *testing.T) {
	var m *Meter
	m.Charge(OpHash)
	if m.Total() != 0 || m.Count(OpHash) != 0 {
		t.Error("nil meter counted")
	}
}

func TestDuration(t *testing.T) {
	m := Default()
	if d := m.Duration(90); d != 90*time.Nanosecond {
		t.Errorf("Duration(90) = %v", d)
	}
	m.NsPerSTU = 2.5
	if d := m.Duration(4); d != 10*time.Nanosecond {
		t.Errorf("Duration(4) at 2.5 = %v", d)
	}
	m.NsPerSTU = -1
	if m.Validate() == nil {
		t.Error("negative NsPerSTU accepted")
	}
}

func TestChargeNoAlloc(t *testing.T) {
	m := NewMeter(Default())
	if n := testing.AllocsPerRun(1000, func() { m.Charge(OpMapRead) }); n != 0 {
		t.Errorf("Charge allocates %v", n)
	}
}

func TestOpString(t *testing.T) {
	if OpEncap.String() != "encap" || OpArrayRead.String() != "array_read" || OpClock.String() != "clock" || Op(99).String() != "op(99)" {
		t.Error("op names")
	}
}

// TestSetCost checks SetCost and Cost agree on every operation and that
// an unknown one is ignored.
func TestSetCost(t *testing.T) {
	var m Model
	for op := Op(0); op < NumOps; op++ {
		m.SetCost(op, STU(op)+1)
	}
	m.SetCost(NumOps, 99)
	for op := Op(0); op < NumOps; op++ {
		if got := m.Cost(op); got != STU(op)+1 {
			t.Errorf("%v: %d, want %d", op, got, STU(op)+1)
		}
	}
	if m.Cost(NumOps) != 0 {
		t.Error("an unknown op has a price")
	}
	if m.ArrayRead != STU(OpArrayRead)+1 || m.Clock != STU(OpClock)+1 {
		t.Errorf("fields %+v", m)
	}
}

func BenchmarkCharge(b *testing.B) {
	m := NewMeter(Default())
	b.ReportAllocs()
	for b.Loop() {
		m.Charge(OpMapRead)
	}
}

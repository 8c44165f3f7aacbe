package sim

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/titanlb/titanlb/balancer"
	"github.com/titanlb/titanlb/cost"
	"github.com/titanlb/titanlb/frag"
	"github.com/titanlb/titanlb/internal/enum"
)

// Defaults for the zero fields of a [Scenario].
const (
	DefaultDuration = time.Second // Scenario.Duration
	DefaultFlows    = 1000        // Traffic.Flows
	DefaultRate     = 100_000     // Traffic.Rate, datagrams per second
	DefaultMTU      = 1500        // Traffic.MTU
	DefaultSize     = 512         // Traffic.Size (capped at the MTU)
	DefaultPort     = 443         // Traffic.Port
	DefaultCPUs     = 4           // Node.CPUs
	DefaultQueueLen = 1024        // Node.QueueLen
)

// Limits a [Scenario] must respect; [Scenario.Validate] names the field
// that does not.
const (
	MaxFlows    = 1 << 22 // Traffic.Flows and Traffic.Clients
	MaxCPUs     = 1024    // Node.CPUs
	MaxQueueLen = 1 << 20 // Node.QueueLen
	MaxBackends = 1 << 15 // len(Scenario.Backends), and the backends of Scenario.Services
	MaxServices = 64      // len(Scenario.Services)
	MinMTU      = 68      // RFC 791: every host must forward a 68-byte datagram
	MinMTU6     = 1280    // RFC 8200 §5: every IPv6 link carries 1280-byte packets
	// MaxExtHeaders is the most Traffic.ExtHeaders: one less than
	// balancer.MaxExtHeaders, so that a fragment's chain (its
	// Destination Options and a Fragment header) stays within the bound.
	MaxExtHeaders = balancer.MaxExtHeaders - 1
	minSize       = 40 // an IPv4 header and a TCP header
	minSize6      = 60 // an IPv6 header and a TCP header
	maxPorts      = 65535 - 1024
)

// DefaultVIP is the virtual IP the clients send to when Traffic.VIP is unset.
var DefaultVIP = netip.AddrFrom4([4]byte{192, 0, 2, 1})

// DefaultVIP6 is the virtual IP the IPv6 flows go to when Traffic.VIP6 is
// unset: 2001:db8::1.
var DefaultVIP6 = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})

// Scenario is a simulation's input: plain data, JSON-friendly; a run is a
// function of it ([Run]). The zero value of every field but Backends is
// valid and means the documented default, so a scenario with just Backends
// (and a Duration) runs.
type Scenario struct {
	// Seed seeds every random choice; the same scenario and seed give the
	// same Result, byte for byte.
	Seed int64
	// Duration is how long traffic is generated; 0 means DefaultDuration.
	// Packets still queued at the end are processed (the run drains).
	Duration Time
	// Backends is every backend the scenario knows, in its initial state:
	// the catch-all pool ([balancer.Balancer.SetBackends]) that serves
	// every VIP, port and protocol of each backend's family. Events change
	// their Up and Weight; none can be added later. Empty when Services
	// are set (their pools list the backends).
	Backends []balancer.Backend
	// Traffic describes the clients, flows and datagrams sent to the
	// catch-all pool. When Services are set it must be zero but for its
	// Trace: each service has its own traffic.
	Traffic Traffic
	// Services, when set, replace the catch-all: each is a
	// [balancer.Service] (key, pool, ring size) with its own traffic, and
	// the run hands the set to the balancer's
	// [balancer.ServiceSetter.SetServices] (a balancer without it is an
	// error). Result.Services reports each. At most MaxServices.
	Services []ServiceTraffic `json:",omitempty"`
	// Node is the load balancer machine.
	Node Node
	// Events are timed control-plane changes, applied in time order (ties:
	// in slice order).
	Events []Event
	// Cost prices the balancer's operations; the zero Model means
	// cost.Default().
	Cost cost.Model
	// Reassembly configures every backend's reassembler; zero fields take
	// the frag package's defaults, except MaxFragments: 0 means enough for
	// a Traffic.LargeSize datagram's fragments (at least
	// frag.DefaultMaxFragments), so that a small MTU does not make every
	// large datagram "too many fragments".
	Reassembly frag.ReassemblerOptions
	// Attacks is hostile traffic sent beside Traffic (see [Attack]);
	// empty: none.
	Attacks []Attack `json:",omitempty"`
	// Fleet runs the scenario on several LB nodes behind an ECMP router
	// (see [Fleet]); the zero Fleet is the single Node.
	Fleet Fleet `json:",omitzero"`
}

// Traffic describes what the clients send. Every field's zero value is
// valid; see each for its default.
type Traffic struct {
	// Flows is the number of flows (client address and port toward the
	// VIP), alive for the whole run; 0 means DefaultFlows.
	Flows int
	// Clients is the number of client hosts the flows come from: flow i
	// comes from host i mod Clients. 0 means one host per flow.
	Clients int
	// Rate is the datagrams sent per second of simulated time, a Poisson
	// process over all flows; 0 means DefaultRate.
	Rate float64
	// FlowChurn is the number of new flows per second of simulated time (a
	// Poisson process): each replaces a flow chosen uniformly, which keeps
	// its client host, protocol and popularity rank but takes the host's
	// next source port and starts over (a TCP flow with a SYN). 0: every
	// flow lives for the whole run.
	FlowChurn float64
	// Zipf is the popularity skew: 0 picks a flow uniformly for each
	// datagram; s > 0 picks flow k (from 0) with probability proportional
	// to 1/(k+1)^s.
	Zipf float64
	// UDPShare is the share of flows that are UDP (0..1); the others are TCP.
	UDPShare float64
	// FragmentRate is the share of datagrams (0..1) that are LargeSize
	// bytes, larger than the MTU, and so sent as fragments. A TCP flow's
	// opening SYN is never one of them.
	FragmentRate float64
	// Reorder is the share of fragmented datagrams (0..1) whose fragments
	// arrive shuffled (never in their original order) instead of in order.
	Reorder float64
	// MTU is the path MTU in bytes (the IP length of the largest packet:
	// IPv4 total length, IPv6 40 + payload length); 0 means DefaultMTU.
	// At least MinMTU, and MinMTU6 with IPv6 flows.
	MTU int
	// Size is the IP length of a datagram that is not fragmented; 0 means
	// DefaultSize, or the MTU if smaller. Between 40 (IPv6: 60 plus the
	// extension headers) and MTU.
	Size int
	// LargeSize is the IP length of a datagram that is fragmented; 0
	// means max(4000, 2·MTU) capped at 65535. Above the MTU, at most
	// 65535.
	LargeSize int
	// VIP is the destination of every IPv4 flow; the zero Addr means
	// DefaultVIP.
	VIP netip.Addr
	// Port is the destination port of every flow; 0 means DefaultPort.
	Port uint16
	// IPv6Share is the share of flows (0..1) that are IPv6: flow i from
	// the IPv6 address of the same client host (2001:db8:1::+c instead of
	// 10.1.0.0+c) toward VIP6. A balancer serves them with the
	// scenario's IPv6 backends (the catch-all of that family) and passes
	// them when it has none. An IPv6 datagram larger than the MTU is
	// fragmented as an IPv6 host does (docs/simulation.md, The model).
	IPv6Share float64 `json:",omitempty"`
	// VIP6 is the destination of every IPv6 flow; the zero Addr means
	// DefaultVIP6.
	VIP6 netip.Addr `json:",omitzero"`
	// ExtHeaders is the number of IPv6 Destination Options headers (8
	// bytes each) every IPv6 packet carries before its upper-layer
	// header, 0 to MaxExtHeaders; a fragment repeats them before its
	// Fragment header. Only with IPv6 flows.
	ExtHeaders int `json:",omitempty"`
	// FragmentGap is the time between the arrivals of consecutive
	// fragments of a datagram (in their arrival order): a client's link
	// serialises them, 1.2 ms per 1500-byte fragment at 10 Mbit/s. 0: all
	// fragments of a datagram arrive at the same instant. At most
	// MaxFragmentGap.
	FragmentGap Time `json:",omitempty"`
	// Trace, when it has packets, replaces the generator: its frames
	// arrive at the node at their times (those before Duration; Duration
	// 0 means the trace's span, all of it), and every other field of
	// Traffic is ignored. See [Trace] and docs/simulation.md (Traces).
	Trace Trace `json:",omitzero"`
}

// Node is the load-balancer machine: CPUs, each with its own RX queue fed
// by the NIC's RSS hash, and the balancer program run on each packet.
type Node struct {
	// CPUs is the number of CPUs (and RX queues); 0 means DefaultCPUs.
	CPUs int
	// QueueLen bounds each RX queue (packets waiting, not counting the one
	// being processed); 0 means DefaultQueueLen. A packet that finds its
	// queue full is dropped ("queue full").
	QueueLen int
}

// EventKind is what a control [Event] does.
type EventKind uint8

// The control events. The first three apply to a scenario's catch-all
// Backends or to its Services; the others to Services only.
const (
	EventBackendDown   EventKind = iota + 1 // health check fails: Up = false, in every service
	EventBackendUp                          // health check passes: Up = true, in every service
	EventSetWeight                          // Weight = Event.Weight (0 drains), in Event.Service or every service listing the backend
	EventAddService                         // Event.Service (declared Absent, or removed) is installed again
	EventRemoveService                      // Event.Service is removed: its traffic is passed
	EventAddBackend                         // Event.Backend joins Event.Service's pool with Event.Weight
	EventRemoveBackend                      // Event.Backend leaves Event.Service's pool
	numEventKinds
)

var eventNames = [...]string{"", "down", "up", "weight", "add-service", "remove-service", "add-backend", "remove-backend"}

// String returns "down", "up", "weight", "add-service",
// "remove-service", "add-backend" or "remove-backend".
func (k EventKind) String() string { return enum.String(eventNames[:], k, "event") }

// MarshalText encodes the kind as its String, so that scenarios read well
// in JSON.
func (k EventKind) MarshalText() ([]byte, error) {
	return enum.Marshal(eventNames[:], k, "sim: unknown event kind")
}

// UnmarshalText decodes a kind's String.
func (k *EventKind) UnmarshalText(b []byte) error {
	return enum.Unmarshal(eventNames[:], b, k, "sim: unknown event kind")
}

// Event is a timed control-plane change to one backend or one service.
// At the event's time the simulator updates its copy of the backends (or
// services) and hands the whole set to the balancer's SetBackends (or
// SetServices).
type Event struct {
	At      Time
	Kind    EventKind
	Backend balancer.BackendID
	Weight  uint32 // for EventSetWeight and EventAddBackend
	// Service is the service the event changes, with Scenario.Services:
	// required by the service and pool events, optional for
	// EventSetWeight (unset: every service listing the backend), unset
	// for health events (a backend is up or down everywhere).
	Service balancer.ServiceKey `json:",omitzero"`
}

// BackendDown returns the event that marks backend id down at time at.
func BackendDown(at Time, id balancer.BackendID) Event {
	return Event{At: at, Kind: EventBackendDown, Backend: id}
}

// BackendUp returns the event that marks backend id up at time at.
func BackendUp(at Time, id balancer.BackendID) Event {
	return Event{At: at, Kind: EventBackendUp, Backend: id}
}

// SetWeight returns the event that sets backend id's weight to w at time
// at; 0 drains it. With Scenario.Services it applies in every service
// listing the backend ([SetServiceWeight]: in one).
func SetWeight(at Time, id balancer.BackendID, w uint32) Event {
	return Event{At: at, Kind: EventSetWeight, Backend: id, Weight: w}
}

// SetServiceWeight returns the event that sets backend id's weight in
// service k to w at time at; 0 drains it there.
func SetServiceWeight(at Time, k balancer.ServiceKey, id balancer.BackendID, w uint32) Event {
	return Event{At: at, Kind: EventSetWeight, Backend: id, Weight: w, Service: k}
}

// AddService returns the event that installs service k (declared
// Absent, or removed earlier) at time at.
func AddService(at Time, k balancer.ServiceKey) Event {
	return Event{At: at, Kind: EventAddService, Service: k}
}

// RemoveService returns the event that removes service k at time at.
func RemoveService(at Time, k balancer.ServiceKey) Event {
	return Event{At: at, Kind: EventRemoveService, Service: k}
}

// AddToPool returns the event that adds backend id, with weight w, to
// service k's pool at time at. The backend must be one a pool of the
// scenario lists.
func AddToPool(at Time, k balancer.ServiceKey, id balancer.BackendID, w uint32) Event {
	return Event{At: at, Kind: EventAddBackend, Backend: id, Weight: w, Service: k}
}

// RemoveFromPool returns the event that takes backend id out of service
// k's pool at time at.
func RemoveFromPool(at Time, k balancer.ServiceKey, id balancer.BackendID) Event {
	return Event{At: at, Kind: EventRemoveBackend, Backend: id, Service: k}
}

// ErrInvalid is matched (errors.Is) by every [ScenarioError].
var ErrInvalid = errors.New("invalid scenario")

// ScenarioError is a [Scenario] field that [Scenario.Validate] rejects.
// Its message names the field, its value and the rule:
// "sim: scenario.traffic.mtu 20: must be at least 68".
type ScenarioError struct {
	Field string // e.g. "traffic.mtu", "events[2].backend"
	Value any    // the rejected value
	Rule  string // e.g. "must be at least 68"
	Err   error  // an underlying error, if any
}

// Error returns "sim: scenario.<field> <value>: <rule>".
func (e *ScenarioError) Error() string {
	return fmt.Sprintf("sim: scenario.%s %v: %s", e.Field, e.Value, e.Rule)
}

// Unwrap returns the underlying error, if any.
func (e *ScenarioError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrInvalid].
func (e *ScenarioError) Is(target error) bool { return target == ErrInvalid }

func bad(field string, v any, format string, args ...any) error {
	return &ScenarioError{Field: field, Value: v, Rule: fmt.Sprintf(format, args...)}
}

func badShare(field string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return bad(field, v, "must be between 0 and 1")
	}
	return nil
}

// Backends returns n equal backends, all up with weight 1: IDs 101, 102,
// ..., each named by its ID, each at the address 10.x.y.z whose last three
// bytes are its ID (10.0.0.101, 10.0.0.102, ...; ID 256 is 10.0.1.0). It is
// the backend set the examples use and a ready start for
// [Scenario.Backends]; n < 1 gives none.
func Backends(n int) []balancer.Backend {
	if n < 1 {
		return nil
	}
	bs := make([]balancer.Backend, n)
	for i := range bs {
		id := balancer.BackendID(101 + i)
		bs[i] = balancer.Backend{
			ID: id, Name: id.String(), Weight: 1, Up: true,
			Addr: netip.AddrFrom4([4]byte{10, byte(id >> 16), byte(id >> 8), byte(id)}),
		}
	}
	return bs
}

// Backends6 returns n equal IPv6 backends, all up with weight 1: IDs 601,
// 602, ..., each named by its ID, each at 2001:db8:b:: + its ID
// (2001:db8:b::259 for ID 601). Their IDs and names are not those of
// [Backends](n) for n up to 500, so the two sets join into one catch-all
// serving both families; n < 1 gives none.
func Backends6(n int) []balancer.Backend {
	if n < 1 {
		return nil
	}
	bs := make([]balancer.Backend, n)
	for i := range bs {
		id := balancer.BackendID(601 + i)
		a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0b}
		a[12], a[13], a[14], a[15] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		bs[i] = balancer.Backend{ID: id, Name: id.String(), Weight: 1, Up: true, Addr: netip.AddrFrom16(a)}
	}
	return bs
}

// Validate checks sc and returns a [*ScenarioError] naming the first bad
// field, or nil. [Run] calls it.
func (sc Scenario) Validate() error {
	if sc.Duration < 0 || sc.Duration > maxTime {
		return bad("duration", sc.Duration, "must be between 0 and %v", Time(maxTime))
	}
	if len(sc.Backends) > MaxBackends {
		return bad("backends", len(sc.Backends), "at most %d backends", MaxBackends)
	}
	if sc.servicesMode() {
		if err := sc.validateServices(); err != nil {
			return err
		}
		if err := sc.Traffic.Trace.validate(); err != nil {
			return err
		}
	} else {
		if err := balancer.ValidateBackends(sc.Backends); err != nil {
			return &ScenarioError{Field: "backends", Value: len(sc.Backends), Rule: err.Error(), Err: err}
		}
		if err := sc.Traffic.validate("traffic", false); err != nil {
			return err
		}
	}
	n := sc.Node
	if n.CPUs < 0 || n.CPUs > MaxCPUs {
		return bad("node.cpus", n.CPUs, "must be between 1 and %d (0: %d)", MaxCPUs, DefaultCPUs)
	}
	if n.QueueLen < 0 || n.QueueLen > MaxQueueLen {
		return bad("node.queueLen", n.QueueLen, "must be between 1 and %d (0: %d)", MaxQueueLen, DefaultQueueLen)
	}
	dur := sc.duration()
	if err := sc.validateEvents(dur); err != nil {
		return err
	}
	if err := sc.Fleet.validate(dur, n.cpus()); err != nil {
		return err
	}
	if len(sc.Attacks) > MaxAttacks {
		return bad("attacks", len(sc.Attacks), "at most %d attacks", MaxAttacks)
	}
	if _, _, ok := sc.attackTarget(); len(sc.Attacks) > 0 && !ok {
		return bad("attacks", len(sc.Attacks), "need an IPv4 service to attack: attacks are IPv4")
	}
	for i := range sc.Attacks {
		if err := sc.Attacks[i].validate(i, dur); err != nil {
			return err
		}
	}
	if err := sc.Cost.Validate(); err != nil {
		return &ScenarioError{Field: "cost.nsPerSTU", Value: sc.Cost.NsPerSTU, Rule: "must be a non-negative number", Err: err}
	}
	if _, err := frag.NewReassembler(sc.Reassembly); err != nil {
		return &ScenarioError{Field: "reassembly", Value: fmt.Sprintf("%+v", sc.Reassembly), Rule: err.Error(), Err: err}
	}
	return nil
}

// validate checks a traffic whose fields are named prefix.field
// ("traffic.mtu", "services[1].traffic.mtu"); v6 says that every flow is
// IPv6 (a service of an IPv6 VIP).
func (t *Traffic) validate(prefix string, v6 bool) error {
	f := func(field string) string { return prefix + "." + field }
	if t.Flows < 0 || t.Flows > MaxFlows {
		return bad(f("flows"), t.Flows, "must be between 1 and %d (0: %d)", MaxFlows, DefaultFlows)
	}
	flows := t.flows()
	if t.Clients < 0 || t.Clients > flows {
		return bad(f("clients"), t.Clients, "must be between 1 and flows %d (0: one per flow)", flows)
	}
	if c := t.clients(); (flows+c-1)/c > maxPorts {
		return bad(f("clients"), t.Clients, "too few for %d flows: at most %d flows per client", flows, maxPorts)
	}
	if math.IsNaN(t.Rate) || math.IsInf(t.Rate, 0) || t.Rate < 0 {
		return bad(f("rate"), t.Rate, "must be a finite number of datagrams per second, at least 0")
	}
	if math.IsNaN(t.FlowChurn) || math.IsInf(t.FlowChurn, 0) || t.FlowChurn < 0 {
		return bad(f("flowChurn"), t.FlowChurn, "must be a finite number of flows per second, at least 0")
	}
	if math.IsNaN(t.Zipf) || math.IsInf(t.Zipf, 0) || t.Zipf < 0 {
		return bad(f("zipf"), t.Zipf, "must be 0 (uniform) or a positive exponent")
	}
	if err := badShare(f("udpShare"), t.UDPShare); err != nil {
		return err
	}
	if err := badShare(f("fragmentRate"), t.FragmentRate); err != nil {
		return err
	}
	if err := badShare(f("reorder"), t.Reorder); err != nil {
		return err
	}
	if err := badShare(f("ipv6Share"), t.IPv6Share); err != nil {
		return err
	}
	v4 := !v6 && t.IPv6Share < 1
	v6 = v6 || t.IPv6Share > 0
	if t.MTU != 0 && (t.MTU < MinMTU || t.MTU > 65535) {
		if t.MTU < MinMTU {
			return bad(f("mtu"), t.MTU, "must be at least %d", MinMTU)
		}
		return bad(f("mtu"), t.MTU, "must be at most 65535")
	}
	mtu := t.mtu()
	if v6 && mtu < MinMTU6 {
		return bad(f("mtu"), mtu, "must be at least %d for IPv6 flows (RFC 8200 §5)", MinMTU6)
	}
	if t.ExtHeaders < 0 || t.ExtHeaders > MaxExtHeaders {
		return bad(f("extHeaders"), t.ExtHeaders, "must be between 0 and %d (balancer.MaxExtHeaders − 1: the Fragment header needs a place in the chain)", MaxExtHeaders)
	}
	if t.ExtHeaders > 0 && !v6 {
		return bad(f("extHeaders"), t.ExtHeaders, "applies to IPv6 flows only (traffic.ipv6Share, or a service of an IPv6 VIP)")
	}
	least := minSize
	if v6 {
		least = minSize6 + balancer.ExtHeaderLen*t.ExtHeaders
		if v4 {
			least = max(least, minSize)
		}
	}
	if t.Size != 0 && (t.Size < least || t.Size > mtu) {
		return bad(f("size"), t.Size, "must be between %d and the MTU %d", least, mtu)
	}
	if t.LargeSize != 0 && (t.LargeSize > 65535 || t.LargeSize < least) {
		return bad(f("largeSize"), t.LargeSize, "must be between the MTU+1 and 65535")
	}
	if t.FragmentRate > 0 && t.largeSize() <= mtu {
		return bad(f("largeSize"), t.largeSize(), "must exceed the MTU %d when %s > 0", mtu, f("fragmentRate"))
	}
	if t.FragmentGap < 0 || t.FragmentGap > MaxFragmentGap {
		return bad(f("fragmentGap"), t.FragmentGap, "must be between 0 and %v", MaxFragmentGap)
	}
	if t.VIP.IsValid() && !t.VIP.Is4() {
		return bad(f("vip"), t.VIP, "must be an IPv4 address (IPv6 flows go to vip6)")
	}
	if t.VIP6.IsValid() && (!t.VIP6.Is6() || t.VIP6.Is4In6() || t.VIP6.IsUnspecified() || t.VIP6.IsMulticast() || t.VIP6.Zone() != "") {
		return bad(f("vip6"), t.VIP6, "must be a unicast IPv6 address without zone")
	}
	if err := t.Trace.validate(); err != nil {
		return err
	}
	return nil
}

func (sc Scenario) duration() Time {
	if sc.Duration == 0 {
		if d := sc.Traffic.Trace.span(); d > 0 {
			return d
		}
		return DefaultDuration
	}
	return sc.Duration
}

// reassembly returns the backends' reassembler options after the
// simulator's default for MaxFragments.
func (sc Scenario) reassembly() frag.ReassemblerOptions {
	o := sc.Reassembly
	if o.MaxFragments == 0 {
		o.MaxFragments = frag.DefaultMaxFragments
		if !sc.servicesMode() {
			t := &sc.Traffic
			o.MaxFragments = max(o.MaxFragments, t.largest(t.IPv6Share < 1, t.IPv6Share > 0))
		}
		for i := range sc.Services {
			t := &sc.Services[i].Traffic
			v6 := sc.Services[i].Key.VIP.Is6()
			o.MaxFragments = max(o.MaxFragments, t.largest(!v6, v6))
		}
	}
	return o
}

// largest returns the fragments of t's largest datagram, over the
// families asked for.
func (t *Traffic) largest(v4, v6 bool) int {
	n := 0
	if v4 {
		per := (t.mtu() - balancer.IPv4Len) / 8 * 8
		n = (t.largeSize() - balancer.IPv4Len + per - 1) / per
	}
	if v6 {
		unfrag := balancer.IPv6Len + balancer.ExtHeaderLen*t.ExtHeaders
		per := (t.mtu() - unfrag - balancer.ExtHeaderLen) / 8 * 8
		n = max(n, (t.largeSize()-unfrag+per-1)/per)
	}
	return n
}

func (sc Scenario) costModel() cost.Model {
	if sc.Cost == (cost.Model{}) {
		return cost.Default()
	}
	return sc.Cost
}

func (n Node) cpus() int     { return orDefault(n.CPUs, DefaultCPUs) }
func (n Node) queueLen() int { return orDefault(n.QueueLen, DefaultQueueLen) }

func (t *Traffic) flows() int   { return orDefault(t.Flows, DefaultFlows) }
func (t *Traffic) clients() int { return orDefault(t.Clients, t.flows()) }
func (t *Traffic) mtu() int     { return orDefault(t.MTU, DefaultMTU) }
func (t *Traffic) port() uint16 { return uint16(orDefault(int(t.Port), DefaultPort)) }

func (t *Traffic) rate() float64 {
	if t.Rate == 0 {
		return DefaultRate
	}
	return t.Rate
}

func (t *Traffic) size() int {
	if t.Size == 0 {
		return min(DefaultSize, t.mtu())
	}
	return t.Size
}

func (t *Traffic) largeSize() int {
	if t.LargeSize == 0 {
		return min(max(4000, 2*t.mtu()), 65535)
	}
	return t.LargeSize
}

func (t *Traffic) vip() netip.Addr {
	if !t.VIP.IsValid() {
		return DefaultVIP
	}
	return t.VIP
}

func (t *Traffic) vip6() netip.Addr {
	if !t.VIP6.IsValid() {
		return DefaultVIP6
	}
	return t.VIP6
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pinger runs one ping per ordered pair of nodes for the whole of a test
// and reports, per step of the test (marked as it goes), how many echo
// requests were sent and how many never got an answer. ping runs with -D
// (a timestamp on every line) and -O (a line for every request left
// unanswered when the next one goes out), so each request's fate and time
// can be read back from its output alone.
type pinger struct {
	mu    sync.Mutex
	runs  []*pingRun
	marks []stepMark
}

type pingRun struct {
	pair     string
	from, to netip.Addr
	cmd      *exec.Cmd
	out      bytes.Buffer
}

type stepMark struct {
	name string
	at   time.Time
}

func (p *pinger) start(t *testing.T, from *cnode, to netip.Addr) {
	r := &pingRun{pair: from.name + "->" + to.String(), from: from.addr, to: to}
	r.cmd = from.ns.Command("ping", "-D", "-O", "-i", "0.2", to.String())
	r.cmd.Stdout = &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.runs = append(p.runs, r)
	p.mu.Unlock()
}

// mark starts a step of the test: the requests timed after it count for it.
func (p *pinger) mark(step string) {
	p.mu.Lock()
	p.marks = append(p.marks, stepMark{step, time.Now()})
	p.mu.Unlock()
}

// stop ends every ping (SIGINT, so that it flushes what it printed) and
// keeps their outputs for the report.
func (p *pinger) stop() { p.stopIf(func(*pingRun) bool { return true }) }

// stopInvolving ends the pings from and to n (a node leaving the cluster).
func (p *pinger) stopInvolving(n *cnode) {
	p.stopIf(func(r *pingRun) bool { return r.from == n.addr || r.to == n.addr })
}

func (p *pinger) stopIf(which func(*pingRun) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.runs {
		if r.cmd.ProcessState != nil || !which(r) {
			continue
		}
		r.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			r.cmd.Process.Kill()
			<-done
		}
	}
}

// pingFate is one echo request: when ping reported on it, and whether an
// answer ever came (a late one included).
type pingFate struct {
	at       time.Time
	answered bool
}

var pingLine = regexp.MustCompile(`^\[(\d+)\.(\d+)\] (.*)icmp_seq=(\d+)`)

// parsePing reads ping -D -O output into each request's fate, by
// sequence number. A request ping never reported on (the one in flight
// when it stopped) is absent.
func parsePing(out []byte) map[int]pingFate {
	fates := map[int]pingFate{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := pingLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		frac := m[2]
		for len(frac) < 9 {
			frac += "0"
		}
		nsec, _ := strconv.ParseInt(frac[:9], 10, 64)
		seq, _ := strconv.Atoi(m[4])
		f, seen := fates[seq]
		if !seen {
			f.at = time.Unix(sec, nsec)
		}
		if strings.Contains(m[3], " bytes from ") {
			f.answered = true
		}
		fates[seq] = f
	}
	return fates
}

// stepLoss is one step's tally over every pair.
type stepLoss struct {
	step        string
	took        time.Duration
	sent, lost  int
	worst       string // the pair that lost most, with its count
	pairsLosing int
}

// losses tallies every pair's requests by step.
func (p *pinger) losses() []stepLoss {
	p.mu.Lock()
	defer p.mu.Unlock()
	marks := slices.Clone(p.marks)
	if len(marks) == 0 {
		return nil
	}
	out := make([]stepLoss, len(marks))
	for i, m := range marks {
		out[i].step = m.name
		if i+1 < len(marks) {
			out[i].took = marks[i+1].at.Sub(m.at)
		}
	}
	worst := make([]int, len(marks))
	for _, r := range p.runs {
		per := make([]int, len(marks))
		for _, f := range parsePing(r.out.Bytes()) {
			i := -1
			for j, m := range marks {
				if !f.at.Before(m.at) {
					i = j
				}
			}
			if i < 0 {
				continue // before the first step
			}
			out[i].sent++
			if !f.answered {
				out[i].lost++
				per[i]++
			}
		}
		for i, n := range per {
			if n > 0 {
				out[i].pairsLosing++
			}
			if n > worst[i] {
				worst[i] = n
				out[i].worst = fmt.Sprintf("%s (%d)", r.pair, n)
			}
		}
	}
	return out
}

// report logs the per-step packet loss table.
func (p *pinger) report(t *testing.T) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "packet loss per step (ping every 0.2 s on every ordered pair):\n")
	fmt.Fprintf(&b, "  %-52s %8s %7s %6s %7s  %s\n", "step", "took", "sent", "lost", "loss", "pairs losing, worst")
	for _, s := range p.losses() {
		pct := 0.0
		if s.sent > 0 {
			pct = 100 * float64(s.lost) / float64(s.sent)
		}
		took := "-"
		if s.took > 0 {
			took = s.took.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "  %-52s %8s %7d %6d %6.2f%%  %d %s\n", s.step, took, s.sent, s.lost, pct, s.pairsLosing, s.worst)
	}
	t.Log(b.String())
}

// TestParsePing: ping -D -O's lines, answered, unanswered and answered
// late, are read back per request.
func TestParsePing(t *testing.T) {
	out := []byte(`PING 10.9.0.2 (10.9.0.2) 56(84) bytes of data.
[1764770000.100000] 64 bytes from 10.9.0.2: icmp_seq=1 ttl=64 time=0.321 ms
[1764770000.300000] no answer yet for icmp_seq=2
[1764770000.500000] no answer yet for icmp_seq=3
[1764770000.600000] 64 bytes from 10.9.0.2: icmp_seq=3 ttl=64 time=310 ms
[1764770000.700000] From 10.9.0.1 icmp_seq=4 Destination Host Unreachable
[1764770000.9] 64 bytes from 10.9.0.2: icmp_seq=5 ttl=64 time=0.4 ms

--- 10.9.0.2 ping statistics ---
5 packets transmitted, 3 received, 40% packet loss, time 800ms
`)
	got := parsePing(out)
	want := map[int]bool{1: true, 2: false, 3: true, 4: false, 5: true}
	if len(got) != len(want) {
		t.Fatalf("%d requests read, want %d: %v", len(got), len(want), got)
	}
	for seq, ans := range want {
		if got[seq].answered != ans {
			t.Errorf("icmp_seq=%d: answered %v, want %v", seq, got[seq].answered, ans)
		}
	}
	if at := got[3].at; !at.Equal(time.Unix(1764770000, 500000000)) {
		t.Errorf("icmp_seq=3 timed at %v, want its first report", at)
	}
	if at := got[5].at; !at.Equal(time.Unix(1764770000, 900000000)) {
		t.Errorf("icmp_seq=5 timed at %v (short fraction)", at)
	}

	p := &pinger{runs: []*pingRun{{pair: "a->b"}}, marks: []stepMark{
		{"clear", time.Unix(1764770000, 0)},
		{"enable", time.Unix(1764770000, 400000000)},
	}}
	p.runs[0].out.Write(out)
	l := p.losses()
	if l[0].sent != 2 || l[0].lost != 1 || l[1].sent != 3 || l[1].lost != 1 || l[1].worst != "a->b (1)" {
		t.Fatalf("losses %+v", l)
	}
}

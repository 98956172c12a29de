//go:build cluster

package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netns is a network namespace for one replica, joined to the host by two
// veth pairs: one that carries its HTTP traffic (nginx to the replica) and
// one that carries its traffic to PostgreSQL and Redis. Taking the second
// link down partitions the replica from the database while it keeps
// serving: packets are dropped, not refused, as in a real partition.
type netns struct {
	name             string
	httpHost, httpNS string // addresses on the HTTP link
	dbHost, dbNS     string // addresses on the database link
	dbLink           string // the host end of the database link
}

// newNetns makes the namespace, or skips (fails in CI) when the test
// cannot: it needs root and the ip command.
func newNetns(t *testing.T) *netns {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "no ip command (iproute2)"
	}
	if why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("the partition scenario needs network namespaces: %s", why)
		}
		t.Logf("PARTITION scenario skipped: %s", why)
		return nil
	}
	id := os.Getpid() % 100000
	octet := 100 + id%100
	n := &netns{
		name:     fmt.Sprintf("irisknn-%d", id),
		httpHost: fmt.Sprintf("10.%d.1.1", octet), httpNS: fmt.Sprintf("10.%d.1.2", octet),
		dbHost: fmt.Sprintf("10.%d.2.1", octet), dbNS: fmt.Sprintf("10.%d.2.2", octet),
		dbLink: fmt.Sprintf("ik%dd0", id),
	}
	httpLink := fmt.Sprintf("ik%dh0", id)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", n.name).Run() // a leftover of a killed run
	ip("netns", "add", n.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	for _, l := range []struct{ host, peer, hostAddr, nsAddr string }{
		{httpLink, httpLink[:len(httpLink)-1] + "1", n.httpHost, n.httpNS},
		{n.dbLink, n.dbLink[:len(n.dbLink)-1] + "1", n.dbHost, n.dbNS},
	} {
		ip("link", "add", l.host, "type", "veth", "peer", "name", l.peer)
		ip("link", "set", l.peer, "netns", n.name)
		ip("addr", "add", l.hostAddr+"/30", "dev", l.host)
		ip("link", "set", l.host, "up")
		ip("netns", "exec", n.name, "ip", "addr", "add", l.nsAddr+"/30", "dev", l.peer)
		ip("netns", "exec", n.name, "ip", "link", "set", l.peer, "up")
	}
	ip("netns", "exec", n.name, "ip", "link", "set", "lo", "up")
	return n
}

// cidr is the database link's network, for pg_hba.
func (n *netns) cidr() string { return strings.TrimSuffix(n.dbHost, ".1") + ".0/30" }

// command returns name and args run inside the namespace.
func (n *netns) command(name string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", n.name, name}, args...)
}

// partition cuts the replica off from PostgreSQL and Redis; heal joins it
// again.
func (n *netns) partition(t *testing.T) { n.link(t, "down") }
func (n *netns) heal(t *testing.T)      { n.link(t, "up") }

func (n *netns) link(t *testing.T, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", n.dbLink, state).CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s %s: %v: %s", n.dbLink, state, err, out)
	}
}

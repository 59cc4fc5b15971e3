package redisserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Cluster is a running Redis Cluster of throwaway masters, no replicas.
type Cluster struct {
	// URL names every master the way go-redis's ParseClusterURL reads it:
	// redis://ADDR0?addr=ADDR1&addr=ADDR2.
	URL     string
	Servers []*Server
}

// NewCluster starts n masters in cluster mode, gives each an equal range
// of the 16384 slots, introduces them to each other (CLUSTER MEET) and
// waits until every one says cluster_state:ok. The caller must call Stop.
func NewCluster(n int) (*Cluster, error) {
	c := &Cluster{}
	for range n {
		s, err := NewServer("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		if err != nil {
			return nil, errors.Join(err, c.Stop())
		}
		c.Servers = append(c.Servers, s)
	}
	var addrs []string
	for i, s := range c.Servers {
		lo, hi := 16384*i/n, 16384*(i+1)/n-1
		if _, err := command(s.Addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
		if i > 0 {
			if _, err := command(s.Addr, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.Servers[0].port)); err != nil {
				return nil, errors.Join(err, c.Stop())
			}
			addrs = append(addrs, "addr="+s.Addr)
		}
	}
	c.URL = "redis://" + c.Servers[0].Addr + "?" + strings.Join(addrs, "&")
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range c.Servers {
		for {
			info, err := command(s.Addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") {
				break
			}
			if time.Now().After(deadline) {
				return nil, errors.Join(fmt.Errorf("redisserver: the cluster is not ok after 30 s: %v %q", err, info), c.Stop())
			}
			time.Sleep(20 * time.Millisecond) // polls the cluster's state
		}
	}
	return c, nil
}

// Stop stops every master.
func (c *Cluster) Stop() error {
	var errs []error
	for _, s := range c.Servers {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// command sends one command in RESP and returns a simple or bulk string
// reply, or the server's error.
func command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	switch line[0] {
	case '+':
		return strings.TrimRight(line[1:], "\r\n"), nil
	case '-':
		return "", fmt.Errorf("redisserver: %s: %s", strings.Join(args, " "), strings.TrimRight(line[1:], "\r\n"))
	case '$':
		n, err := strconv.Atoi(strings.TrimRight(line[1:], "\r\n"))
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(r, buf)
		return string(buf[:n]), err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

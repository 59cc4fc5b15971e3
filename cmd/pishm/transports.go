package main

import (
	"github.com/pishm/pishm/transport"
	// The transports that engine does not link itself: -mode unix, tcp
	// and redis need them.
	_ "github.com/pishm/pishm/transport/netsock"
	_ "github.com/pishm/pishm/transport/redis"
)

// defaultRedisURL is the -redis default.
const defaultRedisURL = transport.DefaultRedisURL

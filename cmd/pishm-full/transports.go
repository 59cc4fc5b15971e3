package main

import (
	// The transports that engine does not link itself: -mode unix, tcp
	// and redis need them, and pishm runs pishm-full for those.
	_ "github.com/pishm/pishm/transport/netsock"
	_ "github.com/pishm/pishm/transport/redis"
)

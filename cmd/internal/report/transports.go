package report

import (
	// The report compares every mode, unix, tcp and redis included, which
	// engine does not link itself.
	_ "github.com/pishm/pishm/transport/netsock"
	_ "github.com/pishm/pishm/transport/redis"
)

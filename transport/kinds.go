package transport

// The kinds of this package; transport/netsock and transport/redis
// register the others.
func init() {
	Register("file", Kind{New: newFileBackend, Send: sendFile, Stream: true})
	Register("pipe", Kind{New: newPipeBackend, Send: sendPipe, Stream: true})
	Register("fifo", Kind{New: newFIFOBackend, Send: sendFIFO})
	Register("socketpair", Kind{New: newSocketpairBackend, Send: sendSocketpair, Stream: true})
	Register("posixmq", Kind{New: newPosixMQBackend, Send: sendPosixMQ})
	Register("sysvmq", Kind{New: newSysVMQBackend, Send: sendSysVMQ})
}

package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// What the queue defends against, and how:
//
//   - Anything that reaches redis can push a well-formed record into a
//     job's results list. A record counts only if it answers a lease the
//     job's own scripts issued for that chunk to that worker (K_issued,
//     checked by ackScript and again by the coordinator): a record pushed
//     by hand, one of another job, or one naming a lease or worker it does
//     not hold is rejected and reported.
//   - A party with redis access can read and write every key, leases
//     included. Against it, the job key: a secret given to the
//     coordinator and its workers out of band (a file, or PISHM_QUEUE_KEY),
//     never stored in redis. With it every record carries an HMAC-SHA256
//     over (protocol, job, chunk, lease, worker, exact state), and the
//     coordinator refuses a record without a valid one; a worker without
//     the key, or with another, refuses the job. Worker names are then
//     those of key holders, so Job.Redundancy counts distinct workers that
//     hold the key.
//   - Redundancy (k workers per chunk, accepted when their exact states
//     agree) defends against faulty machines and code that changed; a
//     Func's closed form, when it has one, checks every chunk.
//
// Not defended: a holder of the key who lies (it can sign any state under
// any name: use redundancy across machines you trust apart), the
// transport (use rediss:// and redis ACLs), and the job's availability
// (anything with redis access can delete its keys).

// KeyEnv is the environment variable the command reads the job key from,
// when no key file is given.
const KeyEnv = "PISHM_QUEUE_KEY"

// ReadKey reads a job key: the file's contents (trailing newlines cut) if
// path is set, else KeyEnv's value; nil when neither is. A key shorter
// than 16 bytes is refused.
func ReadKey(path string) ([]byte, error) {
	var key string
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, errorf("key file: %w", err)
		}
		key = strings.TrimRight(string(b), "\r\n")
	} else if key = os.Getenv(KeyEnv); key == "" {
		return nil, nil
	}
	if len(key) < 16 {
		return nil, errorf("the job key has %d bytes: at least 16, please (e.g. head -c 32 /dev/urandom | base64)", len(key))
	}
	return []byte(key), nil
}

// keyID names a key without revealing it: a job records it (Job.KeyID),
// so that a worker with another key, or none, refuses the job at once.
func keyID(key []byte) string {
	if key == nil {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pishm-queue key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// mac is a record's authentication code under key.
func mac(key []byte, r record) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "pishm-queue\n%d\n%s\n%d\n%s\n%s\n", r.Protocol, r.Job, r.Chunk, r.Lease, r.Worker)
	m.Write(r.Partial)
	return hex.EncodeToString(m.Sum(nil))
}

// authentic reports whether r carries key's code for it.
func authentic(key []byte, r record) bool {
	want, err := hex.DecodeString(mac(key, r))
	got, err2 := hex.DecodeString(r.MAC)
	return err == nil && err2 == nil && hmac.Equal(got, want)
}

// issuedTo is what K_issued says of the lease a record answers.
func issuedTo(r record) string { return strconv.FormatInt(r.Chunk, 10) + " " + r.Worker }

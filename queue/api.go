package queue

import (
	"context"
	"errors"

	"github.com/pishm/pishm/engine"
	"github.com/redis/go-redis/v9"
)

// The library's entry points for a program that registers its own Funcs
// (engine.Register) and spreads them over hosts:
// the same binary submits jobs (Submit, Wait) and serves them (Serve),
// so that every host runs the same Funcs.

// Submission is a job queued by Submit, whose coordinator runs on a
// goroutine of this process.
type Submission struct {
	// Job is the job as it runs: defaults filled in, or the settings found
	// in redis on a resume.
	Job Job

	done chan struct{}
	res  Result
	err  error
}

// Submit queues j (a registered Func over [0, N): set Func, N and, if it reads them,
// its Params; the rest has defaults) on the redis-server client
// talks to, and returns once its chunks are queued and workers can find
// it. The coordinator keeps running on a goroutine, gathering and checking
// results, until the job ends or ctx is done (which ends the job); Wait
// returns its outcome. The same job submitted again, by this program or
// after a crash, resumes what is in redis (see Coordinate); once it ended
// done, Wait returns the outcome it recorded (Result.Replayed), and after
// a failure Submit returns that failure: a job runs once.
func Submit(ctx context.Context, client redis.UniversalClient, j Job, o CoordinateOptions) (*Submission, error) {
	s := &Submission{Job: j, done: make(chan struct{})}
	started := make(chan struct{})
	user := o.Started
	o.Started = func(j Job, resumed int) {
		s.Job = j
		if user != nil {
			user(j, resumed)
		}
		close(started)
	}
	go func() {
		defer close(s.done)
		s.res, s.err = Coordinate(ctx, client, j, o)
	}()
	select {
	case <-started:
		return s, nil
	case <-s.done:
		if s.err == nil && s.res.Replayed {
			s.Job = s.res.Job
			return s, nil // it had ended: Wait returns the recorded outcome
		}
		if s.err == nil {
			s.err = errors.New("queue: the coordinator ended before it queued the job")
		}
		return nil, s.err
	}
}

// Wait waits for the job's end and returns its value as engine.Reduce
// would on one machine: the Func's exact reduction over [0, N), rounded
// once, bit for bit. If ctx ends first, Wait returns its cause and the job
// goes on: Submit's context ends it, and a program that cancels that one
// and wants the job's keys gone before it exits waits with a context that
// does not end (context.WithoutCancel). Result has the job's full report.
func (s *Submission) Wait(ctx context.Context) (engine.Result, error) {
	select {
	case <-s.done:
		return s.res.Reduction, s.err
	case <-ctx.Done():
		return engine.Result{}, context.Cause(ctx)
	}
}

// Result is the job's report (chunks, duplicates, outvoted workers, ...)
// once Wait has returned; before, it is the zero Result.
func (s *Submission) Result() Result {
	select {
	case <-s.done:
		return s.res
	default:
		return Result{}
	}
}

// Serve makes this program a worker until ctx ends: it serves any job
// whose coordinator is alive, one after another, computing the chunks of
// the Funcs this program registered. A job of a Func it lacks, or from
// another build of the program, it refuses with a dead letter that names
// it and the reason, and takes no lease on it. o.Serve is implied, and so
// is o.Wait 0 (wait for ever).
func Serve(ctx context.Context, client redis.UniversalClient, o WorkerOptions) (WorkerStats, error) {
	o.Serve, o.Wait = true, 0
	st, err := Work(ctx, client, o)
	if ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
		err = nil // asked to stop: no failure
	}
	return st, err
}
